"""Circuits to and from Qiskit ``QuantumCircuit`` s, bound or with free parameters.

Qubit ``i`` of the Qiskit circuit is wire ``i`` of the QDL circuit, and gates keep their
wire order (a ``cx(0, 1)`` stays control 0, target 1). Only the bit order of *basis
indices* differs: QDL's wire 0 is the most significant bit, Qiskit's qubit 0 the least, so
``qdl.state(c)`` equals ``Statevector(c.to_qiskit()).reverse_qargs().data``.

Free parameters become ``qiskit.circuit.Parameter`` s of the same name and angle expressions
become ``ParameterExpression`` s; in the other direction expressions are read back through
``ParameterExpression.sympify()``. Names that are not identifiers (``x[3]`` from a
``ParameterVector``) become identifiers (``x_3``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from qdl.circuit import Circuit, Op
from qdl.errors import QDLError
from qdl.expr import Binary, Const, Expr, Func, Sym, binary, func
from qdl.gates import GATES, lookup
from qdl.interop.qiskit._common import require

__all__ = ["from_qiskit", "to_qiskit"]

_SKIP = frozenset({"barrier", "delay"})
# Qiskit names QDL spells differently (everything else is looked up by the same name).
_FROM_QISKIT = {"u1": "p", "u3": "u", "cu1": "cp", "c3sx": "c3sqrtx", "global_phase": "gphase"}
_QISKIT_FUNCS = {"sin": "sin", "cos": "cos", "tan": "tan", "arcsin": "arcsin",
                 "arccos": "arccos", "arctan": "arctan", "exp": "exp", "ln": "log"}


# --------------------------------------------------------------------------------------------
# QDL -> Qiskit
# --------------------------------------------------------------------------------------------


def _gate_factory(name: str) -> Callable[..., Any]:
    """Constructor of the Qiskit gate for a QDL table gate."""
    lib = require("qiskit.circuit.library")
    special = {"c3x": lib.C3XGate, "c4x": lib.C4XGate, "c3sqrtx": lib.C3SXGate,
               "iswap_dg": lambda: lib.iSwapGate().inverse()}
    if name in special:
        return special[name]
    return type(lib.get_standard_gate_name_mapping()[name])


def _qdl_name(name: str) -> str:
    """QDL's name for a Qiskit instruction name (``qdl_<gate>``: written by :func:`to_qiskit`)."""
    name = _FROM_QISKIT.get(name, name)
    return name[4:] if name.startswith("qdl_") else name


def _decomposed(name: str, params: Sequence[Expr], symbols: Mapping[str, Any], qiskit: Any
                ) -> Any:
    """A gate outside Qiskit's library (``rot``, excitations, Pauli words) as a Qiskit gate
    whose definition is the table's decomposition into standard gates."""
    spec = GATES[name]
    # Not QDL's own name: reading it back must decompose it, as its params are the circuit's.
    sub = qiskit.QuantumCircuit(spec.num_wires, name=f"qdl_{name}")
    for gate, wires, args in spec.decompose(tuple(params)):  # type: ignore[misc]
        values = [_to_parameter(a, symbols) for a in args]
        if gate == "gphase":
            sub.global_phase += values[0]
        elif GATES[gate.lower()].decompose:
            sub.append(_decomposed(gate, args, symbols, qiskit), list(wires))
        else:
            sub.append(_gate_factory(gate.lower())(*values), list(wires))
    gate = qiskit.circuit.Gate(sub.name, spec.num_wires,
                               [_to_parameter(p, symbols) for p in params])
    gate.definition = sub
    return gate


def _to_parameter(expr: Expr, symbols: Mapping[str, Any]) -> Any:
    """A QDL expression as a float or a Qiskit ``ParameterExpression``."""
    if isinstance(expr, Const):
        return expr.value
    if isinstance(expr, Sym):
        return symbols[expr.name]
    if isinstance(expr, Binary):
        left, right = _to_parameter(expr.left, symbols), _to_parameter(expr.right, symbols)
        return {"+": lambda: left + right, "-": lambda: left - right,
                "*": lambda: left * right, "/": lambda: left / right,
                "**": lambda: left**right}[expr.op]()
    assert isinstance(expr, Func)
    arg = _to_parameter(expr.arg, symbols)
    if expr.name == "neg":
        return -arg
    if expr.name == "sqrt":
        return arg**0.5
    return getattr(arg, _QISKIT_FUNCS[expr.name])()


