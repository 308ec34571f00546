"""PennyLane's ``qdl.qubit`` against ``default.qubit`` and ``lightning.qubit``, in one run.

    python -m benchmarks.pennylane_device --n 4 8          # L=8 layers, batch 16

Two workloads, timed interleaved (median of repeats after warm-up, 2 threads):

* W: ``ry`` encoding of a batch ``x`` (PennyLane parameter broadcasting), ``L`` layers of
  ``ry, rz`` and a CNOT ring, ``<Z_i>``; forward then backward of ``outputs.sum()``.
* TorchLayer: one training step (``Linear -> qml.qnn.TorchLayer(W) -> Linear``, MSE, SGD).

Ratios are other / ``qdl.qubit`` (backprop): above 1 means ``qdl.qubit`` is faster. QDL
called directly (``qdl.expval``) shows what the PennyLane layer costs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import pennylane as qml  # noqa: E402
import torch  # noqa: E402
from timing import measure, medians  # noqa: E402
from workload_w import w_circuit  # noqa: E402

import qdl  # noqa: E402

CONTENDERS = [("qdl.qubit", "backprop"), ("qdl.qubit", "adjoint"),
              ("default.qubit", "backprop"), ("lightning.qubit", "adjoint")]


def w_qnode(n: int, L: int, device: str, method: str) -> Callable:
    """Workload W as a QNode ``f(x (B, n), w (L, n, 2)) -> (n, B)``."""
    dev = qml.device(device, wires=n)

    @qml.qnode(dev, diff_method=method, interface="torch")
    def f(x: torch.Tensor, w: torch.Tensor) -> list:
        for i in range(n):
            qml.RY(x[..., i], i)
        for layer in range(L):
            for i in range(n):
                qml.RY(w[layer, i, 0], i)
                qml.RZ(w[layer, i, 1], i)
            for i in range(n):
                qml.CNOT([i, (i + 1) % n])
        return [qml.expval(qml.Z(i)) for i in range(n)]

    return f


def w_step(n: int, L: int, B: int, device: str, method: str) -> Callable[[], None]:
    """One forward + backward of workload W on a PennyLane device."""
    f = w_qnode(n, L, device, method)
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.uniform(0, np.pi, (B, n)), requires_grad=True)
    w = torch.tensor(rng.uniform(-np.pi, np.pi, (L, n, 2)), requires_grad=True)

    def step() -> None:
        torch.stack(f(x, w)).sum().backward()

    return step


def qdl_step(n: int, L: int, B: int) -> Callable[[], None]:
    """The same step with QDL called directly (complex128, adjoint)."""
    circuit = w_circuit(n, L)
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.uniform(0, np.pi, (B, n)), requires_grad=True)
    w = torch.tensor(rng.uniform(-np.pi, np.pi, (L, n, 2)), requires_grad=True)
    obs = [f"Z{i}" for i in range(n)]

    def step() -> None:
        params = {f"x{i}": x[:, i] for i in range(n)}
        params |= {f"w{a}_{i}_{k}": w[a, i, k] for a in range(L) for i in range(n)
                   for k in range(2)}
        qdl.expval(circuit, obs, params, dtype=torch.complex128).sum().backward()

    return step


def layer_step(n: int, L: int, B: int, device: str, method: str) -> Callable[[], None]:
    """One TorchLayer training step (Linear -> W -> Linear, MSE, SGD)."""
    dev = qml.device(device, wires=n)

    @qml.qnode(dev, diff_method=method, interface="torch")
    def f(inputs: torch.Tensor, weights: torch.Tensor) -> list:
        qml.AngleEmbedding(inputs, wires=range(n), rotation="Y")
        for layer in range(L):
            for i in range(n):
                qml.RY(weights[layer, i, 0], i)
                qml.RZ(weights[layer, i, 1], i)
            for i in range(n):
                qml.CNOT([i, (i + 1) % n])
        return [qml.expval(qml.Z(i)) for i in range(n)]

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(n, n), qml.qnn.TorchLayer(
        f, {"weights": (L, n, 2)}), torch.nn.Linear(n, 1)).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    data = torch.randn(B, n, dtype=torch.float64)
    target = torch.randn(B, 1, dtype=torch.float64)

    def step() -> None:
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(data), target).backward()
        opt.step()

    return step


def run(n: int, L: int, B: int, repeats: int) -> None:
    """Time and print both workloads at ``n`` qubits."""
    for title, make in [("W forward+backward", w_step), ("TorchLayer training step",
                                                         layer_step)]:
        steps = {f"{d} {m}": make(n, L, B, d, m) for d, m in CONTENDERS}
        if make is w_step:
            steps["qdl.expval (direct)"] = qdl_step(n, L, B)
        ms = medians(measure(steps, repeats=repeats, warmup=1))
        base = ms["qdl.qubit backprop"]
        print(f"\n{title}: n={n}, L={L}, B={B} (median ms of {repeats}; ratio = ms / "
              "qdl.qubit backprop)")
        for name, t in ms.items():
            print(f"  {name:28s} {t:9.1f} ms   x{t / base:6.2f}")


def main() -> None:
    """Command line: ``--n 4 8 --layers 8 --batch 16 --repeats 5``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    for n in args.n:
        run(n, args.layers, args.batch, args.repeats)


if __name__ == "__main__":
    main()
