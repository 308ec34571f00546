"""Quantum-data rows of ``qdl report efficiency``: a QCNN on the states against classical
learners on measurement data with the same shot budget.

The QCNN (``qcnn``) reads each ground state and is trained like every other report model
(:class:`qdl.app.runner.Trainer`, exact expectation values); ``qcnn-shots`` is the same trained
network with its test readout estimated from :data:`SHOTS` measurements per state. The
classical models never see a state: they get a classical shadow of :data:`SHOTS` randomized
Pauli snapshots per state (:func:`qdl.data.quantum.classical_shadow`), turned into the shadow
estimates of every Pauli string on 1 to 3 neighbouring qubits (the local reduced density
matrices of Huang et al., Science 377 (2022)), and fed to logistic regression, an MLP and an
RBF-kernel SVM (scikit-learn), on the same splits as the QCNN.
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict
from typing import Any

import numpy as np

SHOTS = 1000  # measurements per state: shadow snapshots, or QCNN readout shots
SHADOW_SEED = 0

QUANTUM_MODELS: dict[str, dict[str, Any]] = {
    # Cong et al.'s network on the states (convolution, pooling, one readout wire).
    "qcnn": {"kind": "qcnn"},
    "qcnn-shots": {"kind": "qcnn", "shots": SHOTS},
    "shadow-logistic": {"kind": "shadow", "learner": "logistic"},
    "shadow-mlp": {"kind": "shadow", "learner": "mlp"},
    "shadow-svm": {"kind": "shadow", "learner": "svm"},
}


@functools.lru_cache(maxsize=8)
def shadow_table(dataset: str, shots: int = SHOTS, seed: int = SHADOW_SEED
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Shadow features ``(N, F)`` and class indices ``(N,)`` of a quantum registry dataset.

    One shadow per dataset (``seed``), reused by every report seed: the seeds vary the
    split and the models, as for the other datasets.

    >>> x, y = shadow_table("tfim", shots=10)
    >>> x.shape, y.shape
    ((200, 249), (200,))
    """
    from qdl.data import load_dataset
    from qdl.data.quantum import classical_shadow, shadow_features

    table = load_dataset(dataset)
    states = table.frame[table.features].to_numpy()
    bases, outcomes = classical_shadow(states, shots, seed)
    classes = sorted(map(str, table.frame[table.target].unique()))
    y = np.searchsorted(np.asarray(classes), table.frame[table.target].astype(str).to_numpy())
    return shadow_features(bases, outcomes), y


def _learner(name: str, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    model = {"logistic": lambda: LogisticRegression(max_iter=5000),
             "mlp": lambda: MLPClassifier((64, 64), max_iter=1000, random_state=seed),
             "svm": lambda: SVC(kernel="rbf", C=10.0, gamma="scale")}[name]()
    return make_pipeline(StandardScaler(), model)


def _sklearn_parameters(pipeline: Any) -> int:
    """Fitted numbers a prediction uses (weights and biases; SVM: dual coefficients,
    intercepts and the support vectors' features)."""
    model = pipeline[-1]
    if hasattr(model, "coefs_"):
        return int(sum(w.size for w in model.coefs_) + sum(b.size for b in model.intercepts_))
    if hasattr(model, "support_vectors_"):
        return int(model.dual_coef_.size + model.intercept_.size + model.support_vectors_.size)
    return int(model.coef_.size + model.intercept_.size)


def _shadow_job(job: Any, learner: str) -> dict[str, Any]:
    from qdl.data import split_indices

    x, y = shadow_table(job.dataset)
    train, _, test = split_indices(y, len(y), 0.2, 0.1, job.seed)
    start = time.perf_counter()
    model = _learner(learner, job.seed).fit(x[train], y[train])
    seconds = time.perf_counter() - start
    score = float((model.predict(x[test]) == y[test]).mean())
    n = _sklearn_parameters(model)
    return {"score": score, "seconds": seconds,
            "parameters": {"quantum": 0, "classical": n, "total": n}}


_TRAINED: dict[tuple, tuple[Any, float]] = {}


def _trained_qcnn(job: Any) -> tuple[Any, float]:
    """The trained QCNN of a job and its training seconds; ``qcnn`` and ``qcnn-shots`` of one
    seed share it (training is deterministic, so a second training would give the same)."""
    from qdl.app.report import job_config
    from qdl.app.runner import Trainer, prepare

    key = (job.dataset, job.seed, job.epochs, job.max_samples)
    if key not in _TRAINED:
        for old in [k for k in _TRAINED if k[0] != job.dataset]:
            del _TRAINED[old]  # jobs come dataset by dataset: keep only this one's models
        cfg = job_config(job, {"kind": "qcnn"})
        start = time.perf_counter()
        trainer = Trainer(cfg, prepare(cfg))
        trainer.fit()
        trainer.select()
        _TRAINED[key] = (trainer, time.perf_counter() - start)
    return _TRAINED[key]


def _qcnn_job(job: Any, shots: int | None) -> dict[str, Any]:
    import copy

    import torch

    from qdl.app.runner import parameter_counts, predict_outputs
    from qdl.nn import QuantumLayer

    trainer, seconds = _trained_qcnn(job)
    model = copy.deepcopy(trainer.model)
    if shots is not None:
        # Same trained weights; only the readout is estimated from shots (seeded by the job).
        torch.manual_seed(job.seed)
        for layer in model.modules():
            if isinstance(layer, QuantumLayer):
                layer.shots = shots
    with torch.no_grad():
        out = predict_outputs(model, trainer.data.x["test"])
    score = float((out.argmax(-1) == trainer.data.y["test"]).float().mean())
    return {"score": score, "seconds": seconds, "parameters": parameter_counts(model)}


def run_quantum_job(job: Any) -> dict[str, Any]:
    """Train one quantum-data report job; same record as :func:`qdl.app.report.run_job`,
    plus ``shots`` (``None``: exact readout).

    >>> from qdl.app.report import Job
    >>> run_quantum_job(Job("tfim", "shadow-logistic", seed=0))["shots"]
    1000
    """
    import torch

    spec = QUANTUM_MODELS[job.model]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # jobs may run side by side, as in run_job
    try:
        if spec["kind"] == "shadow":
            result, shots = _shadow_job(job, spec["learner"]), SHOTS
        else:
            shots = spec.get("shots")
            result = _qcnn_job(job, shots)
    finally:
        torch.set_num_threads(threads)
    return {**asdict(job), "key": job.key, "metric": "accuracy", **result, "shots": shots}
