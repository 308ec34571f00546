"""What the Qiskit converters share: the lazy import and the gate-name table.

Kept free of :mod:`qdl.circuit` so that :mod:`qdl.noise` can reach the noise converter
without depending on the circuit layer.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from qdl.errors import QDLError

INSTALL_HINT = 'pip install "qdl[qiskit]"'

# QDL gate name -> Qiskit instruction name where they differ (the rest are identical).
QISKIT_NAMES = {"c3x": "mcx", "c4x": "mcx", "c3sqrtx": "c3sx"}


def require(module: str) -> ModuleType:
    """Import ``module`` (``qiskit``, ``qiskit_aer`` ...) or raise ``QDLError`` saying how to
    install it.

    >>> require("json").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise QDLError(f"this needs the optional package {module.split('.')[0]!r}; install it "
                       f"with: {INSTALL_HINT}") from None


def qiskit_name(name: str) -> str:
    """The Qiskit instruction name of a QDL table gate.

    >>> qiskit_name("c3sqrtx"), qiskit_name("rx")
    ('c3sx', 'rx')
    """
    return QISKIT_NAMES.get(name, name)
