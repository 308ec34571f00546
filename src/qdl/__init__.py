"""QDL: quantum deep learning on torch.

>>> import qdl
>>> c = qdl.Circuit(2).h(0).cx(0, 1)
>>> round(qdl.expval(c, ["Z0 Z1"]).item(), 6)
1.0

The public names load on first use: ``import qdl`` alone does not import torch (the ``qdl``
command prints its first line before it needs torch), and the first ``qdl.<name>`` imports
the whole API at once, as ``import qdl`` did before. When torch is already loaded there is
nothing to save, and ``import qdl`` imports the API right away.
"""

import os
import sys
from importlib import import_module
from typing import Any

from qdl import converters as _converters

# OpenMP's wait policy is left as the user has it. Waiting passively (which QDL once set)
# made every small torch operation wake its threads: on a quiet machine a torch MLP step took
# 0.70 ms instead of 0.25 and a 4-qubit hybrid step 1.9 ms instead of 1.2. On a busy machine
# QDL drops to one thread instead (qdl.sim.core.adapt_threads), whatever the policy.
_SPINNING = os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE"

__version__ = "0.1.0"

# Public name -> the module that defines it (a module's own name: the module itself).
_API = {
    "GATES": "qdl.gates",
    "Circuit": "qdl.circuit",
    "DiffMethod": "qdl.grad",
    "Hermitian": "qdl.observables",
    "NoiseModel": "qdl.noise",
    "Observable": "qdl.observables",
    "Op": "qdl.circuit",
    "Projector": "qdl.observables",
    "QDLError": "qdl.errors",
    "SparseHamiltonian": "qdl.observables",
    "Stacked": "qdl.grad",
    "density_matrix": "qdl.sim",
    "expval": "qdl.grad",
    "expval_with_stderr": "qdl.grad",
    "interop": "qdl.interop",
    "metric_tensor": "qdl.optim",
    "nn": "qdl.nn",
    "noise": "qdl.noise",
    "optim": "qdl.optim",
    "probs": "qdl.sim",
    "sample": "qdl.sim",
    "state": "qdl.sim",
    "var": "qdl.grad",
}
__all__ = sorted(_API)


def _load_api() -> None:
    """Import every public name (torch, the simulator; interop registers its converters)."""
    for name, module in _API.items():
        loaded = import_module(module)
        globals()[name] = loaded if module == f"qdl.{name}" else getattr(loaded, name)
    import_module("qdl.sim.core").ACTIVE_WAIT = _SPINNING


def __getattr__(name: str) -> Any:
    # Module attributes that Python and tools probe for (__wrapped__, __loader__ ...) are
    # not API: answering them must not import torch.
    if name.startswith("__"):
        raise AttributeError(f"module 'qdl' has no attribute {name!r}")
    _load_api()
    try:
        return globals()[name]  # a public name, or a submodule the API imported (qdl.sim)
    except KeyError:
        raise AttributeError(f"module 'qdl' has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


# Circuit.from_qasm & co. find their converters whatever was imported first: the first lookup
# of a missing one imports the interop layer, which registers them (qdl.converters).
_converters.LOADERS.append(lambda: import_module("qdl.interop"))

if "torch" in sys.modules:
    _load_api()
