"""QDL's Qiskit Estimator vs Qiskit's StatevectorEstimator and Aer's EstimatorV2 on a QNN.

One training step of qiskit-machine-learning's ``EstimatorQNN`` (``qnn_circuit``: ZZ feature
map + RealAmplitudes, observable Z⊗...⊗Z, exact values): forward on a batch of 32 inputs,
then backward (parameter shift, weight gradients: one PUB per shifted point), for n = 4 and
8 qubits. The estimators run interleaved, round after round, so machine load hits them
alike; the median of the rounds is reported, with ratios to QDL.

    python -m benchmarks.qiskit_primitives [--rounds 3] [--qubits 4 8] [--batch 32]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import torch
from qiskit.primitives import StatevectorEstimator
from qiskit_machine_learning.circuit.library import qnn_circuit
from qiskit_machine_learning.neural_networks import EstimatorQNN

from qdl.interop.qiskit import Estimator


def _estimators() -> dict[str, object]:
    out: dict[str, object] = {"qdl c128": Estimator(), "qdl c64": Estimator(
        dtype=torch.complex64), "qiskit statevector": StatevectorEstimator()}
    try:
        from qiskit_aer.primitives import EstimatorV2 as AerEstimator
    except ImportError:  # Aer is optional: compare with what is installed
        return out
    out["aer"] = AerEstimator()
    return out


def _qnn(n: int, estimator: object) -> EstimatorQNN:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # qnn_circuit's num_qubits
        qc, inputs, weights = qnn_circuit(num_qubits=n)
    return EstimatorQNN(circuit=qc, input_params=inputs, weight_params=weights,
                        estimator=estimator, default_precision=0.0)


def _step_ms(qnn: EstimatorQNN, x: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    forward = qnn.forward(x, w)
    _, grads = qnn.backward(x, w)
    return 1e3 * (time.perf_counter() - start), np.concatenate([forward.ravel(),
                                                                grads.ravel()])


def run(qubits: list[int], batch: int, rounds: int) -> None:
    """Time every estimator on every size and print a table."""
    rng = np.random.default_rng(0)
    print(f"EstimatorQNN forward + backward, batch {batch}, median of {rounds} rounds "
          f"(torch threads {torch.get_num_threads()})")
    for n in qubits:
        qnns = {name: _qnn(n, est) for name, est in _estimators().items()}
        x = rng.random((batch, n))
        w = rng.random(next(iter(qnns.values())).num_weights)
        times: dict[str, list[float]] = {name: [] for name in qnns}
        outputs = {}
        for name, qnn in qnns.items():  # warm-up: conversions, plans, Qiskit's caches
            outputs[name] = _step_ms(qnn, x, w)[1]
        for _ in range(rounds):
            for name, qnn in qnns.items():
                times[name].append(_step_ms(qnn, x, w)[0])
        ref = statistics.median(times["qdl c128"])
        print(f"n = {n}, {len(w)} weights, {2 * len(w) * batch} shifted PUBs per backward")
        for name, t in times.items():
            diff = np.abs(outputs[name] - outputs["qdl c128"]).max()
            med = statistics.median(t)
            print(f"  {name:20s} {med:10.1f} ms   {med / ref:7.2f}x qdl c128   "
                  f"max |diff| {diff:.1e}")


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    run(args.qubits, args.batch, args.rounds)


if __name__ == "__main__":
    main()