def to_qiskit(circuit: Circuit) -> Any:
    """The circuit as a ``qiskit.QuantumCircuit`` (free parameters as ``Parameter`` s).

    ``ctrl @`` modifiers become ``Gate.control(k)``; ``gphase`` goes into the circuit's
    ``global_phase``.

    >>> qc = to_qiskit(Circuit(2).h(0).cx(0, 1).rx(1, "theta"))
    >>> [i.operation.name for i in qc.data], [p.name for p in qc.parameters]
    (['h', 'cx', 'rx'], ['theta'])
    """
    qiskit = require("qiskit")
    symbols = {name: qiskit.circuit.Parameter(name) for name in circuit.parameters}
    qc = qiskit.QuantumCircuit(circuit.n_qubits)
    for op in circuit.ops:
        params = [_to_parameter(p, symbols) for p in op.params]
        if op.name == "gphase":
            qc.global_phase += params[0]
            continue
        gate = (_decomposed(op.name, op.params, symbols, qiskit) if GATES[op.name].decompose
                else _gate_factory(op.name)(*params))
        qc.append(gate.control(op.ctrl, annotated=False) if op.ctrl else gate, list(op.wires))
    return qc


# --------------------------------------------------------------------------------------------
# Qiskit -> QDL
# --------------------------------------------------------------------------------------------


def _identifier(name: str, taken: set[str]) -> str:
    ident = re.sub(r"\W", "_", name).strip("_") or "p"
    if not ident.isidentifier():
        ident = f"p_{ident}"
    out, k = ident, 1
    while out in taken:
        out, k = f"{ident}_{k}", k + 1
    taken.add(out)
    return out


def _from_sympy(e: Any, names: Mapping[str, str]) -> Expr:
    """A sympy expression (from ``ParameterExpression.sympify``) as a QDL expression."""
    sympy = require("sympy")
    if e.is_Symbol:
        return Sym(names[e.name])
    if e.is_number:
        value = complex(e)
        if value.imag:
            raise QDLError(f"parameter expression {e} is complex; gate angles must be real")
        return Const(value.real)
    args = [_from_sympy(a, names) for a in e.args]
    if e.is_Add or e.is_Mul:
        out = args[0]
        for a in args[1:]:
            out = binary("+" if e.is_Add else "*", out, a)
        return out
    if e.is_Pow:
        return binary("**", args[0], args[1])
    funcs = {sympy.sin: "sin", sympy.cos: "cos", sympy.tan: "tan", sympy.asin: "arcsin",
             sympy.acos: "arccos", sympy.atan: "arctan", sympy.exp: "exp", sympy.log: "ln"}
    if e.func in funcs:
        return func(funcs[e.func], args[0])
    raise QDLError(f"cannot convert the parameter expression {e} (function {e.func}); QDL "
                   "angles use + - * / ** and sin cos tan arcsin arccos arctan exp ln sqrt")


