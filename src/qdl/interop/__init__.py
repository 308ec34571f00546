"""Conversions between QDL circuits and other formats: OpenQASM 3 / 2.0, Qiskit.

``interop`` is a layer above the circuit layer (``qdl.circuit``, ``qdl.noise``): it imports
them, never the other way round (checked by import-linter). The conveniences
``Circuit.from_qasm`` / ``to_qasm`` / ``from_qiskit`` / ``to_qiskit`` and
``NoiseModel.to_qiskit`` look up the converters that this package registers below when it
is imported; ``import qdl`` imports it, so they always work. Qiskit itself is imported only
when a Qiskit conversion runs.
"""

from qdl import circuit as _circuit
from qdl import noise as _noise
from qdl.interop import qasm
from qdl.interop.qiskit import circuits as _qiskit_circuits
from qdl.interop.qiskit import noise as _qiskit_noise

_circuit.CONVERTERS.update(
    from_qasm=qasm.from_qasm,
    to_qasm=qasm.to_qasm,
    from_qiskit=_qiskit_circuits.from_qiskit,
    to_qiskit=_qiskit_circuits.to_qiskit,
)
_noise.EXPORTERS["qiskit"] = _qiskit_noise.noise_model_to_qiskit

__all__ = ["qasm"]
