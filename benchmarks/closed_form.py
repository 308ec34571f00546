"""Where the closed-form paths pay: dense matrices, the fused plan fed by angle vectors, and
the general simulator (autograd over the blocks' construction), forward + backward.

    python -m benchmarks.closed_form [--n 3 4 5 6 8 12] [--layers 2 8] [--reupload]
                                     [--repeats 7]

One ``QuantumLayer`` forward + backward (batch 32) of workload W's circuit: an RY angle
embedding, ``L`` layers of RY, RZ per qubit and a CNOT ring, ``⟨Z_i⟩`` on every qubit; with
``--reupload`` the embedding is repeated after every layer (data re-uploading: per-row gates
after the entanglers, which the dense path does not take). Contenders, interleaved, with
torch's default threads:

* ``dense``: ``qdl.sim.dense`` allowed up to 6 qubits (then the fused path);
* ``fused``: ``qdl.sim.fused`` only (``DENSE_QUBITS = 0``);
* ``general``: neither (the fused plan with autograd over its blocks).

Prints medians and general / each (above 1: faster than the general simulator);
``DENSE_QUBITS`` in ``qdl.sim.dense`` and ``FUSED_QUBITS`` in ``qdl.sim.fused`` come from
this table.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402
from timing import measure, medians  # noqa: E402
from workload_w import w_circuit  # noqa: E402

from qdl import Circuit  # noqa: E402
from qdl.nn import QuantumLayer  # noqa: E402
from qdl.sim import dense, fused  # noqa: E402

BATCH = 32
SETTINGS = {"dense": (6, 64), "fused": (0, 64), "general": (0, 0)}  # DENSE_, FUSED_QUBITS


def circuit(n: int, layers: int, reupload: bool) -> Circuit:
    """Workload W's circuit, with the embedding after every layer too when ``reupload``."""
    if not reupload:
        return w_circuit(n, layers)
    c = Circuit(n)
    for layer in range(layers):
        for i in range(n):
            c.ry(i, f"x{i}").ry(i, f"w{layer}_{i}_0").rz(i, f"w{layer}_{i}_1")
        for i in range(n):
            c.cx(i, (i + 1) % n)
    return c


def step(c: Circuit, setting: str) -> Callable[[], None]:
    """Forward + backward of the layer with the closed-form paths set as ``setting``."""
    n = c.n_qubits
    layer = QuantumLayer(c, [f"Z{i}" for i in range(n)], inputs=[f"x{i}" for i in range(n)])
    x = torch.randn(BATCH, n, requires_grad=True)
    qubits = SETTINGS[setting]

    def run() -> None:
        saved = dense.DENSE_QUBITS, fused.FUSED_QUBITS
        dense.DENSE_QUBITS, fused.FUSED_QUBITS = qubits
        try:
            layer(x).sum().backward()
        finally:
            dense.DENSE_QUBITS, fused.FUSED_QUBITS = saved

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[3, 4, 5, 6, 8, 12])
    parser.add_argument("--layers", type=int, nargs="+", default=[2, 8])
    parser.add_argument("--reupload", action="store_true")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {BATCH}"
          f"{', re-uploading' if args.reupload else ''}")
    print(f"{'case':<12} {'dense ms':>9} {'fused ms':>9} {'general ms':>11} "
          f"{'general/dense':>14} {'general/fused':>14}")
    for n in args.n:
        for layers in args.layers:
            # A circuit per contender: programs and layouts are cached per circuit object.
            steps = {k: step(circuit(n, layers, args.reupload), k) for k in SETTINGS}
            t = medians(measure(steps, repeats=args.repeats, warmup=2, threads=None))
            print(f"{f'n={n} L={layers}':<12} {t['dense']:>9.2f} {t['fused']:>9.2f} "
                  f"{t['general']:>11.2f} {t['general'] / t['dense']:>13.2f}x "
                  f"{t['general'] / t['fused']:>13.2f}x", flush=True)


if __name__ == "__main__":
    main()