class _Reader:
    """Walks a ``QuantumCircuit`` (and, for unknown gates, their definitions) into ops."""

    def __init__(self, qc: Any):
        self.qiskit = require("qiskit")
        self.names: dict[str, str] = {}
        taken: set[str] = set()
        for p in qc.parameters:
            self.names[p.name] = _identifier(p.name, taken)
        self.circuit = Circuit(qc.num_qubits, parameters=list(self.names.values()))
        self.measured: set[int] = set()

    def angle(self, value: Any) -> Expr:
        expr_type = self.qiskit.circuit.ParameterExpression
        if not isinstance(value, expr_type):
            try:
                return Const(float(value))
            except (TypeError, ValueError):
                raise QDLError(f"gate parameter {value!r} is not a real number") from None
        if not value.parameters:
            try:
                return Const(float(value))
            except TypeError:
                raise QDLError(f"parameter expression {value} is complex; gate angles must "
                               "be real") from None
        if isinstance(value, self.qiskit.circuit.Parameter):
            return Sym(self.names[value.name])
        sym = value.sympify()
        if sym is NotImplemented:
            raise QDLError(f"cannot convert the parameter expression {value}")
        return _from_sympy(sym, self.names)

    def read(self, qc: Any, wires: Sequence[int]) -> None:
        """Append ``qc`` acting on ``wires`` (its qubit ``i`` is wire ``wires[i]``)."""
        for inst in qc.data:
            qubits = [wires[qc.find_bit(q).index] for q in inst.qubits]
            self.instruction(inst.operation, qubits)
        if _nonzero(qc.global_phase):
            self.circuit.add("gphase", [], [self.angle(qc.global_phase)])

    def instruction(self, op: Any, qubits: list[int]) -> None:
        name = op.name
        if name in _SKIP:
            return
        if name == "measure":
            self.measured.update(qubits)
            return
        if isinstance(op, self.qiskit.circuit.ControlFlowOp) or name == "reset":
            raise QDLError(f"qiskit instruction {name!r} is not supported: QDL simulates "
                           "unitary circuits (no reset, classical control or loops)")
        if self.measured.intersection(qubits):
            raise QDLError(f"qiskit instruction {name!r} acts on a measured qubit; "
                           "mid-circuit measurement is not supported (move measurements to "
                           "the end)")
        if self.annotated(op, qubits):
            return
        if not self.direct(op, qubits) and not self.controlled(op, qubits):
            if op.definition is None:
                raise QDLError(f"qiskit instruction {name!r} has no QDL equivalent and no "
                               "definition to decompose")
            self.read(op.definition, qubits)

    def direct(self, op: Any, qubits: list[int]) -> bool:
        name = _qdl_name(op.name)
        spec = GATES.get(name) or (lookup(name) if name.startswith("pauli_rot_") else None)
        if spec is None or spec.num_params != len(op.params) or spec.num_wires != len(qubits):
            return False
        self.circuit.add(name, qubits, [self.angle(p) for p in op.params])
        return True

    def controlled(self, op: Any, qubits: list[int]) -> bool:
        """A controlled gate on all-ones controls whose base gate QDL knows."""
        if not isinstance(op, self.qiskit.circuit.ControlledGate):
            return False
        k, base = op.num_ctrl_qubits, op.base_gate
        name = _qdl_name(base.name)
        # Extra parameters of the controlled gate itself (cu's γ) have no QDL counterpart.
        extra = op.params[len(base.params):]  # cu's γ: a controlled phase, fine when 0
        known = name in GATES or name.startswith("pauli_rot_")
        if op.ctrl_state != 2**k - 1 or not known or lookup(name).num_params != len(
                base.params) or any(not isinstance(x, float | int) or x != 0 for x in extra):
            return False
        params = [self.angle(p) for p in base.params]
        # Prefer a named table gate (c3x over ctrl(3) @ x) so noise rules find it by name.
        named = next((g for g, s in GATES.items() if s.base == name and s.num_controls == k),
                     None)
        if named is not None:
            self.circuit.add(named, qubits, params)
        else:
            self.circuit.append(Op(name, tuple(qubits), tuple(params), k))
        return True


    def annotated(self, op: Any, qubits: list[int]) -> bool:
        """An ``AnnotatedOperation``: the base operation's ops with its modifiers applied."""
        circuit_mod = self.qiskit.circuit
        if not isinstance(op, circuit_mod.AnnotatedOperation):
            return False
        n_ctrl = sum(m.num_ctrl_qubits for m in op.modifiers
                     if isinstance(m, circuit_mod.ControlModifier))
        outer, self.circuit = self.circuit, Circuit(self.circuit.n_qubits)
        try:
            self.instruction(op.base_op, qubits[n_ctrl:])
            ops = list(self.circuit.ops)
        finally:
            self.circuit = outer
        free = qubits[:n_ctrl]  # later control modifiers sit further to the front
        for m in op.modifiers:
            if isinstance(m, circuit_mod.ControlModifier):
                controls, free = free[len(free) - m.num_ctrl_qubits:], free[:len(free) -
                                                                           m.num_ctrl_qubits]
                ops = _controlled_ops(ops, controls, m.ctrl_state)
            else:
                ops = _power_ops(ops, -1 if isinstance(m, circuit_mod.InverseModifier) else
                                 m.power)
        for o in ops:
            self.circuit.append(o)
        return True


def _controlled_ops(ops: list[Op], controls: list[int], ctrl_state: int) -> list[Op]:
    """``ops`` controlled on ``controls`` (bit ``i`` of ``ctrl_state`` for ``controls[i]``)."""
    flips = [Op("x", (c,)) for i, c in enumerate(controls) if not (ctrl_state >> i) & 1]
    inner = [Op(o.name, (*controls, *o.wires), o.params, o.ctrl + len(controls)) for o in ops]
    return flips + inner + flips


def _power_ops(ops: list[Op], power: float) -> list[Op]:
    if float(power) != int(power):
        raise QDLError(f"pow({power}) modifiers are supported for integer powers only")
    if power < 0:
        ops = [o.inverse() for o in reversed(ops)]
    return ops * abs(int(power))


def _nonzero(phase: Any) -> bool:
    try:
        return float(phase) != 0.0
    except TypeError:
        return True  # a parameterized global phase


def from_qiskit(qc: Any) -> Circuit:
    """A ``qiskit.QuantumCircuit`` as a QDL :class:`~qdl.circuit.Circuit`.

    Gates QDL knows (by name, or as controlled versions of them) map one to one; others are
    replaced by their Qiskit definitions, recursively. Barriers, delays and final
    measurements are dropped; resets, classical control and mid-circuit measurements raise
    ``QDLError``.

    >>> from qiskit import QuantumCircuit
    >>> qc = QuantumCircuit(2)
    >>> _ = qc.h(0), qc.cx(0, 1)
    >>> from_qiskit(qc).ops
    (h q[0], cx q[0], q[1])
    """
    qiskit = require("qiskit")
    if not isinstance(qc, qiskit.QuantumCircuit):
        raise QDLError(f"from_qiskit expects a qiskit.QuantumCircuit, got {type(qc).__name__}")
    reader = _Reader(qc)
    reader.read(qc, list(range(qc.num_qubits)))
    return reader.circuit
