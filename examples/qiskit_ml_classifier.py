"""qiskit-machine-learning's tutorial classifier, simulated by QDL.

The EstimatorQNN classifier of the tutorial "Neural Network Classifier & Regressor"
(qiskit-machine-learning, docs/tutorials/02): 20 seeded points in [-1, 1]², labelled by the
sign of x0 + x1, a 2-qubit ``qnn_circuit`` (ZZ feature map + RealAmplitudes), COBYLA with 60
iterations. The only change is the estimator: QDL's ``qdl.interop.qiskit.Estimator`` instead
of Qiskit's ``StatevectorEstimator``. The tutorial reports 0.80 accuracy.

    python examples/qiskit_ml_classifier.py            # QDL
    python examples/qiskit_ml_classifier.py --compare  # and Qiskit's StatevectorEstimator

``EstimatorQNN`` adds noise of its ``default_precision`` (1/64) to every forward pass, so an
unseeded run varies (0.65-0.80 seen); ``--seed`` makes the noise reproducible (seeds 0-7
all give 0.80) and ``--exact`` turns it off (0.80).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from qiskit_machine_learning.algorithms.classifiers import NeuralNetworkClassifier
from qiskit_machine_learning.circuit.library import qnn_circuit
from qiskit_machine_learning.neural_networks import EstimatorQNN
from qiskit_machine_learning.optimizers import COBYLA
from qiskit_machine_learning.utils import algorithm_globals

from qdl.interop.qiskit import Estimator


def tutorial_accuracy(estimator, exact: bool = False) -> float:
    """The tutorial's classification with an EstimatorQNN, on ``estimator``; its accuracy."""
    algorithm_globals.random_seed = 42
    num_inputs = 2
    num_samples = 20
    X = 2 * algorithm_globals.random.random([num_samples, num_inputs]) - 1
    y01 = 1 * (np.sum(X, axis=1) >= 0)  # in { 0,  1}
    y = 2 * y01 - 1  # in {-1, +1}

    qc, fm_params, anz_params = qnn_circuit(num_qubits=2)
    precision = {"default_precision": 0.0} if exact else {}
    estimator_qnn = EstimatorQNN(circuit=qc, input_params=fm_params, weight_params=anz_params,
                                 estimator=estimator, **precision)
    # The tutorial evaluates the QNN once here; it draws from the same seeded generator as
    # the classifier's initial point, so it stays.
    estimator_qnn.forward(X[0, :], algorithm_globals.random.random(estimator_qnn.num_weights))

    classifier = NeuralNetworkClassifier(estimator_qnn, optimizer=COBYLA(maxiter=60))
    classifier.fit(X, y)
    return classifier.score(X, y)


def main() -> None:
    """Run the tutorial on QDL (and optionally on Qiskit) and print accuracy and time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=None, help="seed the estimator's noise")
    parser.add_argument("--exact", action="store_true", help="EstimatorQNN precision 0")
    parser.add_argument("--compare", action="store_true",
                        help="also run Qiskit's StatevectorEstimator")
    args = parser.parse_args()
    runs = [("QDL Estimator", Estimator(seed=args.seed))]
    if args.compare:
        from qiskit.primitives import StatevectorEstimator

        runs.append(("Qiskit StatevectorEstimator", StatevectorEstimator(seed=args.seed)))
    for name, estimator in runs:
        start = time.perf_counter()
        accuracy = tutorial_accuracy(estimator, exact=args.exact)
        print(f"{name:28s} accuracy {accuracy:.2f}  ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
