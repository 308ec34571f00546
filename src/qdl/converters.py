"""Loaders of the format converters, for the conveniences of the layers below interop.

``Circuit.from_qasm`` / ``to_qasm`` / ``from_qiskit`` / ``to_qiskit`` (``qdl.circuit.CONVERTERS``)
and ``NoiseModel.to_qiskit`` (``qdl.noise.EXPORTERS``) call converters that the interop layer
registers when it is imported; the circuit layer never imports interop, which sits above it.
``import qdl`` no longer imports everything at once (the ``qdl`` command starts without
torch), so the package root adds a loader here instead, and the first lookup of a missing
converter runs it (:func:`load`).
"""

from __future__ import annotations

from collections.abc import Callable

LOADERS: list[Callable[[], object]] = []


def load() -> None:
    """Run the registered loaders, once each."""
    while LOADERS:
        LOADERS.pop(0)()
