"""Where the dense small-circuit path (``qdl.sim.dense``) pays: dense vs the general simulator.

    python -m benchmarks.dense [--n 3 4 5 6] [--layers 2 8 32] [--repeats 7]

One ``QuantumLayer`` forward + backward (batch 32) of workload W's circuit: an RY angle
embedding, ``L`` layers of RY, RZ per qubit and a CNOT ring, ``⟨Z_i⟩`` on every qubit.
Each case runs with the dense path allowed up to 6 qubits and with it switched off
(``DENSE_QUBITS = 0``), interleaved, with torch's default threads. Prints medians and
general / dense (above 1: dense is faster);
``DENSE_QUBITS`` in ``qdl.sim.dense`` comes from this table. (Per-row layers, as in data
re-uploading, were measured with the version of commit de7cf3b, which took them densely:
0.2-0.8x from 3 qubits on, so they now run on the general simulator.)
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

from qdl.nn import QuantumLayer  # noqa: E402
from qdl.sim import dense  # noqa: E402

BATCH = 32


def step(n: int, layers: int, qubits: int) -> Callable[[], None]:
    """Forward + backward of the layer with the dense path allowed up to ``qubits``."""
    layer = QuantumLayer(w_circuit(n, layers), [f"Z{i}" for i in range(n)],
                         inputs=[f"x{i}" for i in range(n)])
    x = torch.randn(BATCH, n, requires_grad=True)

    def run() -> None:
        saved = dense.DENSE_QUBITS
        dense.DENSE_QUBITS = qubits
        try:
            layer(x).sum().backward()
        finally:
            dense.DENSE_QUBITS = saved

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[3, 4, 5, 6])
    parser.add_argument("--layers", type=int, nargs="+", default=[2, 8, 32])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {BATCH}")
    print(f"{'case':<28} {'dense ms':>9} {'general ms':>11} {'general/dense':>14}")
    for n in args.n:
        for layers in args.layers:
            times = medians(measure({"dense": step(n, layers, 6), "general": step(n, layers, 0)},
                                    repeats=args.repeats, warmup=2, threads=None))
            print(f"{f'n={n} L={layers}':<28} {times['dense']:>9.2f} {times['general']:>11.2f} "
                  f"{times['general'] / times['dense']:>13.2f}x", flush=True)


if __name__ == "__main__":
    main()
