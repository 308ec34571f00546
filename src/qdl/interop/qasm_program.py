"""The program an OpenQASM reader builds, shared by both lanes of :mod:`qdl.interop.qasm`.

Limits on hostile input, gate definitions and their (lazy) expansion, registers, and the
semantic state -- declarations, gates, values -- that the reference-parser lane and the fast
lane fill statement by statement. Every error is a :class:`~qdl.errors.QDLError` that starts
with ``line N:`` (:func:`err`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from openqasm3 import ast

from qdl.circuit import MAX_QUBITS, Circuit, Op
from qdl.errors import QDLError
from qdl.expr import Binary, Const, Expr, Func, Sym, binary, func
from qdl.gates import GATES, STDGATES, GateSpec, lookup

MAX_OPS = 100_000
"""Operation budget of :func:`from_qasm` for small programs: a program may expand to
``max(MAX_OPS, OPS_PER_CHAR * len(text))`` operations unless ``max_ops`` says otherwise."""
OPS_PER_CHAR = 16
"""Operations each character of a program adds to the default budget, so that a large file is
never refused for its size (a broadcast ``h q;`` on 64 qubits gives 13 per character) while a
short one cannot describe more work than ``MAX_OPS`` (``pow(10**9) @ x q[0];``)."""
MAX_EXPR_DEPTH = 100
"""How deeply an angle expression may nest (operators, functions, unary minus)."""
MAX_NESTING = 32
"""How deeply brackets and unary minus may nest in the text: the reference parser's time grows
with the square of the nesting (a second at 100 levels) and its shared prediction cache with
every new shape."""
MAX_EXPR_SIZE = 1000
"""How many terms an angle expression may hold once gate parameters are substituted."""
# Calls inside a gate body that expand to at most this many operations are expanded once, when
# the gate is defined; larger ones stay calls, expanded on use, so that a definition costs its
# text, not its expansion (40 nested definitions doubling each other describe 2**40 ops).
_EAGER_OPS = 4096
# Kept calls nest one level per definition; this bounds the recursion when they expand.
_MAX_NESTING = 50

KEYWORDS = frozenset(
    "#dim OPENQASM angle array barrier bit bool box break cal case complex const continue creg "
    "ctrl def default defcal defcalgrammar delay duration durationof else end extern float for "
    "gate gphase if im in include input int inv let measure mutable negctrl output pow qreg qubit "
    "readonly reset return stretch switch uint void while true false pragma opaque".split()
)
_CONSTANTS = {"pi": math.pi, "π": math.pi, "tau": math.tau, "τ": math.tau, "euler": math.e,
              "ℇ": math.e}
RESERVED = KEYWORDS | frozenset(_CONSTANTS)
_FUNCTIONS = {"sin", "cos", "tan", "exp", "ln", "log", "sqrt", "arcsin", "arccos", "arctan"}
_BINARY_OPS = {"+": "+", "-": "-", "*": "*", "/": "/", "**": "**"}

# Gates that neither the gate table nor its aliases know, from stdgates.inc and qelib1.inc.
LIBRARY = {
    "cu": "gate cu(theta, phi, lambda, gamma) c, t "
    "{ p(gamma) c; ctrl @ U(theta, phi, lambda) c, t; }",
    "u0": "gate u0(gamma) q { U(0, 0, 0) q; }",
    "rccx": "gate rccx a, b, c { u2(0, pi) c; u1(pi/4) c; cx b, c; u1(-pi/4) c; cx a, c; "
    "u1(pi/4) c; cx b, c; u1(-pi/4) c; u2(0, pi) c; }",
    "rc3x": "gate rc3x a, b, c, d { u2(0, pi) d; u1(pi/4) d; cx c, d; u1(-pi/4) d; u2(0, pi) d; "
    "cx a, d; u1(pi/4) d; cx b, d; u1(-pi/4) d; cx a, d; u1(pi/4) d; cx b, d; u1(-pi/4) d; "
    "u2(0, pi) d; u1(pi/4) d; cx c, d; u1(-pi/4) d; u2(0, pi) d; }",
}
_QELIB1 = frozenset(
    "u3 u2 u1 cx id u0 x y z h s sdg t tdg rx ry rz cz cy swap ch ccx cswap crx cry crz cu1 cu3 "
    "rxx rzz rccx rc3x c3x c3sqrtx c4x".split()
)
INCLUDES = {"stdgates.inc": STDGATES - {"U", "gphase"}, "qelib1.inc": _QELIB1}

_MID_MEASURE_FIX = (
    "mid-circuit measurement is not supported (QDL simulates pure states); move the "
    "measurement to the end or replace it by controlled gates (deferred measurement)"
)
UNSUPPORTED: dict[type, str] = {
    ast.BranchingStatement: "if statements (classically controlled gates) are not supported; "
    "QDL has no classical feedback -- replace `if (c) g q;` by a controlled gate on the "
    "unmeasured qubit (deferred measurement)",
    ast.ForInLoop: "for loops are not supported; unroll the loop",
    ast.WhileLoop: "while loops are not supported; unroll the loop",
    ast.SubroutineDefinition: "subroutine definitions (def) are not supported; use a `gate` "
    "definition",
    ast.ClassicalAssignment: "classical assignments are not supported",
    ast.SwitchStatement: "switch statements are not supported",
    ast.Box: "box statements are not supported; remove the box",
    ast.DelayInstruction: "delay is not supported; remove it (timing has no effect on the state)",
    ast.CalibrationDefinition: "defcal blocks are not supported",
    ast.CalibrationStatement: "cal blocks are not supported",
    ast.CalibrationGrammarDeclaration: "defcalgrammar is not supported",
    ast.ExternDeclaration: "extern declarations are not supported",
    ast.AliasStatement: "let aliases are not supported; use the register directly",
    ast.BreakStatement: "break is not supported",
    ast.ContinueStatement: "continue is not supported",
    ast.EndStatement: "end is not supported",
    ast.ReturnStatement: "return is not supported",
    ast.ExpressionStatement: "expression statements (such as subroutine calls) are not supported",
    ast.CompoundStatement: "scoped blocks { ... } are not supported; remove the braces",
}
_BUDGET = (
    " (by default 100,000, or 16 per character of a longer program); to read a larger circuit "
    "pass from_qasm(text, max_ops=...) or qdl run/draw --max-ops"
)
RESET_ERROR = (
    "reset is not supported; QDL simulates pure states that start in |0...0>, so remove the "
    "reset or use a fresh qubit"
)

Operand = int | tuple[int, ...]  # one wire, or the wires of a register to broadcast over
Modifier = tuple[str, int]  # ("ctrl" | "negctrl" | "inv" | "pow", count or power)


def err(line: int, message: str) -> QDLError:
    return QDLError(f"line {line}: {message}")


# --------------------------------------------------------------------------------------------
# Gate definitions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    """A call inside a gate body kept unexpanded because it expands to many operations."""

    gate: GateSpec | GateDef
    wires: tuple[int, ...]  # local wires of the enclosing gate, controls first
    args: tuple[Expr, ...]
    mods: tuple[Modifier, ...]


@dataclass(frozen=True)
class GateDef:
    """A user ``gate``: its body compiled to ops on local wires ``0..num_wires-1``.

    Parameters appear in the body as symbols ``_p0, _p1, ...`` that a call substitutes. Small
    calls are expanded into ops when the gate is defined, large ones stay :class:`_Step` s.
    """

    name: str
    num_params: int
    num_wires: int
    items: tuple[Op | _Step, ...]
    count: int  # operations one call expands to
    nesting: int = 0  # levels of kept calls below this gate

    def instantiate(self, wires: Sequence[int], args: Sequence[Expr]) -> list[Op]:
        sub = _Substitution({f"_p{i}": a for i, a in enumerate(args)}, self.name)
        ops: list[Op] = []
        for item in self.items:
            if isinstance(item, Op):
                ops.append(Op(item.name, tuple(wires[w] for w in item.wires),
                              tuple(sub(p) for p in item.params), item.ctrl))
            else:
                ops += _apply(item.gate, item.mods, [sub(a) for a in item.args],
                              [wires[w] for w in item.wires])
        return ops


class _Substitution:
    """Gate arguments put in for ``_p0, _p1, ...`` in body expressions.

    Arguments that reach a gate through nested definitions are shared, not copied, so an
    expression can describe far more terms than it holds objects: each shared node is visited
    once, and results beyond :data:`MAX_EXPR_SIZE` terms or :data:`MAX_EXPR_DEPTH` levels are
    refused before anything walks them as a tree.
    """

    def __init__(self, env: dict[str, Expr], gate: str):
        self.env = env
        self.gate = gate
        self.memo: dict[int, tuple[Expr, int, int]] = {}  # id(node) -> (result, size, depth)
        self.shapes: dict[int, tuple[int, int]] = {}  # id(argument node) -> (size, depth)

    def __call__(self, expr: Expr) -> Expr:
        return expr if isinstance(expr, Const) else self.visit(expr)[0]

    def visit(self, node: Expr) -> tuple[Expr, int, int]:
        found = self.memo.get(id(node))
        if found is not None:
            return found
        if isinstance(node, Func):
            arg, size, depth = self.visit(node.arg)
            found = (func(node.name, arg), size + 1, depth + 1)
        elif isinstance(node, Binary):
            left, lsize, ldepth = self.visit(node.left)
            right, rsize, rdepth = self.visit(node.right)
            found = (binary(node.op, left, right), lsize + rsize + 1, max(ldepth, rdepth) + 1)
        else:  # Sym or Const; arguments were checked when they were made
            value = self.env.get(node.name, node) if isinstance(node, Sym) else node
            found = (value, *_shape(value, self.shapes))
        if isinstance(found[0], Const):
            found = (found[0], 1, 1)
        if found[1] > MAX_EXPR_SIZE or found[2] > MAX_EXPR_DEPTH:
            raise QDLError(
                f"an angle expression grows to {_amount(found[1])} terms nested {found[2]} "
                f"levels deep when gate '{self.gate}' is expanded (at most {MAX_EXPR_SIZE} "
                f"terms and {MAX_EXPR_DEPTH} levels); pass simpler arguments to nested gates")
        self.memo[id(node)] = found
        return found


def _shape(expr: Expr, memo: dict[int, tuple[int, int]]) -> tuple[int, int]:
    """Terms and depth of ``expr`` as a tree, visiting shared nodes once."""
    if isinstance(expr, Const | Sym):
        return 1, 1
    found = memo.get(id(expr))
    if found is None:
        parts = [expr.arg] if isinstance(expr, Func) else [expr.left, expr.right]  # type: ignore[attr-defined]
        shapes = [_shape(p, memo) for p in parts]
        found = (1 + sum(s for s, _ in shapes), 1 + max(d for _, d in shapes))
        memo[id(expr)] = found
    return found


def _amount(n: int | float) -> str:
    """A number for a message: in full when short, by its size when not."""
    if isinstance(n, float) or abs(n) < 10**15:
        return str(n)
    return f"about 10^{int(n.bit_length() * math.log10(2))}"


def _count(gate: GateSpec | GateDef, mods: Sequence[Modifier]) -> int:
    """How many operations a call expands to, known without expanding it: the most at any
    step, since ``pow(0) @ pow(10**10) @ x`` builds the inner list before emptying it."""
    count = peak = gate.count if isinstance(gate, GateDef) else 1
    for kind, n in reversed(mods):  # innermost first, as _apply applies them
        if kind == "pow":
            count *= abs(n)
        elif kind == "negctrl":
            count += 2 * n  # an X before and after on each control
        peak = max(peak, count)
    return peak


def _apply(gate: GateSpec | GateDef, mods: Sequence[Modifier], args: Sequence[Expr],
           wires: Sequence[int]) -> list[Op]:
    """The ops of one checked gate application on distinct wires, modifiers applied."""
    base = tuple(wires[control_count(mods):])
    if isinstance(gate, GateSpec):
        ops = [Op(gate.name, base, tuple(args), 0)]
    else:
        ops = gate.instantiate(base, args)
    groups, pos = [], 0
    for kind, n in mods:
        k = n if kind in ("ctrl", "negctrl") else 0
        groups.append(tuple(wires[pos : pos + k]))
        pos += k
    for (kind, n), controls in zip(reversed(mods), reversed(groups), strict=True):
        ops = _MODIFY[kind](ops, n, controls)
    return ops


@dataclass
class Body:
    """The scope of a gate body being compiled."""

    name: str
    params: list[str]
    scope: dict[str, Expr]
    qubits: dict[str, int]
    items: list[Op | _Step] = field(default_factory=list)
    count: int = 0
    nesting: int = 0

    def definition(self) -> GateDef:
        return GateDef(self.name, len(self.params), len(self.qubits), tuple(self.items),
                        self.count, self.nesting)


def _inverse(ops: list[Op], _n: int, _controls: tuple[int, ...]) -> list[Op]:
    return [op.inverse() for op in reversed(ops)]


def _power(ops: list[Op], n: int, _controls: tuple[int, ...]) -> list[Op]:
    if not ops:  # pow(10**30) @ pow(0) @ x: nothing to repeat, and no list that long exists
        return []
    return ops * n if n >= 0 else _inverse(ops, 0, ()) * -n


def _control(ops: list[Op], _n: int, controls: tuple[int, ...]) -> list[Op]:
    return [Op(op.name, controls + op.wires, op.params, op.ctrl + len(controls)) for op in ops]


def _negcontrol(ops: list[Op], n: int, controls: tuple[int, ...]) -> list[Op]:
    flips = [Op("x", (w,)) for w in controls]
    return flips + _control(ops, n, controls) + flips


_MODIFY: dict[str, Callable[[list[Op], int, tuple[int, ...]], list[Op]]] = {
    "inv": _inverse, "pow": _power, "ctrl": _control, "negctrl": _negcontrol,
}


# --------------------------------------------------------------------------------------------
# The program being built: declarations, gate calls and their meaning, shared by both lanes
# --------------------------------------------------------------------------------------------


@dataclass
class Register:
    start: int
    size: int
    scalar: bool  # declared as `qubit q;`: a single qubit, not indexable


class Program:
    """Semantic state of a program being read; every method takes the source line."""

    def __init__(self, compile_definition: Callable[[str], GateDef], v2: bool = False,
                 library: bool = False, max_ops: int = MAX_OPS):
        # Built-in definitions (stdgates/qelib1 gates written in QASM) are compiled by the
        # reader itself, which sits above this module: it hands its compiler in.
        self.compile_definition = compile_definition
        self.v2 = v2
        self.max_ops = max_ops
        self.library = library  # compiling a built-in definition: table gates only
        self.qregs: dict[str, Register] = {}
        self.cregs: dict[str, int | None] = {}  # size, None for a single `bit c;`
        self.values: dict[str, Expr] = {}  # inputs (Sym) and constants (Const)
        self.declared: dict[str, int] = {}  # every global name -> line of its declaration
        self.inputs: list[str] = []
        self.labels: list[str] = []
        self.physical: set[int] = set()
        self.gates: dict[str, GateSpec | GateDef] = {}
        self.includes: set[str] = set()
        self.ops: list[Op] = []
        self.op_lines: list[int] = []
        self.measured: dict[int, int] = {}
        self.started = False
        self.defining: str | None = None
        self.arg_cache: dict[str, tuple[Expr, ...]] = {}
        self.operand_cache: dict[str, list[Operand]] = {}

    # ---- declarations -----------------------------------------------------------------------

    def version(self, text: str, line: int) -> None:
        if self.started:
            raise err(line, "the OPENQASM version statement must be the first statement")
        if text.split(".")[0] not in ("2", "3"):
            raise err(line, f"OpenQASM version {text} is not supported; use 2.0 or 3")
        self.v2 = text.startswith("2")

    def include(self, filename: str, line: int) -> None:
        if filename not in INCLUDES:
            raise err(
                line,
                f'cannot include "{filename}": only "stdgates.inc" and "qelib1.inc" are built '
                "in and no file is read from disk; paste the gate definitions into the program",
            )
        self.includes.add(filename)
        self.started = True

    def _declare(self, name: str, line: int) -> None:
        if name in RESERVED:
            raise err(line, f"'{name}' is a reserved word of OpenQASM; choose another name")
        if name in self.declared:
            raise err(line, f"'{name}' is already declared (line {self.declared[name]})")
        self.declared[name] = line
        self.started = True

    def qubits(self, name: str, size: int | None, line: int) -> None:
        self._declare(name, line)
        if size is not None and size < 1:
            raise err(line, f"qubit register '{name}' must have at least one qubit")
        if self.physical:
            raise err(line, "cannot mix declared qubits with physical qubits ($0, $1, ...)")
        start = len(self.labels)
        if start + (size or 1) > MAX_QUBITS:
            raise err(line, f"register {name}[{_amount(size or 1)}] brings the program to "
                             f"{_amount(start + (size or 1))} qubits, more than QDL can simulate "
                             f"(at most {MAX_QUBITS}: a state of n qubits holds 2**n "
                             "amplitudes); declare fewer qubits")
        self.qregs[name] = Register(start, size or 1, size is None)
        self.labels += [name] if size is None else [f"{name}[{i}]" for i in range(size)]

    def bits(self, name: str, size: int | None, line: int) -> None:
        self._declare(name, line)
        if size is not None and size < 1:
            raise err(line, f"bit register '{name}' must have at least one bit")
        self.cregs[name] = size

    def input(self, name: str, line: int) -> None:
        self._declare(name, line)
        self.values[name] = Sym(name)
        self.inputs.append(name)

    def const(self, name: str, value: Expr, line: int) -> None:
        if not isinstance(value, Const):
            raise err(line, f"constant '{name}' must not depend on inputs {value.symbols()}")
        self._declare(name, line)
        self.values[name] = value

    def define(self, name: str, body: Body, line: int) -> None:
        """Register a compiled gate; a copy of a table gate's own definition maps to it."""
        self.started = True
        if name in self.gates:
            raise err(line, f"gate '{name}' is already defined")
        for inc in self.includes:
            if name in INCLUDES[inc]:
                raise err(line, f"gate '{name}' is already defined by {inc}; rename it")
        gate = body.definition()
        spec = GATES.get(name)
        if spec is not None and spec.qasm_def and gate == self.compile_definition(
                spec.qasm_def):
            self.gates[name] = spec
        else:
            self.gates[name] = gate

    # ---- operands ---------------------------------------------------------------------------

    def qubit(self, name: str, index: int | None, line: int) -> Operand:
        """One wire (``q[i]``, scalar ``q``, ``$i``) or a whole register (``q``)."""
        if name.startswith("$"):
            return self._physical(name, line)
        reg = self.qregs.get(name)
        if reg is None:
            what = (f"'{name}' is a bit register, not qubits" if name in self.cregs
                    else f"unknown qubit register '{name}'")
            raise err(line, f"{what}; declare qubits with `qubit[n] {name};` "
                             f"(OpenQASM 2: `qreg {name}[n];`) before using them")
        if index is None:
            return reg.start if reg.scalar else tuple(range(reg.start, reg.start + reg.size))
        if reg.scalar:
            raise err(line, f"qubit '{name}' is a single qubit and cannot be indexed")
        if not -reg.size <= index < reg.size:
            raise err(
                line,
                f"qubit index {_amount(index)} is out of range for register '{name}' of size "
                f"{reg.size} (valid: 0..{reg.size - 1})",
            )
        return reg.start + index % reg.size

    def _physical(self, name: str, line: int) -> int:
        if self.labels:
            raise err(line, f"cannot mix physical qubit {name} with declared qubits")
        # A long digit string is out of range whatever it says; int() would refuse past 4300.
        index = int(name[1:]) if len(name) <= 6 else MAX_QUBITS
        if index >= MAX_QUBITS:
            shown = name if len(name) <= 20 else f"{name[:12]}... ({len(name) - 1} digits)"
            raise err(line, f"physical qubit {shown} is beyond the {MAX_QUBITS} qubits QDL can "
                             f"simulate; use $0..${MAX_QUBITS - 1}")
        self.physical.add(index)
        return index

    def bit_size(self, name: str, index: int | None, line: int) -> int | None:
        """Validate a classical target; the register size, or ``None`` for one bit."""
        if name not in self.cregs:
            raise err(
                line,
                f"'{name}' is not a declared bit register; declare it with `bit[n] {name};` "
                f"(OpenQASM 2: `creg {name}[n];`)",
            )
        size = self.cregs[name]
        if index is None:
            return size
        if size is None or not -size <= index < size:
            raise err(line, f"bit index {_amount(index)} is out of range for '{name}'")
        return None

    def label(self, wire: int) -> str:
        return f"${wire}" if self.physical else self.labels[wire]

    # ---- expressions ------------------------------------------------------------------------

    def expr(self, node: ast.Expression, scope: dict[str, Expr], line: int,
             where: str = "") -> Expr:
        """Convert an AST expression to an :class:`Expr` (constants folded)."""
        try:
            return self._expr(node, scope, line, where)
        except QDLError as exc:
            if str(exc).startswith("line "):
                raise
            raise err(line, str(exc)) from None

    def _expr(self, node: ast.Expression, scope: dict[str, Expr], line: int, where: str,
              depth: int = 1) -> Expr:
        if depth > MAX_EXPR_DEPTH:
            raise err(line, f"the expression nests more than {MAX_EXPR_DEPTH} levels deep; "
                             "simplify it or split it with const declarations")
        if isinstance(node, ast.IntegerLiteral | ast.FloatLiteral):
            return _literal(node.value, line)
        if isinstance(node, ast.Identifier):
            return self._identifier(node.name, scope, line, where)
        if isinstance(node, ast.UnaryExpression) and node.op.name == "-":
            return func("neg", self._expr(node.expression, scope, line, where, depth + 1))
        if isinstance(node, ast.BinaryExpression):
            op = "**" if node.op.name == "^" and self.v2 else _BINARY_OPS.get(node.op.name)
            if op is None:
                raise err(line, f"operator '{node.op.name}' is not supported in angles; use "
                                 "+ - * / **")
            left = self._expr(node.lhs, scope, line, where, depth + 1)
            return binary(op, left, self._expr(node.rhs, scope, line, where, depth + 1))
        if isinstance(node, ast.FunctionCall):
            return self._call(node, scope, line, where, depth)
        if isinstance(node, ast.Cast) and isinstance(node.type, ast.FloatType | ast.AngleType):
            return self._expr(node.argument, scope, line, where, depth + 1)
        raise err(line, f"{describe(node)} is not supported in angles; use numbers, pi, "
                         "parameters, + - * / ** and sin/cos/tan/exp/ln/sqrt/arcsin/arccos/arctan")

    def _call(self, node: ast.FunctionCall, scope: dict[str, Expr], line: int, where: str,
              depth: int) -> Expr:
        name = node.name.name
        if name not in _FUNCTIONS:
            raise err(line, f"unknown function {name}(); known: {', '.join(sorted(_FUNCTIONS))}")
        if len(node.arguments) != 1:
            raise err(line, f"function {name}() takes one argument, got {len(node.arguments)}")
        arg = self._expr(node.arguments[0], scope, line, where, depth + 1)
        return func("ln" if name == "log" else name, arg)

    def _identifier(self, name: str, scope: dict[str, Expr], line: int, where: str) -> Expr:
        value = scope.get(name)
        if value is not None:
            return value
        if name in _CONSTANTS:
            return Const(_CONSTANTS[name])
        hint = where or (
            f"; declare a free parameter with `input float[64] {name};` or a constant with "
            f"`const float {name} = ...;` before using it"
        )
        raise err(line, f"unknown identifier '{name}'{hint}")

    def const_int(self, node: ast.Expression, line: int, what: str) -> int:
        exact = exact_int(node)
        if exact is not None:
            return exact
        value = self.expr(node, self.values, line)
        if not isinstance(value, Const) or value.value != int(value.value):
            raise err(line, f"{what} must be a constant integer, got {value!r}")
        return int(value.value)

    # ---- gate calls -------------------------------------------------------------------------

    def gate(self, name: str, line: int) -> GateSpec | GateDef:
        """The gate a name refers to: user definitions, the gate table, then built-ins."""
        if name == self.defining:
            raise err(line, f"gate '{name}' calls itself; recursive gate definitions are "
                             "not allowed")
        gate = self.gates.get(name)
        if gate is not None:
            return gate
        try:
            return lookup(name)
        except QDLError:
            pass
        if name in LIBRARY and not self.library:
            self.gates[name] = self.compile_definition(LIBRARY[name])
            return self.gates[name]
        known = sorted(set(GATES) | set(LIBRARY) | set(self.gates))
        close = [g for g in known if g[:2].lower() == name[:2].lower()][:5]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise err(line, f"unknown gate '{name}'{hint}; define it with `gate {name} ... "
                         "{ ... }` or use a gate of stdgates.inc")

    def check_call(self, gate: GateSpec | GateDef, name: str, mods: Sequence[Modifier],
                   n_args: int, wires: Sequence[int], line: int) -> None:
        """Arity and distinct wires of one gate application."""
        _check_arity(gate, name, control_count(mods), n_args, len(wires), line)
        if len(set(wires)) != len(wires):
            twice = next(w for w in wires if list(wires).count(w) > 1)
            raise err(line, f"gate '{name}' uses qubit {self._wire_name(twice)} more than once")

    def expand(self, gate: GateSpec | GateDef, mods: Sequence[Modifier], args: Sequence[Expr],
               wires: Sequence[int], line: int) -> list[Op]:
        """The ops of one checked gate application, modifiers applied."""
        try:
            return _apply(gate, mods, args, wires)
        except QDLError as exc:  # from substituting arguments into a definition
            raise err(line, str(exc)) from None

    def extend_body(self, body: Body, name: str, mods: Sequence[Modifier],
                    args: Sequence[Expr], wires: Sequence[int], line: int) -> None:
        """Add one gate application to a definition: expanded when small, else kept a call."""
        gate = self.gate(name, line)
        self.check_call(gate, name, mods, len(args), wires, line)
        count = _count(gate, mods)
        if body.count + count > self.max_ops:
            raise err(line, f"gate '{body.name}' expands to {_amount(body.count + count)} "
                             f"operations or more (here '{name}' adds {_amount(count)}), past "
                             f"the operation budget of {self.max_ops}{_BUDGET}")
        if count <= _EAGER_OPS:
            body.items += self.expand(gate, mods, args, wires, line)
        else:
            nesting = (gate.nesting if isinstance(gate, GateDef) else 0) + 1
            if nesting > _MAX_NESTING:
                raise err(line, f"gate '{body.name}' nests large gate definitions more than "
                                 f"{_MAX_NESTING} deep; flatten some of the definitions")
            body.items.append(_Step(gate, tuple(wires), tuple(args), tuple(mods)))
            body.nesting = max(body.nesting, nesting)
        body.count += count

    def _wire_name(self, wire: int) -> str:
        return self.label(wire) if self.defining is None else f"argument {wire}"

    def call(self, name: str, mods: Sequence[Modifier], args: Sequence[Expr],
             operands: Sequence[Operand], line: int) -> None:
        """Apply a gate at the top level, broadcasting over register operands."""
        self.started = True
        sizes = {len(o) for o in operands if isinstance(o, tuple)}
        if not sizes:
            rows: Sequence[Sequence[int]] = [operands]  # type: ignore[list-item]
        elif len(sizes) > 1:
            raise err(line, f"gate '{name}' is applied to registers of different sizes "
                             f"{sorted(sizes)}; broadcasting needs equal sizes")
        else:
            rows = [[o[i] if isinstance(o, tuple) else o for o in operands]
                    for i in range(sizes.pop())]
        gate = self.gate(name, line)
        _check_arity(gate, name, control_count(mods), len(args), len(operands), line)
        total = len(self.ops) + len(rows) * _count(gate, mods)
        if total > self.max_ops:
            raise err(line, f"gate '{name}' brings the circuit to {_amount(total)} operations, "
                             f"past the operation budget of {self.max_ops}{_BUDGET}")
        for row in rows:
            if self.measured:
                self._check_unmeasured(name, row, line)
            self.check_call(gate, name, mods, len(args), row, line)
            ops = self.expand(gate, mods, args, row, line)
            self.ops += ops
            self.op_lines += [line] * len(ops)

    def _check_unmeasured(self, name: str, wires: Sequence[int], line: int) -> None:
        for w in wires:
            if w in self.measured:
                raise err(line, f"gate '{name}' acts on qubit {self.label(w)} after it was "
                                 f"measured (line {self.measured[w]}); {_MID_MEASURE_FIX}")

    def measure(self, qubits: Operand, target: int | str | None, line: int) -> None:
        """Record a measurement; ``target`` is the bit-register size, None, or "none"."""
        self.started = True
        wires = qubits if isinstance(qubits, tuple) else (qubits,)
        if target != "none":
            have = len(qubits) if isinstance(qubits, tuple) else None
            if have != target:
                raise err(line, f"measure needs as many bits as qubits, got {have or 1} "
                                 f"qubit(s) and {target or 1} bit(s)")
        for w in wires:
            self.measured.setdefault(w, line)

    def finish(self) -> Circuit:
        n = max(self.physical) + 1 if self.physical else len(self.labels)
        circuit = Circuit(n)
        for name in self.inputs:
            circuit.declare(name)
        for op, line in zip(self.ops, self.op_lines, strict=True):
            try:
                circuit.append(op)
            except QDLError as exc:
                raise err(line, str(exc)) from None
        return circuit


