"""Conversions between QDL circuits and other formats: OpenQASM 3 / 2.0, Qiskit.

``interop`` is a layer above the circuit layer (``qdl.circuit``, ``qdl.noise``): it imports
them, never the other way round (checked by import-linter). The conveniences
``Circuit.from_qasm`` / ``to_qasm`` / ``from_qiskit`` / ``to_qiskit`` and
``NoiseModel.to_qiskit`` look up the converters that this package registers below when it
is imported; ``import qdl`` imports it, so they always work. Qiskit itself is imported only
when a Qiskit conversion runs.
"""

from importlib import import_module
from typing import Any

from qdl import circuit as _circuit
from qdl import noise as _noise


def _lazy(module: str, name: str) -> Any:
    """``module.name``, imported on first call: the OpenQASM reference parser alone takes
    ~0.2 s to import, which ``qdl --help`` and every script that never reads QASM would pay."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(import_module(module), name)(*args, **kwargs)

    call.__name__ = name
    return call


_circuit.CONVERTERS.update(
    from_qasm=_lazy("qdl.interop.qasm", "from_qasm"),
    to_qasm=_lazy("qdl.interop.qasm", "to_qasm"),
    from_qiskit=_lazy("qdl.interop.qiskit.circuits", "from_qiskit"),
    to_qiskit=_lazy("qdl.interop.qiskit.circuits", "to_qiskit"),
)
_noise.EXPORTERS["qiskit"] = _lazy("qdl.interop.qiskit.noise", "noise_model_to_qiskit")
