"""PennyLane device ``qdl.qubit`` (optional: ``pip install "qdl[pennylane]"``).

``qml.device("qdl.qubit", wires=n, seed=0)`` runs PennyLane circuits on QDL's torch
simulator: backprop through the simulation with the torch interface, adjoint device
gradients (``diff_method="adjoint"``) with every interface, parameter broadcasting on QDL's
batch dimension, finite shots and shot vectors. See ``docs/pennylane.md``.

PennyLane is imported only when :class:`QDLQubit` is first looked up (PennyLane's plugin
loader does that for ``qml.device("qdl.qubit")``), so ``import qdl`` never loads it.

>>> from qdl.interop.pennylane import require
>>> require().__name__
'pennylane'
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from qdl.errors import QDLError

INSTALL_HINT = 'pip install "qdl[pennylane]"'


def require() -> ModuleType:
    """Import PennyLane, or raise ``QDLError`` naming the extra that installs it."""
    try:
        return importlib.import_module("pennylane")
    except ImportError:
        raise QDLError("the qdl.qubit device needs PennyLane; install it with: "
                       f"{INSTALL_HINT}") from None


def __getattr__(name: str) -> Any:
    if name == "QDLQubit":
        require()
        from qdl.interop.pennylane.device import QDLQubit

        return QDLQubit
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["INSTALL_HINT", "QDLQubit", "require"]
