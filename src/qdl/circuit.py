"""Circuits as data: a qubit count and a sequence of frozen :class:`Op` records.

A :class:`Circuit` is built by appending (``c.h(0); c.cx(0, 1); c.ry(2, "theta")``) or read
from OpenQASM; the simulator never mutates it. Gate methods take the wires first, then the
angles, each angle a number, a parameter name or an expression of names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from qdl import converters
from qdl.errors import QDLError
from qdl.expr import Binary, Expr, Func, Sym, as_expr, binary, func
from qdl.gates import GATES, lookup, unitary_row

MAX_QUBITS = 64

# Format converters, filled in by the interop layer (qdl.interop registers them on import;
# qdl.converters imports it on the first lookup). The circuit layer never imports interop,
# which sits above it: the Circuit.from_qasm / to_qasm / from_qiskit / to_qiskit conveniences
# look the converter up here instead (dependency inversion), so the layer contract needs no
# exception.
CONVERTERS: dict[str, Callable[..., object]] = {}


def _converter(name: str) -> Callable[..., object]:
    if name not in CONVERTERS:
        converters.load()
    try:
        return CONVERTERS[name]
    except KeyError:
        raise QDLError(f"no {name} converter registered: import qdl.interop first") from None
"""The widest circuit QDL represents: a state of n qubits holds 2**n amplitudes, so the
simulator's memory check refuses far fewer; this bound keeps sizes from input cheap to check."""


@dataclass(frozen=True)
class Op:
    """One gate application.

    Attributes:
        name: canonical gate name (a key of :data:`qdl.gates.GATES`).
        wires: the ``ctrl`` extra controls first, then the gate's own wires.
        params: one expression per gate parameter.
        ctrl: extra control wires from ``ctrl @`` modifiers.
    """

    name: str
    wires: tuple[int, ...]
    params: tuple[Expr, ...] = ()
    ctrl: int = 0

    @property
    def base(self) -> str:
        """Name of the gate applied on the targets once every control is satisfied."""
        return GATES[self.name].base or self.name

    @property
    def num_controls(self) -> int:
        """All control wires: ``ctrl`` modifiers plus the named gate's own controls."""
        return self.ctrl + GATES[self.name].num_controls

    def inverse(self) -> Op:
        """The op undoing this one (parameters negated where the gate allows)."""
        spec = GATES[self.name]
        base = GATES[spec.base] if spec.base else spec
        name, params = base.inverse(self.params)  # type: ignore[misc]
        if spec.base and name == base.name:
            return Op(self.name, self.wires, params, self.ctrl)
        return Op(name, self.wires, params, self.num_controls if spec.base else self.ctrl)

    def label(self) -> str:
        """Short text of the gate for drawings, e.g. ``RX(2*theta)``."""
        args = ", ".join(p.qasm() for p in self.params)
        return self.base.upper() + (f"({args})" if args else "")

    def __repr__(self) -> str:
        mods = f"ctrl({self.ctrl}) @ " if self.ctrl else ""
        args = "(" + ", ".join(p.qasm() for p in self.params) + ")" if self.params else ""
        return f"{mods}{self.name}{args} {', '.join(f'q[{w}]' for w in self.wires)}"