def exact_int(node: ast.Expression) -> int | None:
    """``k`` or ``-k`` written as an integer literal, exact however long: callers compare it
    with their limit, which a float64 could not hold."""
    sign = 1
    if isinstance(node, ast.UnaryExpression) and node.op.name == "-":
        sign, node = -1, node.expression
    return sign * node.value if isinstance(node, ast.IntegerLiteral) else None


def _literal(value: int | float, line: int) -> Const:
    """A number of the program as a float64; infinite or overflowing ones are refused."""
    try:
        number = float(value)
    except OverflowError:  # an int past 1.8e308
        number = math.inf
    if not math.isfinite(number):
        shown = f"the integer {_amount(value)}" if isinstance(value, int) else "a float literal"
        raise err(line, f"{shown} is out of range for a float64 (finite, at most about "
                         "1.8e308); write a smaller number")
    return Const(number)


def _check_arity(gate: GateSpec | GateDef, name: str, n_ctrl: int, n_args: int, n_wires: int,
                 line: int) -> None:
    if n_args != gate.num_params:
        example = f"{name}({', '.join(['0.5'] * gate.num_params)})" if gate.num_params else name
        raise err(line, f"gate '{name}' takes {gate.num_params} parameter(s), got {n_args} "
                         f"(write e.g. `{example} ...`)")
    if n_wires != gate.num_wires + n_ctrl:
        extra = f" plus {n_ctrl} control(s)" if n_ctrl else ""
        raise err(line, f"gate '{name}' acts on {gate.num_wires} qubit(s){extra}, got "
                         f"{n_wires}")


def describe(node: object) -> str:
    """``ForInLoop`` -> ``for in loop``: an AST node's kind in words."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", type(node).__name__).lower()


def check_modifiers(mods: Sequence[Modifier], line: int) -> None:
    for kind, n in mods:
        if kind in ("ctrl", "negctrl") and n < 1:
            raise err(line, f"{kind}({n}) needs a positive number of controls")


def control_count(mods: Sequence[Modifier]) -> int:
    return sum(n for kind, n in mods if kind in ("ctrl", "negctrl"))


