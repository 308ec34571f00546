"""Qiskit interop (optional: ``pip install "qdl[qiskit]"``; Qiskit is imported lazily).

* :func:`to_qiskit` / :func:`from_qiskit`: circuits, bound or with free parameters
  (``Circuit.to_qiskit()`` / ``Circuit.from_qiskit(qc)`` call them).
* :func:`noise_model_to_qiskit`: a :class:`qdl.noise.NoiseModel` as a Qiskit Aer noise
  model (``NoiseModel.to_qiskit()``).
* :class:`QiskitEstimator`: expectation values through any EstimatorV2 primitive or
  backend; pass it as ``backend=`` to :func:`qdl.expval` or :class:`qdl.nn.QuantumLayer`
  for parameter-shift gradients through it.
* :class:`QiskitSampler`: the same backend on any SamplerV2 primitive or backend: Pauli
  words measured in their bases (qubit-wise commuting ones together), estimated from the
  parities of ``shots`` bit strings, with standard errors.

Qubit ``i`` in Qiskit is wire ``i`` in QDL. Basis-state indices differ in bit order (QDL's
wire 0 is the most significant bit, Qiskit's qubit 0 the least): compare states with
``Statevector(qc).reverse_qargs()``.
"""

from typing import Any

from qdl.interop.qiskit._common import require
from qdl.interop.qiskit.backend import QiskitEstimator, QiskitSampler, pauli_sum_to_qiskit
from qdl.interop.qiskit.circuits import from_qiskit, to_qiskit
from qdl.interop.qiskit.noise import noise_model_to_qiskit

__all__ = [
    "Estimator",
    "QiskitEstimator",
    "QiskitSampler",
    "Sampler",
    "from_qiskit",
    "noise_model_to_qiskit",
    "pauli_sum_to_qiskit",
    "require",
    "to_qiskit",
]


def __getattr__(name: str) -> Any:
    """``Estimator`` and ``Sampler``, imported on first use (their module imports Qiskit)."""
    if name in ("Estimator", "Sampler"):
        require("qiskit")
        from qdl.interop.qiskit import primitives

        return getattr(primitives, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