class Circuit:
    """A quantum circuit on ``n_qubits`` wires; wire 0 is the most significant bit.

    Gate methods are generated from the gate table: ``c.<gate>(*wires, *angles)``, with
    optional ``ctrl=[wires]`` (extra controls) and ``ctrl_values=[0, 1, ...]`` (0: the control
    fires on ``|0>``). They return the circuit, so calls chain.

    >>> c = Circuit(2).h(0).cx(0, 1).ry(1, "theta")
    >>> c.parameters
    ('theta',)
    >>> c.n_qubits, len(c.ops)
    (2, 3)
    """

    def __init__(self, n_qubits: int, ops: Iterable[Op] = (), parameters: Sequence[str] = ()):
        if not isinstance(n_qubits, int) or isinstance(n_qubits, bool) or n_qubits < 0:
            raise QDLError(f"n_qubits must be a non-negative int, got {n_qubits!r}")
        if n_qubits > MAX_QUBITS:
            shown = n_qubits if n_qubits < 10**15 else f"about 2^{n_qubits.bit_length() - 1}"
            raise QDLError(f"Circuit({shown}): more qubits than QDL can simulate (at most "
                           f"{MAX_QUBITS}: a state of n qubits holds 2**n amplitudes); use fewer "
                           "qubits")
        self.n_qubits = n_qubits
        self._ops: list[Op] = []
        self._declared: list[str] = []
        for name in parameters:
            self.declare(name)
        for op in ops:
            self.append(op)

    @property
    def ops(self) -> tuple[Op, ...]:
        """The gate applications in order."""
        return tuple(self._ops)

    @property
    def parameters(self) -> tuple[str, ...]:
        """Free parameter names: declared ones first, then the rest in order of use."""
        names = dict.fromkeys(self._declared)
        for op in self._ops:
            for p in op.params:
                names.update(dict.fromkeys(p.symbols()))
        return tuple(names)

    def declare(self, name: str) -> Circuit:
        """Declare a free parameter even if no gate uses it yet (QASM ``input float``)."""
        as_expr(name)
        if name not in self._declared:
            self._declared.append(name)
        return self

    def append(self, op: Op) -> Circuit:
        """Append a validated op; ``ctrl @ gphase`` becomes a phase gate on its controls."""
        spec = lookup(op.name)
        op = Op(spec.name, tuple(op.wires), tuple(as_expr(p) for p in op.params), op.ctrl)
        if not isinstance(op.ctrl, int) or isinstance(op.ctrl, bool) or op.ctrl < 0:
            raise QDLError(f"ctrl of gate {op.name!r} must be a non-negative int, got {op.ctrl!r}")
        need = spec.num_wires + op.ctrl
        if len(op.wires) != need:
            raise QDLError(f"gate {op.name!r} acts on {need} qubit(s), got {len(op.wires)}")
        if len(op.params) != spec.num_params:
            raise QDLError(
                f"gate {op.name!r} takes {spec.num_params} parameter(s), got {len(op.params)}"
            )
        for w in op.wires:
            if not isinstance(w, int) or isinstance(w, bool) or not 0 <= w < self.n_qubits:
                raise QDLError(
                    f"qubit {w!r} of gate {op.name!r} is out of range for a "
                    f"{self.n_qubits}-qubit circuit (valid: 0..{self.n_qubits - 1})"
                )
        if len(set(op.wires)) != len(op.wires):
            raise QDLError(f"gate {op.name!r} uses a qubit twice: wires {op.wires}")
        if op.name == "gphase" and op.ctrl:
            op = Op("p", op.wires[-1:], op.params, 0) if op.ctrl == 1 else Op(
                "p", op.wires, op.params, op.ctrl - 1
            )
        self._ops.append(op)
        return self

    def add(
        self, name: str, wires: Sequence[int], params: Sequence[object] = (), ctrl: int = 0,
        ctrl_values: Sequence[int] | None = None,
    ) -> Circuit:
        """Append gate ``name`` on ``wires`` with ``params``; ``ctrl`` adds control wires.

        The first ``ctrl`` wires are the controls; ``ctrl_values`` (one 0 or 1 per control,
        default all 1) makes a control fire on ``|0>``: like OpenQASM's ``negctrl @``, an ``x``
        before and after on each such wire.

        >>> Circuit(3).add("rx", [0, 1, 2], ["theta"], ctrl=2).ops[0]
        ctrl(2) @ rx(theta) q[0], q[1], q[2]
        >>> Circuit(2).add("x", [0, 1], ctrl=1, ctrl_values=[0]).ops
        (x q[0], ctrl(1) @ x q[0], q[1], x q[0])
        """
        op = Op(name, tuple(wires), tuple(params), ctrl)  # type: ignore[arg-type]
        if ctrl_values is None:
            return self.append(op)
        values = list(ctrl_values)
        if len(values) != ctrl or any(v not in (0, 1) or isinstance(v, bool) for v in values):
            raise QDLError(f"ctrl_values of gate {name!r} must be {ctrl} value(s), each 0 or 1, "
                           f"got {values!r}")
        Circuit(self.n_qubits).append(op)  # check the op before adding any flip
        flips = [Op("x", (w,)) for w, v in zip(op.wires, values, strict=False) if v == 0]
        for o in [*flips, op, *flips]:
            self.append(o)
        return self

    def unitary(self, wires: Sequence[int] | int, matrix: object, atol: float = 1e-6
                ) -> Circuit:
        """Append the gate with the given unitary ``matrix`` (wire 0 of it = first of ``wires``).

        A constant matrix becomes a table row named by its digest; a tensor that requires
        grad stays that tensor, so ``diff_method="backprop"`` differentiates the circuit with
        respect to it (see :func:`qdl.gates.unitary_row`).

        Raises:
            QDLError: for a matrix that is not unitary within ``atol`` or of the wrong size.

        >>> Circuit(1).unitary([0], [[0, 1], [1, 0]]).ops[0].name.startswith("unitary_")
        True
        """
        wires = [wires] if isinstance(wires, int) else list(wires)
        spec = unitary_row(matrix, atol)
        if spec.num_wires != len(wires):
            raise QDLError(f"unitary: a {2**spec.num_wires}x{2**spec.num_wires} matrix acts on "
                           f"{spec.num_wires} wire(s), got {len(wires)}")
        return self.add(spec.name, wires)

    def pauli_rot(self, theta: object, word: str, wires: Sequence[int]) -> Circuit:
        """Append ``exp(−iθ/2·P)`` for a Pauli word ``P`` (``"XYZ"``; ``I`` letters are skipped).

        PennyLane's ``PauliRot`` order of arguments. Each word is a table row
        ``pauli_rot_<word>`` with the two-term shift rule of its spectrum ±1/2.

        >>> Circuit(3).pauli_rot("t", "XIZ", [0, 1, 2]).ops
        (pauli_rot_xz(t) q[0], q[2],)
        """
        if not isinstance(word, str) or len(word) != len(wires) or set(word) - set("IXYZ"):
            raise QDLError(f"pauli_rot: word must be a string of I, X, Y, Z with one letter per "
                           f"wire, got {word!r} for {len(wires)} wire(s)")
        active = [(w, p) for w, p in zip(wires, word, strict=True) if p != "I"]
        if not active:  # exp(−iθ/2·I) is a global phase
            return self.add("gphase", [], [-as_expr(theta) / 2])  # type: ignore[operator]
        letters = "".join(p for _, p in active)
        return self.add(f"pauli_rot_{letters.lower()}", [w for w, _ in active], [theta])

    def multi_rz(self, theta: object, wires: Sequence[int]) -> Circuit:
        """Append ``exp(−iθ/2·Z⊗…⊗Z)`` on ``wires`` (PennyLane's ``MultiRZ``; diagonal).

        >>> Circuit(2).multi_rz(0.5, [0, 1]).ops
        (pauli_rot_zz(0.5) q[0], q[1],)
        """
        return self.pauli_rot(theta, "Z" * len(wires), wires)

    def __getattr__(self, name: str) -> Callable[..., Circuit]:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            spec = lookup(name)
        except QDLError:
            raise AttributeError(f"Circuit has no attribute or gate {name!r}") from None

        def gate(*args: object, ctrl: Sequence[int] = (),
                 ctrl_values: Sequence[int] | None = None) -> Circuit:
            if len(args) != spec.num_wires + spec.num_params:
                raise QDLError(
                    f"{name}() takes {spec.num_wires} wire(s) then {spec.num_params} "
                    f"angle(s), got {len(args)} argument(s)"
                )
            controls = [ctrl] if isinstance(ctrl, int) else list(ctrl)
            return self.add(name, [*controls, *args[: spec.num_wires]],  # type: ignore[list-item]
                            args[spec.num_wires :], len(controls), ctrl_values)

        gate.__name__ = name
        return gate

    def extend(self, other: Circuit) -> Circuit:
        """Append every op of ``other`` (which must fit in this circuit's wires)."""
        for name in other._declared:
            self.declare(name)
        for op in other.ops:
            self.append(op)
        return self

    def inverse(self) -> Circuit:
        """The circuit that undoes this one.

        >>> Circuit(1).s(0).rx(0, "a").inverse().ops
        (rx(-a) q[0], sdg q[0])
        """
        return Circuit(self.n_qubits, [op.inverse() for op in reversed(self._ops)], self._declared)

    def copy(self) -> Circuit:
        """A new circuit with the same ops."""
        return Circuit(self.n_qubits, self._ops, self._declared)

    def bind(self, values: dict[str, float]) -> Circuit:
        """A copy with some parameters replaced by numbers.

        >>> Circuit(1).rx(0, "a").bind({"a": 0.5}).ops
        (rx(0.5) q[0],)
        """
        out = Circuit(self.n_qubits, parameters=[n for n in self._declared if n not in values])
        env = {k: as_expr(float(v)) for k, v in values.items()}  # QDLError for NaN/inf
        for op in self._ops:
            params = tuple(_substitute(p, env) for p in op.params)
            out.append(Op(op.name, op.wires, params, op.ctrl))
        return out

    @classmethod
    def from_qasm(cls, text: str, **options: int) -> Circuit:
        """Read OpenQASM 3 (or 2.0) source; see :func:`qdl.interop.qasm.from_qasm` for the
        options (``max_ops``)."""
        return _converter("from_qasm")(text, **options)  # type: ignore[return-value]

    def to_qasm(self, version: int = 3) -> str:
        """OpenQASM 3 source (``version=2``: OpenQASM 2.0, see :func:`qdl.interop.qasm.to_qasm`);
        ``Circuit.from_qasm(c.to_qasm())`` is equivalent to ``c``."""
        return _converter("to_qasm")(self, version=version)  # type: ignore[return-value]

    @classmethod
    def from_qiskit(cls, qc: object) -> Circuit:
        """Read a ``qiskit.QuantumCircuit``; see :func:`qdl.interop.qiskit.from_qiskit`."""
        return _converter("from_qiskit")(qc)  # type: ignore[return-value]

    def to_qiskit(self) -> object:
        """This circuit as a ``qiskit.QuantumCircuit``; see :func:`qdl.interop.qiskit.to_qiskit`.
        """
        return _converter("to_qiskit")(self)

    def _key(self) -> tuple:
        return (self.n_qubits, tuple(self._ops), tuple(self.parameters))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Circuit) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __len__(self) -> int:
        return len(self._ops)

    def __repr__(self) -> str:
        return (
            f"Circuit(n_qubits={self.n_qubits}, ops={len(self._ops)}, "
            f"parameters={self.parameters})"
        )

    def __str__(self) -> str:
        return draw(self)


