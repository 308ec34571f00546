"""QDL: quantum deep learning on torch.

>>> import qdl
>>> c = qdl.Circuit(2).h(0).cx(0, 1)
>>> round(qdl.expval(c, ["Z0 Z1"]).item(), 6)
1.0
"""

import os
import sys

# OpenMP threads that spin while waiting make small circuits several times slower when another
# process shares the cores; waiting passively keeps every thread setting near the best there
# (python -m benchmarks.threads measures it). It takes effect only if torch is not loaded yet
# (the `qdl` command, or `import qdl` first) and never overrides the user's own setting.
_SPINNING = "torch" in sys.modules and "OMP_WAIT_POLICY" not in os.environ
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Importing interop registers the OpenQASM and Qiskit converters behind Circuit.from_qasm /
# to_qasm / ... (the circuit layer cannot import interop, which sits above it).
from qdl import interop, nn, noise, optim
from qdl.circuit import Circuit, Op
from qdl.errors import QDLError
from qdl.gates import GATES
from qdl.grad import DiffMethod, expval, expval_with_stderr, var
from qdl.noise import NoiseModel
from qdl.observables import Hermitian, Observable, Projector, SparseHamiltonian
from qdl.optim import metric_tensor
from qdl.sim import core as _core
from qdl.sim import density_matrix, probs, sample, state

# Too late for the wait policy: QDL then drops to one thread while the machine is busy
# (qdl.sim.core.adapt_threads).
_core.ACTIVE_WAIT = _SPINNING

__all__ = [
    "GATES",
    "Circuit",
    "DiffMethod",
    "Hermitian",
    "NoiseModel",
    "Observable",
    "Op",
    "Projector",
    "QDLError",
    "SparseHamiltonian",
    "density_matrix",
    "expval",
    "expval_with_stderr",
    "interop",
    "metric_tensor",
    "nn",
    "noise",
    "optim",
    "probs",
    "sample",
    "state",
    "var",
]
__version__ = "0.1.0"
