"""QDL: quantum deep learning on torch.

>>> import qdl
>>> c = qdl.Circuit(2).h(0).cx(0, 1)
>>> round(qdl.expval(c, ["Z0 Z1"]).item(), 6)
1.0
"""

# Importing interop registers the OpenQASM and Qiskit converters behind Circuit.from_qasm /
# to_qasm / ... (the circuit layer cannot import interop, which sits above it).
from qdl import interop, nn, noise
from qdl.circuit import Circuit, Op
from qdl.errors import QDLError
from qdl.gates import GATES
from qdl.grad import DiffMethod, expval, expval_with_stderr, var
from qdl.noise import NoiseModel
from qdl.observables import Observable
from qdl.sim import density_matrix, probs, sample, state

__all__ = [
    "GATES",
    "Circuit",
    "DiffMethod",
    "NoiseModel",
    "Observable",
    "Op",
    "QDLError",
    "density_matrix",
    "expval",
    "expval_with_stderr",
    "interop",
    "nn",
    "noise",
    "probs",
    "sample",
    "state",
    "var",
]
__version__ = "0.1.0"