def _substitute(expr: Expr, env: dict[str, Expr]) -> Expr:
    """Replace symbols by expressions, refolding constants."""
    if isinstance(expr, Sym):
        return env.get(expr.name, expr)
    if isinstance(expr, Func):
        return func(expr.name, _substitute(expr.arg, env))
    if isinstance(expr, Binary):
        return binary(expr.op, _substitute(expr.left, env), _substitute(expr.right, env))
    return expr


def substitute(expr: Expr, env: dict[str, Expr]) -> Expr:
    """Replace the symbols named in ``env`` inside ``expr`` (used to inline gate bodies).

    >>> from qdl.expr import Sym
    >>> substitute(2 * Sym("a"), {"a": Sym("b") + 1})
    2.0 * (b + 1.0)
    """
    return _substitute(expr, env)


def draw(circuit: Circuit, max_width: int = 100) -> str:
    """Text drawing, one line per wire; ``●`` marks controls, ``X`` a CNOT target.

    Lines longer than ``max_width`` are cut (ending in ``…``); only the columns that show are
    drawn, so the cost is one pass over the ops whatever their number.

    >>> print(draw(Circuit(2).h(0).cx(0, 1)))
    q0: ─H──●─
    q1: ────X─
    """
    n = circuit.n_qubits
    prefix = len(f"q{n - 1}: ")
    # Every column is at least 3 characters wide, so later ones are cut off entirely.
    shown = max(0, (max_width - prefix) // 3 + 1)
    columns: list[dict[int, str]] = []
    free = [0] * n
    for op in circuit.ops:
        if not op.wires:
            continue
        lo, hi = min(op.wires), max(op.wires)
        col = max(free[lo : hi + 1])
        for w in range(lo, hi + 1):
            free[w] = col + 1
        if col >= shown:
            continue
        if col == len(columns):
            columns.append({})
        columns[col].update({w: "│" for w in range(lo + 1, hi)} | _cells(op))
    rows = [[f"q{w}: ".ljust(prefix)] for w in range(n)]
    width = prefix
    for col in columns:
        cell = max(len(t) for t in col.values())
        for w in range(n):
            rows[w].append("─" + col.get(w, "").center(cell, "─") + "─")
        width += cell + 2
        if width > max_width:
            break
    lines = ["".join(row) for row in rows]
    if width > max_width:
        lines = [line[: max_width - 1] + "…" for line in lines]
    return "\n".join(lines)


def _cells(op: Op) -> dict[int, str]:
    nc = op.num_controls
    controls, targets = op.wires[:nc], op.wires[nc:]
    cells = dict.fromkeys(controls, "●")
    if op.base == "x" and nc:
        cells[targets[0]] = "X"
    elif op.base == "swap":
        cells.update(dict.fromkeys(targets, "x"))
    else:
        label = op.label()
        cells.update({t: label if i == 0 else f"{op.base.upper()}{i}" for i, t in
                      enumerate(targets)})
    return cells
