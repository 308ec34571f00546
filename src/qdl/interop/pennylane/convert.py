"""PennyLane tapes as QDL circuits: operations, parameters, initial states, observables.

Wire labels map to QDL wire indices in the device's wire order; PennyLane and QDL both
make the first wire the most significant bit of a basis-state index, so states and
probabilities need no reordering. Every gate parameter becomes a named QDL parameter
bound to the tape's own value (a torch tensor stays that tensor, so backprop reaches it;
a broadcast parameter of shape ``(B,)`` becomes QDL's batch dimension).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pennylane as qml
import torch
from pennylane.operation import Operator, StatePrepBase
from pennylane.ops import Adjoint, Controlled, Prod, SProd, Sum

from qdl.circuit import Circuit
from qdl.errors import QDLError
from qdl.expr import Sym
from qdl.observables import (
    MAX_MATRIX_WIRES,
    AnyObservable,
    Hermitian,
    Observable,
    Projector,
    SparseHamiltonian,
)

# PennyLane name -> QDL gate row taking the same wires and parameters in the same order
# (QDL's chemistry rotations and Rot follow PennyLane's matrices, see qdl.gates).
SIMPLE = {
    "PauliX": "x", "PauliY": "y", "PauliZ": "z", "Hadamard": "h", "S": "s", "T": "t",
    "SX": "sx", "CNOT": "cx", "CY": "cy", "CZ": "cz", "CH": "ch", "SWAP": "swap",
    "ISWAP": "iswap", "CSWAP": "cswap", "Toffoli": "ccx", "CCZ": "ccz", "RX": "rx",
    "RY": "ry", "RZ": "rz", "PhaseShift": "p", "U1": "p", "ControlledPhaseShift": "cp",
    "CRX": "crx", "CRY": "cry", "CRZ": "crz", "Rot": "rot", "U2": "u2", "U3": "u",
    "IsingXX": "rxx", "IsingYY": "ryy", "IsingZZ": "rzz",
    "SingleExcitation": "single_excitation", "DoubleExcitation": "double_excitation",
    "OrbitalRotation": "orbital_rotation",
}
SPECIAL = frozenset({"GlobalPhase", "MultiRZ", "PauliRot", "QubitUnitary",
                     "DiagonalQubitUnitary"})
IGNORED = frozenset({"Identity", "Barrier", "Snapshot"})
NATIVE = frozenset(SIMPLE) | SPECIAL | IGNORED
"""Operation names QDL applies without decomposing (plus ``Adjoint`` / controlled forms)."""


def supported(op: Operator) -> bool:
    """Whether QDL applies ``op`` natively (the device's decomposition stopping condition).

    >>> supported(qml.CRot(0.1, 0.2, 0.3, wires=[0, 1])), supported(qml.QFT(wires=[0, 1]))
    (True, False)
    """
    if op.name in NATIVE or by_matrix(op):
        return True
    if isinstance(op, Adjoint | Controlled):
        return supported(op.base)
    return False


def by_matrix(op: Operator) -> bool:
    """Operations without a decomposition (``BlockEncode``, ``DoubleExcitationPlus`` ...)
    that QDL applies through their matrix."""
    return (not op.has_decomposition and op.has_matrix
            and len(op.wires) <= MAX_MATRIX_WIRES and op.name not in NATIVE)


def to_numpy(value: Any) -> np.ndarray:
    """A tensor or PennyLane/autograd array as a plain NumPy array (detached, on the CPU)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(qml.math.unwrap(value))


def is_batched_matrix(op: Operator) -> bool:
    """Whether ``op`` carries a broadcast matrix (QDL's matrix gates take one matrix)."""
    base = op
    while isinstance(base, Adjoint | Controlled):
        base = base.base
    if base.name == "QubitUnitary":
        return qml.math.ndim(base.data[0]) > 2
    if base.name == "DiagonalQubitUnitary":
        return qml.math.ndim(base.data[0]) > 1
    return by_matrix(base) and base.batch_size is not None


class TapeConverter:
    """Builds QDL circuits and observables for one tape on the given wire order.

    >>> conv = TapeConverter(["a", "b"])
    >>> c, init = conv.circuit([qml.Hadamard("a"), qml.CNOT(["a", "b"]), qml.RY(0.5, "b")])
    >>> [op.name for op in c.ops], list(conv.params), init is None
    (['h', 'cx', 'ry'], ['p0'], True)
    """

    def __init__(self, wire_order: Sequence[Any]):
        self.wire_order = list(wire_order)
        self.index = {w: i for i, w in enumerate(self.wire_order)}
        self.n = len(self.wire_order)
        self.params: dict[str, torch.Tensor] = {}
        # QDL's rows of trainable matrices hold their tensors weakly: keep them alive here.
        self.keep: list[torch.Tensor] = []

    def wires(self, wires: Iterable[Any]) -> list[int]:
        """QDL wire indices of PennyLane wire labels."""
        try:
            return [self.index[w] for w in wires]
        except KeyError as exc:
            raise QDLError(f"wire {exc.args[0]!r} is not one of the device wires "
                           f"{self.wire_order}") from None

    def param(self, value: Any) -> Sym:
        """A fresh QDL parameter bound to ``value`` (a torch tensor is kept as it is)."""
        name = f"p{len(self.params)}"
        if not isinstance(value, torch.Tensor):
            value = torch.as_tensor(to_numpy(value), dtype=torch.float64)
        self.params[name] = value
        return Sym(name)

    def circuit(self, ops: Sequence[Operator]) -> tuple[Circuit, torch.Tensor | None]:
        """The QDL circuit of ``ops`` and its initial state (from a leading state prep)."""
        circuit, initial = Circuit(self.n), None
        for k, op in enumerate(ops):
            if k == 0 and isinstance(op, StatePrepBase):
                initial = self.initial_state(op)
            else:
                self.append(circuit, op)
        return circuit, initial

    def initial_state(self, op: StatePrepBase) -> torch.Tensor:
        """The state a leading ``StatePrep`` / ``BasisState`` prepares on all wires."""
        vec = op.state_vector(wire_order=self.wire_order)
        if not isinstance(vec, torch.Tensor):
            vec = torch.as_tensor(to_numpy(vec))
        vec = vec.to(torch.complex128)
        return vec.reshape(*vec.shape[: vec.dim() - self.n], 2**self.n)

    def append(self, circuit: Circuit, op: Operator) -> None:
        """Append ``op`` to ``circuit``; ``QDLError`` for operations QDL cannot apply."""
        name = op.name
        if name in IGNORED:
            return
        if name in SIMPLE:
            circuit.add(SIMPLE[name], self.wires(op.wires), [self.param(d) for d in op.data])
        elif name == "GlobalPhase":  # PennyLane's exp(-iφ), QDL's gphase(θ) = exp(iθ)
            circuit.add("gphase", [], [-self.param(op.data[0])])
        elif name == "MultiRZ":
            circuit.multi_rz(self.param(op.data[0]), self.wires(op.wires))
        elif name == "PauliRot":
            circuit.pauli_rot(self.param(op.data[0]), op.hyperparameters["pauli_word"],
                              self.wires(op.wires))
        elif name in ("QubitUnitary", "DiagonalQubitUnitary"):
            self._unitary(circuit, op, adjoint=False)
        elif isinstance(op, Adjoint):
            self._adjoint(circuit, op)
        elif isinstance(op, Controlled):
            self._controlled(circuit, op)
        elif by_matrix(op):
            self._matrix(circuit, op, qml.matrix(op), adjoint=False)
        else:
            raise QDLError(f"qdl.qubit cannot apply {name}; PennyLane's decompose transform "
                           "(the device's preprocessing) rewrites it into supported gates")

    def _adjoint(self, circuit: Circuit, op: Adjoint) -> None:
        if op.base.name in ("QubitUnitary", "DiagonalQubitUnitary"):
            # The adjoint's own matrix: one row, and broadcast matrices stay batched.
            self._unitary(circuit, op.base, adjoint=True)
            return
        if by_matrix(op.base):
            self._matrix(circuit, op.base, qml.matrix(op.base), adjoint=True)
            return
        inner = Circuit(self.n)
        self.append(inner, op.base)
        circuit.extend(inner.inverse())

    def _controlled(self, circuit: Circuit, op: Controlled) -> None:
        controls = self.wires(op.control_wires)
        values = [int(v) for v in op.control_values]
        inner = Circuit(self.n)
        self.append(inner, op.base)
        for o in inner.ops:
            flags = [*values, *[1] * o.ctrl]
            circuit.add(o.name, [*controls, *o.wires], o.params, ctrl=len(flags),
                        ctrl_values=None if all(flags) else flags)

    def _unitary(self, circuit: Circuit, op: Operator, adjoint: bool) -> None:
        matrix = op.data[0]
        if op.name == "DiagonalQubitUnitary":
            trainable = isinstance(matrix, torch.Tensor) and matrix.requires_grad
            matrix = torch.diag_embed(matrix) if trainable else np.diag(to_numpy(matrix))
        self._matrix(circuit, op, matrix, adjoint)

    def _matrix(self, circuit: Circuit, op: Operator, matrix: Any, adjoint: bool) -> None:
        if is_batched_matrix(op):
            raise QDLError(f"{op.name} with a broadcast matrix: QDL applies one matrix per "
                           "gate; the device's preprocessing expands such tapes per batch item")
        if isinstance(matrix, torch.Tensor) and matrix.requires_grad:
            m = matrix.to(torch.complex128)
            m = m.mH.contiguous() if adjoint else m
            self.keep.append(m)
        else:
            m = to_numpy(matrix).astype(complex)
            m = m.conj().T if adjoint else m
        circuit.unitary(self.wires(op.wires), m)

    # ---- observables --------------------------------------------------------------------

    def leaves(self, obs: Operator) -> list[tuple[Any, AnyObservable]]:
        """``obs`` as ``Σ c_i O_i`` with QDL observables ``O_i`` and coefficients ``c_i``
        (kept as PennyLane gives them: trainable coefficients stay differentiable)."""
        if obs.pauli_rep is not None:
            return [(c, self._word(word)) for word, c in obs.pauli_rep.items()]
        if isinstance(obs, Sum):
            return [leaf for o in obs.operands for leaf in self.leaves(o)]
        if isinstance(obs, SProd):
            return [(obs.scalar * c, o) for c, o in self.leaves(obs.base)]
        if isinstance(obs, Prod):
            factors = [self.leaves(o) for o in obs.operands]
            if all(len(f) == 1 for f in factors):
                coeff, product = 1.0, None
                for [(c, o)] in factors:
                    coeff = coeff * c
                    product = o if product is None else product @ o
                return [(coeff, product)]
        return [(1.0, self._single(obs))]

    def _word(self, word: Any) -> Observable:
        paulis = sorted((self.index[w], p) for w, p in word.items())
        text = " ".join(f"{p}{w}" for w, p in paulis) or "I"
        return Observable.from_terms([(1.0, paulis)], text)

    def _single(self, obs: Operator) -> AnyObservable:
        name = type(obs).__name__
        if name == "Hermitian":
            return Hermitian(to_numpy(obs.data[0]), self.wires(obs.wires))
        if name == "BasisStateProjector":
            return Projector([int(b) for b in to_numpy(obs.data[0])], self.wires(obs.wires))
        if name == "SparseHamiltonian":
            return SparseHamiltonian(obs.sparse_matrix(wire_order=self.wire_order))
        if obs.has_matrix and len(obs.wires) <= MAX_MATRIX_WIRES:
            return Hermitian(to_numpy(qml.matrix(obs, wire_order=obs.wires)),
                             self.wires(obs.wires))
        raise QDLError(f"qdl.qubit cannot measure the observable {obs}: it has no Pauli "
                       f"form and no matrix on at most {MAX_MATRIX_WIRES} wires")

    def operator(self, obs: Operator) -> tuple[Any, AnyObservable]:
        """``obs`` as ``c · O`` with one QDL observable (for variances)."""
        parts = self.leaves(obs)
        if len(parts) == 1:
            return parts[0]
        if all(isinstance(o, Observable) for _, o in parts):
            # complex(): PennyLane may hold real coefficients in a complex dtype; a truly
            # complex sum is refused as non-Hermitian, as Observable.parse refuses it.
            return 1.0, Observable.from_terms((complex(to_numpy(c)) * t.coeff, t.paulis)
                                              for c, o in parts for t in o.terms)
        return 1.0, self._single(obs)

    def diagonalized(self, circuit: Circuit, obs: Operator | None) -> Circuit:
        """``circuit`` followed by the gates that rotate ``obs`` into the computational basis."""
        if obs is None:
            return circuit
        gates = obs.diagonalizing_gates()
        if not gates:
            return circuit
        out = circuit.copy()
        for g in gates:
            self.append(out, g)
        return out

