"""Circuit optimizers vs Adam: steps and wall time to a target loss (issue 15 §3).

Two problems, one run (``python -m benchmarks.optimizers``):

* VQE of the 4-site transverse-field Ising chain ``H = −Σ Z_i Z_{i+1} − Σ X_i`` (open
  chain, exact ground energy by numpy diagonalisation), ansatz: 3 layers of ``ry`` on every
  wire and a CNOT chain (12 parameters), start ``θ = 0.1``; target: within 1e-2 of the
  ground energy.
* A classifier: 2-qubit re-uploading circuit on 40 points of two Gaussian blobs, labels ±1,
  loss ``mean(1 − y·<Z0>)`` (linear in each expectation, so Rotosolve applies); target 0.3.

A "step" is one optimizer step (Rotosolve: one sweep over all parameters); wall time
includes every circuit evaluation of that optimizer (gradients, metric, line samples).
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

import qdl
from qdl.optim import QNG, SPSA, Rotosolve, parameter_frequencies

torch.set_num_threads(2)
F64, C128 = torch.float64, torch.complex128


def _tfim() -> tuple[qdl.Circuit, str, float]:
    n, layers = 4, 3
    c = qdl.Circuit(n)
    k = 0
    for _ in range(layers):
        for w in range(n):
            c.ry(w, f"t{k}")
            k += 1
        for w in range(n - 1):
            c.cx(w, w + 1)
    h = " + ".join([f"-1 Z{i} Z{i + 1}" for i in range(n - 1)] + [f"-1 X{i}" for i in range(n)])
    paulis = {"I": np.eye(2), "X": np.array([[0, 1], [1, 0]]), "Z": np.diag([1.0, -1.0])}

    def op(word: dict[int, str]) -> np.ndarray:
        m = np.eye(1)
        for q in range(n):
            m = np.kron(m, paulis[word.get(q, "I")])
        return m

    dense = -sum(op({i: "Z", i + 1: "Z"}) for i in range(n - 1)) - sum(
        op({i: "X"}) for i in range(n))
    return c, h, float(np.linalg.eigvalsh(dense)[0])


def _classifier() -> tuple[qdl.Circuit, torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal([-0.8, -0.8], 0.5, (20, 2)), rng.normal([0.8, 0.8], 0.5,
                                                                             (20, 2))])
    y = np.r_[-np.ones(20), np.ones(20)]
    c = qdl.Circuit(2)
    k = 0
    for _ in range(2):
        c.ry(0, "x0").ry(1, "x1")
        for w in range(2):
            c.ry(w, f"t{k}").rz(w, f"t{k + 1}")
            k += 2
        c.cx(0, 1)
    return c, torch.tensor(x, dtype=F64), torch.tensor(y, dtype=F64)


def _loss_fn(problem: str):
    if problem == "vqe":
        c, h, exact = _tfim()
        names = list(c.parameters)

        def loss(theta: torch.Tensor) -> torch.Tensor:
            return qdl.expval(c, [h], dict(zip(names, theta, strict=True)), dtype=C128).sum()

        return c, names, loss, exact + 1e-2, 0.1
    c, x, y = _classifier()
    names = [p for p in c.parameters if p.startswith("t")]

    def loss(theta: torch.Tensor) -> torch.Tensor:
        env = {"x0": x[:, 0], "x1": x[:, 1], **dict(zip(names, theta, strict=True))}
        z = qdl.expval(c, ["Z0"], env, dtype=C128)[:, 0]
        return (1 - y * z).mean()

    return c, names, loss, 0.3, 0.1


def _run(problem: str, method: str, max_steps: int = 200) -> tuple[int | None, float, float]:
    c, names, loss, target, init = _loss_fn(problem)
    theta = torch.full((len(names),), init, dtype=F64, requires_grad=method in ("adam", "qng"))
    start = time.perf_counter()
    if method == "adam":
        opt = torch.optim.Adam([theta], lr=0.1)
    elif method == "qng":
        # Classifier: the metric of the circuit at the mean input (one metric per step).
        fixed = c if problem == "vqe" else c.bind({"x0": 0.0, "x1": 0.0})
        opt = QNG([theta], lr=0.1, circuit=fixed, names=names, lam=1e-3)
    elif method == "spsa":
        opt = SPSA([theta], a=0.3, c=0.1, A=10, generator=torch.Generator().manual_seed(0))
    else:
        freqs = parameter_frequencies(c, names)
        opt = Rotosolve([theta], frequencies=[[freqs[n] for n in names]])
    value = math.inf
    for step in range(1, max_steps + 1):
        if method in ("adam", "qng"):
            def closure() -> torch.Tensor:
                opt.zero_grad()
                v = loss(theta)
                v.backward()
                return v

            opt.step(closure)
        else:
            with torch.no_grad():
                opt.step(lambda: loss(theta))
        with torch.no_grad():
            value = float(loss(theta))
        if value <= target:
            return step, time.perf_counter() - start, value
    return None, time.perf_counter() - start, value


def main() -> None:
    """Print the table (markdown)."""
    _, _, exact = _tfim()
    print(f"TFIM-4 exact ground energy {exact:.6f}; target E0 + 0.01. Classifier target 0.3.")
    print("| problem | optimizer | steps to target | wall time (s) | final loss |")
    print("|---|---|---|---|---|")
    for problem in ("vqe", "classifier"):
        for method in ("adam", "qng", "spsa", "rotosolve"):
            steps, seconds, value = _run(problem, method)
            shown = steps if steps is not None else "not in 200"
            print(f"| {problem} | {method} | {shown} | {seconds:.2f} | {value:.4f} |")


if __name__ == "__main__":
    main()
