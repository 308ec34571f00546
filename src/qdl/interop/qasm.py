"""OpenQASM 3 (and 2.0) in and out: :func:`from_qasm` reads a program, :func:`to_qasm` writes one.

Reading walks the AST of the OpenQASM 3 reference parser (``openqasm3.parse``). Because that
parser manages only about 5000 lines a second, flat lines made of simple statements
(``name(args) q[i], r[j];``, register declarations, ``measure``, ``barrier``, ``include``) take
a fast lane: a small tokenizer turns them into the same AST nodes the reference parser would
build. Everything the fast lane does not fully understand -- gate definitions, modifiers,
``if``, loops, block comments, any line it cannot tokenize -- goes to the reference parser in
chunks, so both lanes share one meaning and one set of error messages. Every error is a
:class:`~qdl.errors.QDLError` that starts with ``line N:``.

What is read: ``OPENQASM 2.0`` and ``3``; ``include "stdgates.inc"`` / ``"qelib1.inc"`` (built
in, never read from disk); ``qreg``/``creg``, ``qubit[n]``/``bit[n]``, ``qubit q;`` and physical
qubits ``$k``; register broadcasting (``h q;``, ``cx q, r;``); custom ``gate`` definitions
(inlined); the modifiers ``ctrl @``, ``negctrl @``, ``inv @`` and ``pow(k) @`` for integer k;
``gphase``; ``input float[64] theta;`` (a free circuit parameter); ``const`` numbers; angle
expressions with ``pi``/``tau``/``euler``, ``+ - * / **`` (``^`` in 2.0), unary minus and
``sin cos tan exp ln log sqrt arcsin arccos arctan``. Measurements are allowed only at the end
of each qubit's life (they are ignored); ``reset``, classical control, loops and subroutines are
rejected with the line that uses them.

Hostile input costs no more than its size: limits are checked before the work is done.
Registers hold at most :data:`~qdl.circuit.MAX_QUBITS` qubits in all; a program expands
(custom gates inlined, ``pow(k) @`` repeated, broadcasts and slices unrolled) to at most
``max_ops`` operations (by default :data:`MAX_OPS` or :data:`OPS_PER_CHAR` per character of
the text, whichever is more; checked on counts before anything is expanded);
angle expressions nest at most :data:`MAX_EXPR_DEPTH` levels (brackets and unary minus at
most :data:`MAX_NESTING` in the text) and hold at most :data:`MAX_EXPR_SIZE` terms after
parameters are substituted; numbers must be finite float64
values. Each limit ends in a :class:`~qdl.errors.QDLError` naming the line, the size and the
limit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache

from openqasm3 import ast

from qdl.circuit import MAX_QUBITS, Circuit, Op
from qdl.errors import QDLError
from qdl.expr import Binary, Const, Expr, Func, Sym, binary, func
from qdl.gates import GATES, STDGATES, GateSpec, lookup

__all__ = ["MAX_EXPR_DEPTH", "MAX_EXPR_SIZE", "MAX_NESTING", "MAX_OPS", "OPS_PER_CHAR", "from_qasm",
           "to_qasm", "to_qasm2"]

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
# Prediction-cache states past which the reference parser's cache is dropped; programs of the
# usual shapes need a few hundred, and the cache rebuilds in a few milliseconds.
_MAX_DFA_STATES = 5000
MAX_EXPR_SIZE = 1000
"""How many terms an angle expression may hold once gate parameters are substituted."""
# Calls inside a gate body that expand to at most this many operations are expanded once, when
# the gate is defined; larger ones stay calls, expanded on use, so that a definition costs its
# text, not its expansion (40 nested definitions doubling each other describe 2**40 ops).
_EAGER_OPS = 4096
# Kept calls nest one level per definition; this bounds the recursion when they expand.
_MAX_NESTING = 50

_KEYWORDS = frozenset(
    "#dim OPENQASM angle array barrier bit bool box break cal case complex const continue creg "
    "ctrl def default defcal defcalgrammar delay duration durationof else end extern float for "
    "gate gphase if im in include input int inv let measure mutable negctrl output pow qreg qubit "
    "readonly reset return stretch switch uint void while true false pragma opaque".split()
)
_CONSTANTS = {"pi": math.pi, "π": math.pi, "tau": math.tau, "τ": math.tau, "euler": math.e,
              "ℇ": math.e}
_RESERVED = _KEYWORDS | frozenset(_CONSTANTS)
_FUNCTIONS = {"sin", "cos", "tan", "exp", "ln", "log", "sqrt", "arcsin", "arccos", "arctan"}
_BINARY_OPS = {"+": "+", "-": "-", "*": "*", "/": "/", "**": "**"}

# Gates that neither the gate table nor its aliases know, from stdgates.inc and qelib1.inc.
_LIBRARY = {
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
_INCLUDES = {"stdgates.inc": STDGATES - {"U", "gphase"}, "qelib1.inc": _QELIB1}

_MID_MEASURE_FIX = (
    "mid-circuit measurement is not supported (QDL simulates pure states); move the "
    "measurement to the end or replace it by controlled gates (deferred measurement)"
)
_UNSUPPORTED: dict[type, str] = {
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
_RESET = (
    "reset is not supported; QDL simulates pure states that start in |0...0>, so remove the "
    "reset or use a fresh qubit"
)

Operand = int | tuple[int, ...]  # one wire, or the wires of a register to broadcast over
Modifier = tuple[str, int]  # ("ctrl" | "negctrl" | "inv" | "pow", count or power)


def _err(line: int, message: str) -> QDLError:
    return QDLError(f"line {line}: {message}")


# --------------------------------------------------------------------------------------------
# Gate definitions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    """A call inside a gate body kept unexpanded because it expands to many operations."""

    gate: GateSpec | _GateDef
    wires: tuple[int, ...]  # local wires of the enclosing gate, controls first
    args: tuple[Expr, ...]
    mods: tuple[Modifier, ...]


@dataclass(frozen=True)
class _GateDef:
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


def _count(gate: GateSpec | _GateDef, mods: Sequence[Modifier]) -> int:
    """How many operations a call expands to, known without expanding it: the most at any
    step, since ``pow(0) @ pow(10**10) @ x`` builds the inner list before emptying it."""
    count = peak = gate.count if isinstance(gate, _GateDef) else 1
    for kind, n in reversed(mods):  # innermost first, as _apply applies them
        if kind == "pow":
            count *= abs(n)
        elif kind == "negctrl":
            count += 2 * n  # an X before and after on each control
        peak = max(peak, count)
    return peak


def _apply(gate: GateSpec | _GateDef, mods: Sequence[Modifier], args: Sequence[Expr],
           wires: Sequence[int]) -> list[Op]:
    """The ops of one checked gate application on distinct wires, modifiers applied."""
    base = tuple(wires[_controls(mods):])
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
class _Body:
    """The scope of a gate body being compiled."""

    name: str
    params: list[str]
    scope: dict[str, Expr]
    qubits: dict[str, int]
    items: list[Op | _Step] = field(default_factory=list)
    count: int = 0
    nesting: int = 0

    def definition(self) -> _GateDef:
        return _GateDef(self.name, len(self.params), len(self.qubits), tuple(self.items),
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
class _Register:
    start: int
    size: int
    scalar: bool  # declared as `qubit q;`: a single qubit, not indexable


class _Program:
    """Semantic state of a program being read; every method takes the source line."""

    def __init__(self, v2: bool = False, library: bool = False, max_ops: int = MAX_OPS):
        self.v2 = v2
        self.max_ops = max_ops
        self.library = library  # compiling a built-in definition: table gates only
        self.qregs: dict[str, _Register] = {}
        self.cregs: dict[str, int | None] = {}  # size, None for a single `bit c;`
        self.values: dict[str, Expr] = {}  # inputs (Sym) and constants (Const)
        self.declared: dict[str, int] = {}  # every global name -> line of its declaration
        self.inputs: list[str] = []
        self.labels: list[str] = []
        self.physical: set[int] = set()
        self.gates: dict[str, GateSpec | _GateDef] = {}
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
            raise _err(line, "the OPENQASM version statement must be the first statement")
        if text.split(".")[0] not in ("2", "3"):
            raise _err(line, f"OpenQASM version {text} is not supported; use 2.0 or 3")
        self.v2 = text.startswith("2")

    def include(self, filename: str, line: int) -> None:
        if filename not in _INCLUDES:
            raise _err(
                line,
                f'cannot include "{filename}": only "stdgates.inc" and "qelib1.inc" are built '
                "in and no file is read from disk; paste the gate definitions into the program",
            )
        self.includes.add(filename)
        self.started = True

    def _declare(self, name: str, line: int) -> None:
        if name in _RESERVED:
            raise _err(line, f"'{name}' is a reserved word of OpenQASM; choose another name")
        if name in self.declared:
            raise _err(line, f"'{name}' is already declared (line {self.declared[name]})")
        self.declared[name] = line
        self.started = True

    def qubits(self, name: str, size: int | None, line: int) -> None:
        self._declare(name, line)
        if size is not None and size < 1:
            raise _err(line, f"qubit register '{name}' must have at least one qubit")
        if self.physical:
            raise _err(line, "cannot mix declared qubits with physical qubits ($0, $1, ...)")
        start = len(self.labels)
        if start + (size or 1) > MAX_QUBITS:
            raise _err(line, f"register {name}[{_amount(size or 1)}] brings the program to "
                             f"{_amount(start + (size or 1))} qubits, more than QDL can simulate "
                             f"(at most {MAX_QUBITS}: a state of n qubits holds 2**n "
                             "amplitudes); declare fewer qubits")
        self.qregs[name] = _Register(start, size or 1, size is None)
        self.labels += [name] if size is None else [f"{name}[{i}]" for i in range(size)]

    def bits(self, name: str, size: int | None, line: int) -> None:
        self._declare(name, line)
        if size is not None and size < 1:
            raise _err(line, f"bit register '{name}' must have at least one bit")
        self.cregs[name] = size

    def input(self, name: str, line: int) -> None:
        self._declare(name, line)
        self.values[name] = Sym(name)
        self.inputs.append(name)

    def const(self, name: str, value: Expr, line: int) -> None:
        if not isinstance(value, Const):
            raise _err(line, f"constant '{name}' must not depend on inputs {value.symbols()}")
        self._declare(name, line)
        self.values[name] = value

    def define(self, name: str, body: _Body, line: int) -> None:
        """Register a compiled gate; a copy of a table gate's own definition maps to it."""
        self.started = True
        if name in self.gates:
            raise _err(line, f"gate '{name}' is already defined")
        for inc in self.includes:
            if name in _INCLUDES[inc]:
                raise _err(line, f"gate '{name}' is already defined by {inc}; rename it")
        gate = body.definition()
        spec = GATES.get(name)
        if spec is not None and spec.qasm_def and gate == _table_definition(name):
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
            raise _err(line, f"{what}; declare qubits with `qubit[n] {name};` "
                             f"(OpenQASM 2: `qreg {name}[n];`) before using them")
        if index is None:
            return reg.start if reg.scalar else tuple(range(reg.start, reg.start + reg.size))
        if reg.scalar:
            raise _err(line, f"qubit '{name}' is a single qubit and cannot be indexed")
        if not -reg.size <= index < reg.size:
            raise _err(
                line,
                f"qubit index {_amount(index)} is out of range for register '{name}' of size "
                f"{reg.size} (valid: 0..{reg.size - 1})",
            )
        return reg.start + index % reg.size

    def _physical(self, name: str, line: int) -> int:
        if self.labels:
            raise _err(line, f"cannot mix physical qubit {name} with declared qubits")
        # A long digit string is out of range whatever it says; int() would refuse past 4300.
        index = int(name[1:]) if len(name) <= 6 else MAX_QUBITS
        if index >= MAX_QUBITS:
            shown = name if len(name) <= 20 else f"{name[:12]}... ({len(name) - 1} digits)"
            raise _err(line, f"physical qubit {shown} is beyond the {MAX_QUBITS} qubits QDL can "
                             f"simulate; use $0..${MAX_QUBITS - 1}")
        self.physical.add(index)
        return index

    def bit_size(self, name: str, index: int | None, line: int) -> int | None:
        """Validate a classical target; the register size, or ``None`` for one bit."""
        if name not in self.cregs:
            raise _err(
                line,
                f"'{name}' is not a declared bit register; declare it with `bit[n] {name};` "
                f"(OpenQASM 2: `creg {name}[n];`)",
            )
        size = self.cregs[name]
        if index is None:
            return size
        if size is None or not -size <= index < size:
            raise _err(line, f"bit index {_amount(index)} is out of range for '{name}'")
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
            raise _err(line, str(exc)) from None

    def _expr(self, node: ast.Expression, scope: dict[str, Expr], line: int, where: str,
              depth: int = 1) -> Expr:
        if depth > MAX_EXPR_DEPTH:
            raise _err(line, f"the expression nests more than {MAX_EXPR_DEPTH} levels deep; "
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
                raise _err(line, f"operator '{node.op.name}' is not supported in angles; use "
                                 "+ - * / **")
            left = self._expr(node.lhs, scope, line, where, depth + 1)
            return binary(op, left, self._expr(node.rhs, scope, line, where, depth + 1))
        if isinstance(node, ast.FunctionCall):
            return self._call(node, scope, line, where, depth)
        if isinstance(node, ast.Cast) and isinstance(node.type, ast.FloatType | ast.AngleType):
            return self._expr(node.argument, scope, line, where, depth + 1)
        raise _err(line, f"{_describe(node)} is not supported in angles; use numbers, pi, "
                         "parameters, + - * / ** and sin/cos/tan/exp/ln/sqrt/arcsin/arccos/arctan")

    def _call(self, node: ast.FunctionCall, scope: dict[str, Expr], line: int, where: str,
              depth: int) -> Expr:
        name = node.name.name
        if name not in _FUNCTIONS:
            raise _err(line, f"unknown function {name}(); known: {', '.join(sorted(_FUNCTIONS))}")
        if len(node.arguments) != 1:
            raise _err(line, f"function {name}() takes one argument, got {len(node.arguments)}")
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
        raise _err(line, f"unknown identifier '{name}'{hint}")

    def const_int(self, node: ast.Expression, line: int, what: str) -> int:
        exact = _exact_int(node)
        if exact is not None:
            return exact
        value = self.expr(node, self.values, line)
        if not isinstance(value, Const) or value.value != int(value.value):
            raise _err(line, f"{what} must be a constant integer, got {value!r}")
        return int(value.value)

    # ---- gate calls -------------------------------------------------------------------------

    def gate(self, name: str, line: int) -> GateSpec | _GateDef:
        """The gate a name refers to: user definitions, the gate table, then built-ins."""
        if name == self.defining:
            raise _err(line, f"gate '{name}' calls itself; recursive gate definitions are "
                             "not allowed")
        gate = self.gates.get(name)
        if gate is not None:
            return gate
        try:
            return lookup(name)
        except QDLError:
            pass
        if name in _LIBRARY and not self.library:
            self.gates[name] = _library_gate(name)
            return self.gates[name]
        known = sorted(set(GATES) | set(_LIBRARY) | set(self.gates))
        close = [g for g in known if g[:2].lower() == name[:2].lower()][:5]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise _err(line, f"unknown gate '{name}'{hint}; define it with `gate {name} ... "
                         "{ ... }` or use a gate of stdgates.inc")

    def check_call(self, gate: GateSpec | _GateDef, name: str, mods: Sequence[Modifier],
                   n_args: int, wires: Sequence[int], line: int) -> None:
        """Arity and distinct wires of one gate application."""
        _check_arity(gate, name, _controls(mods), n_args, len(wires), line)
        if len(set(wires)) != len(wires):
            twice = next(w for w in wires if list(wires).count(w) > 1)
            raise _err(line, f"gate '{name}' uses qubit {self._wire_name(twice)} more than once")

    def expand(self, gate: GateSpec | _GateDef, mods: Sequence[Modifier], args: Sequence[Expr],
               wires: Sequence[int], line: int) -> list[Op]:
        """The ops of one checked gate application, modifiers applied."""
        try:
            return _apply(gate, mods, args, wires)
        except QDLError as exc:  # from substituting arguments into a definition
            raise _err(line, str(exc)) from None

    def extend_body(self, body: _Body, name: str, mods: Sequence[Modifier],
                    args: Sequence[Expr], wires: Sequence[int], line: int) -> None:
        """Add one gate application to a definition: expanded when small, else kept a call."""
        gate = self.gate(name, line)
        self.check_call(gate, name, mods, len(args), wires, line)
        count = _count(gate, mods)
        if body.count + count > self.max_ops:
            raise _err(line, f"gate '{body.name}' expands to {_amount(body.count + count)} "
                             f"operations or more (here '{name}' adds {_amount(count)}), past "
                             f"the operation budget of {self.max_ops}{_BUDGET}")
        if count <= _EAGER_OPS:
            body.items += self.expand(gate, mods, args, wires, line)
        else:
            nesting = (gate.nesting if isinstance(gate, _GateDef) else 0) + 1
            if nesting > _MAX_NESTING:
                raise _err(line, f"gate '{body.name}' nests large gate definitions more than "
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
            raise _err(line, f"gate '{name}' is applied to registers of different sizes "
                             f"{sorted(sizes)}; broadcasting needs equal sizes")
        else:
            rows = [[o[i] if isinstance(o, tuple) else o for o in operands]
                    for i in range(sizes.pop())]
        gate = self.gate(name, line)
        _check_arity(gate, name, _controls(mods), len(args), len(operands), line)
        total = len(self.ops) + len(rows) * _count(gate, mods)
        if total > self.max_ops:
            raise _err(line, f"gate '{name}' brings the circuit to {_amount(total)} operations, "
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
                raise _err(line, f"gate '{name}' acts on qubit {self.label(w)} after it was "
                                 f"measured (line {self.measured[w]}); {_MID_MEASURE_FIX}")

    def measure(self, qubits: Operand, target: int | str | None, line: int) -> None:
        """Record a measurement; ``target`` is the bit-register size, None, or "none"."""
        self.started = True
        wires = qubits if isinstance(qubits, tuple) else (qubits,)
        if target != "none":
            have = len(qubits) if isinstance(qubits, tuple) else None
            if have != target:
                raise _err(line, f"measure needs as many bits as qubits, got {have or 1} "
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
                raise _err(line, str(exc)) from None
        return circuit


def _exact_int(node: ast.Expression) -> int | None:
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
        raise _err(line, f"{shown} is out of range for a float64 (finite, at most about "
                         "1.8e308); write a smaller number")
    return Const(number)


def _check_arity(gate: GateSpec | _GateDef, name: str, n_ctrl: int, n_args: int, n_wires: int,
                 line: int) -> None:
    if n_args != gate.num_params:
        example = f"{name}({', '.join(['0.5'] * gate.num_params)})" if gate.num_params else name
        raise _err(line, f"gate '{name}' takes {gate.num_params} parameter(s), got {n_args} "
                         f"(write e.g. `{example} ...`)")
    if n_wires != gate.num_wires + n_ctrl:
        extra = f" plus {n_ctrl} control(s)" if n_ctrl else ""
        raise _err(line, f"gate '{name}' acts on {gate.num_wires} qubit(s){extra}, got "
                         f"{n_wires}")


def _describe(node: object) -> str:
    """``ForInLoop`` -> ``for in loop``: an AST node's kind in words."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", type(node).__name__).lower()


# --------------------------------------------------------------------------------------------
# The reference-parser lane: AST statements
# --------------------------------------------------------------------------------------------


class _Walker:
    """Feeds reference-parser AST statements into a :class:`_Program`."""

    def __init__(self, program: _Program, offset: int = 0):
        self.p = program
        self.offset = offset

    def line(self, node: ast.QASMNode) -> int:
        return (node.span.start_line if node.span else 1) + self.offset

    def program(self, tree: ast.Program) -> None:
        if tree.version is not None:
            self.p.version(tree.version, self.line(tree))
        for stmt in tree.statements:
            self.statement(stmt)

    def statement(self, stmt: ast.QASMNode) -> None:
        line = self.line(stmt)
        handler = _STATEMENTS.get(type(stmt))
        if handler is not None:
            handler(self, stmt, line)
            return
        what = _UNSUPPORTED.get(type(stmt), f"{_describe(stmt)} is not supported")
        raise _err(line, what)

    def include(self, stmt: ast.Include, line: int) -> None:
        self.p.include(stmt.filename, line)

    def qubit_decl(self, stmt: ast.QubitDeclaration, line: int) -> None:
        size = None if stmt.size is None else self.p.const_int(stmt.size, line, "register size")
        self.p.qubits(stmt.qubit.name, size, line)

    def classical_decl(self, stmt: ast.ClassicalDeclaration, line: int) -> None:
        if not isinstance(stmt.type, ast.BitType):
            raise _err(line, f"classical variables ({_describe(stmt.type)}) are not supported; "
                             "use `const` for numbers or `input float[64]` for parameters")
        self._bit_decl(stmt.type, stmt.identifier.name, line)
        init = stmt.init_expression
        if isinstance(init, ast.QuantumMeasurement):
            self.p.measure(self.operand(init.qubit, line), self.p.cregs[stmt.identifier.name],
                           line)
        elif init is not None:
            raise _err(line, "initialised bit registers are not supported")

    def _bit_decl(self, typ: ast.BitType, name: str, line: int) -> None:
        size = None if typ.size is None else self.p.const_int(typ.size, line, "register size")
        self.p.bits(name, size, line)

    def io_decl(self, stmt: ast.IODeclaration, line: int) -> None:
        name = stmt.identifier.name
        if stmt.io_identifier.name == "output" and isinstance(stmt.type, ast.BitType):
            self._bit_decl(stmt.type, name, line)
        elif stmt.io_identifier.name == "input" and isinstance(
            stmt.type, ast.FloatType | ast.AngleType
        ):
            self.p.input(name, line)
        else:
            raise _err(line, f"{stmt.io_identifier.name} {_describe(stmt.type)} '{name}' is not "
                             "supported; free parameters are `input float[64] name;`")

    def const_decl(self, stmt: ast.ConstantDeclaration, line: int) -> None:
        numeric = ast.FloatType | ast.AngleType | ast.IntType | ast.UintType
        if not isinstance(stmt.type, numeric):
            raise _err(line, f"constants of type {_describe(stmt.type)} are not supported; "
                             "use float, angle, int or uint")
        value = self.p.expr(stmt.init_expression, self.p.values, line)
        self.p.const(stmt.identifier.name, value, line)

    def gate_def(self, stmt: ast.QuantumGateDefinition, line: int) -> None:
        body = self.compile_gate(stmt, line)
        self.p.define(stmt.name.name, body, line)

    def compile_gate(self, stmt: ast.QuantumGateDefinition, line: int) -> _Body:
        name = stmt.name.name
        params = [a.name for a in stmt.arguments]
        qubits = [q.name for q in stmt.qubits]
        for names, what in ((params, "parameter"), (qubits, "qubit")):
            if len(set(names)) != len(names):
                raise _err(line, f"gate '{name}' declares a {what} name twice: {names}")
        consts = {k: v for k, v in self.p.values.items() if isinstance(v, Const)}
        scope = consts | {a: Sym(f"_p{i}") for i, a in enumerate(params)}
        body = _Body(name, params, scope, {q: i for i, q in enumerate(qubits)})
        self.p.defining = name
        try:
            for inner in stmt.body:
                self.body_statement(inner, body)
        finally:
            self.p.defining = None
        return body

    def body_statement(self, stmt: ast.QASMNode, body: _Body) -> None:
        line = self.line(stmt)
        if isinstance(stmt, ast.QuantumBarrier):
            for q in stmt.qubits:
                self.local_qubit(q, body, line)
            return
        if not isinstance(stmt, ast.QuantumGate | ast.QuantumPhase):
            raise _err(line, f"{_describe(stmt)} is not allowed in the body of gate "
                             f"'{body.name}'; a gate body holds only gate calls and gphase")
        mods = self.modifiers(stmt.modifiers, line)
        if isinstance(stmt, ast.QuantumGate):
            name, count = stmt.name.name, len(stmt.qubits)
        else:  # extra gphase operands beyond the controls only scope the global phase
            name, count = "gphase", _controls(mods)
        where = (f" in the body of gate '{body.name}'; a gate body can use only its parameters "
                 f"({', '.join(body.params) or 'none'}), constants and pi/tau/euler")
        args = [self.p.expr(a, body.scope, line, where) for a in _arguments(stmt)]
        wires = [self.local_qubit(q, body, line) for q in stmt.qubits[:count]]
        self.p.extend_body(body, name, mods, args, wires, line)

    def local_qubit(self, node: ast.QASMNode, body: _Body, line: int) -> int:
        if isinstance(node, ast.Identifier) and node.name in body.qubits:
            return body.qubits[node.name]
        text = node.name if isinstance(node, ast.Identifier) else _describe(node)
        raise _err(line, f"'{text}' is not a qubit argument of gate '{body.name}' (arguments: "
                         f"{', '.join(body.qubits) or 'none'})")

    def modifiers(self, mods: Sequence[ast.QuantumGateModifier], line: int) -> list[Modifier]:
        out = []
        for mod in mods:
            kind = mod.modifier.name
            if kind == "inv":
                out.append((kind, 0))
            elif kind == "pow":
                out.append((kind, self._power(mod.argument, line)))
            else:
                n = 1 if mod.argument is None else self.p.const_int(mod.argument, line,
                                                                    f"the count in {kind}(n)")
                out.append((kind, n))
        _check_modifiers(out, line)
        return out

    def _power(self, node: ast.Expression, line: int) -> int:
        exact = _exact_int(node)
        if exact is not None:
            return exact
        value = self.p.expr(node, self.p.values, line)
        if not isinstance(value, Const) or value.value != int(value.value):
            raise _err(line, f"pow({value!r}) @ is not supported: only integer powers are; "
                             "for roots use sx, s or t, or rotation gates with scaled angles")
        return int(value.value)

    def gate_call(self, stmt: ast.QuantumGate, line: int) -> None:
        if stmt.duration is not None:
            raise _err(line, "gate durations are not supported; remove the [duration]")
        mods = self.modifiers(stmt.modifiers, line)
        args = [self.p.expr(a, self.p.values, line) for a in stmt.arguments]
        operands = [self.operand(q, line) for q in stmt.qubits]
        self.p.call(stmt.name.name, mods, args, operands, line)

    def phase(self, stmt: ast.QuantumPhase, line: int) -> None:
        mods = self.modifiers(stmt.modifiers, line)
        arg = self.p.expr(stmt.argument, self.p.values, line)
        operands = [self.operand(q, line) for q in stmt.qubits]
        # Operands beyond the controls only scope the (global) phase.
        self.p.call("gphase", mods, [arg], operands[: _controls(mods)], line)

    def measure(self, stmt: ast.QuantumMeasurementStatement, line: int) -> None:
        qubits = self.operand(stmt.measure.qubit, line)
        target: int | str | None = "none"
        if stmt.target is not None:
            name, index = self.split_operand(stmt.target, line)
            target = self.p.bit_size(name, index, line)
        self.p.measure(qubits, target, line)

    def barrier(self, stmt: ast.QuantumBarrier, line: int) -> None:
        for q in stmt.qubits:
            self.operand(q, line)

    def reset(self, stmt: ast.QuantumReset, line: int) -> None:
        raise _err(line, _RESET)

    def ignore(self, stmt: ast.QASMNode, line: int) -> None:
        pass

    def operand(self, node: ast.QASMNode, line: int) -> Operand:
        if isinstance(node, ast.IndexedIdentifier) and len(node.indices) == 1:
            index = node.indices[0]
            if isinstance(index, ast.DiscreteSet) or (
                len(index) == 1 and isinstance(index[0], ast.RangeDefinition)
            ):
                return self.selection(node.name.name, index, line)
        name, i = self.split_operand(node, line)
        return self.p.qubit(name, i, line)

    def split_operand(self, node: ast.QASMNode, line: int) -> tuple[str, int | None]:
        if isinstance(node, ast.Identifier):
            return node.name, None
        if (isinstance(node, ast.IndexedIdentifier) and len(node.indices) == 1
                and isinstance(node.indices[0], list) and len(node.indices[0]) == 1):
            return node.name.name, self.p.const_int(node.indices[0][0], line, "an index")
        raise _err(line, f"unsupported operand {_describe(node)}; use q, q[i], q[a:b] or "
                         "q[{i, j}]")

    def selection(self, name: str, index: object, line: int) -> Operand:
        whole = self.p.qubit(name, None, line)
        size = len(whole) if isinstance(whole, tuple) else 1
        if isinstance(index, ast.DiscreteSet):
            picks = [self.p.const_int(v, line, "an index") for v in index.values]
        else:
            rng = index[0]  # type: ignore[index]
            start = 0 if rng.start is None else self.p.const_int(rng.start, line, "a range start")
            step = 1 if rng.step is None else self.p.const_int(rng.step, line, "a range step")
            end = size - 1 if rng.end is None else self.p.const_int(rng.end, line, "a range end")
            if step == 0:
                raise _err(line, "a range step must not be zero")
            picks = range(start, end + (1 if step > 0 else -1), step)
            # A range is monotonic: with both ends in the register every index is, and it
            # has at most twice the register size, so it is checked before it is unrolled.
            for end_index in (picks[0], picks[-1]) if picks else ():
                self.p.qubit(name, end_index, line)
        return tuple(self.p.qubit(name, i, line) for i in picks)  # type: ignore[misc]


def _check_modifiers(mods: Sequence[Modifier], line: int) -> None:
    for kind, n in mods:
        if kind in ("ctrl", "negctrl") and n < 1:
            raise _err(line, f"{kind}({n}) needs a positive number of controls")


def _arguments(stmt: ast.QuantumGate | ast.QuantumPhase) -> list[ast.Expression]:
    return [stmt.argument] if isinstance(stmt, ast.QuantumPhase) else list(stmt.arguments)


def _controls(mods: Sequence[Modifier]) -> int:
    return sum(n for kind, n in mods if kind in ("ctrl", "negctrl"))


_STATEMENTS: dict[type, Callable[[_Walker, ast.QASMNode, int], None]] = {
    ast.Include: _Walker.include,
    ast.QubitDeclaration: _Walker.qubit_decl,
    ast.ClassicalDeclaration: _Walker.classical_decl,
    ast.IODeclaration: _Walker.io_decl,
    ast.ConstantDeclaration: _Walker.const_decl,
    ast.QuantumGateDefinition: _Walker.gate_def,
    ast.QuantumGate: _Walker.gate_call,
    ast.QuantumPhase: _Walker.phase,
    ast.QuantumMeasurementStatement: _Walker.measure,
    ast.QuantumBarrier: _Walker.barrier,
    ast.QuantumReset: _Walker.reset,
    ast.Pragma: _Walker.ignore,
}  # type: ignore[dict-item]


# --------------------------------------------------------------------------------------------
# Reference parser with line/column errors
# --------------------------------------------------------------------------------------------


class _SyntaxError(Exception):
    def __init__(self, line: int, column: int, message: str):
        super().__init__(message)
        self.line, self.column, self.message = line, column, message


def _listener() -> object:
    from antlr4.error.ErrorListener import ErrorListener

    class Raise(ErrorListener):
        def syntaxError(self, recognizer, offendingSymbol, line, column, msg, e):
            raise _SyntaxError(line, column, msg)

    return Raise()


def _parse(text: str, offset: int) -> ast.Program:
    """Run the reference parser; syntax errors become QDLError with line and column."""
    from openqasm3 import parser as qp

    try:
        if hasattr(qp, "qasm3Lexer") and hasattr(qp, "qasm3Parser"):
            return _parse_quietly(qp, text)
        return qp.parse(text)  # pragma: no cover - older or newer openqasm3 layouts
    except _SyntaxError as exc:
        raise _syntax_error(exc.line + offset, exc.column, exc.message) from None
    except RecursionError:
        raise _err(offset + 1, "the statement starting here nests too deeply for the OpenQASM "
                               "parser (brackets, unary minus or chained operators); simplify it "
                               "or split it with const declarations") from None
    except Exception as exc:  # QASM3ParsingError and ANTLR's cancellations
        long = re.search(r"(?<!\d)\d{4301}", text) if "integer string" in _chain(exc) else None
        if long is not None:
            raise _err(offset + 1 + text.count("\n", 0, long.start()),
                       "an integer literal has more than 4300 digits; no size, index or angle "
                       "needs that many, write a smaller number") from None
        line, column, message = _dig(exc)
        kind = "invalid program" if message.startswith("cannot") else "syntax error"
        raise _syntax_error(line + offset, column, message, kind) from None


def _parse_quietly(qp: object, text: str) -> ast.Program:
    """``openqasm3.parse`` with our error listener instead of ANTLR's printing one."""
    from antlr4 import CommonTokenStream, InputStream
    from antlr4.error.ErrorStrategy import BailErrorStrategy

    listener = _listener()
    lexer = qp.qasm3Lexer(InputStream(text))  # type: ignore[attr-defined]
    lexer.removeErrorListeners()
    lexer.addErrorListener(listener)
    parser = qp.qasm3Parser(CommonTokenStream(lexer))  # type: ignore[attr-defined]
    parser.removeErrorListeners()
    parser.addErrorListener(listener)
    parser._errHandler = BailErrorStrategy()
    try:
        return qp.QASMNodeVisitor().visitProgram(parser.program())  # type: ignore[attr-defined]
    finally:
        _trim_prediction_cache(type(parser))


def _trim_prediction_cache(parser_class: type) -> None:
    """Drop the parser's shared prediction cache once it is large, so that a process reading
    many programs of new shapes keeps bounded memory (each adds states for good)."""
    from antlr4.dfa.DFA import DFA
    from antlr4.PredictionContext import PredictionContextCache

    dfas = getattr(parser_class, "decisionsToDFA", None)
    if dfas is None or sum(len(d._states) for d in dfas) <= _MAX_DFA_STATES:
        return
    atn = parser_class.atn  # type: ignore[attr-defined]
    parser_class.decisionsToDFA = [  # type: ignore[attr-defined]
        DFA(state, i) for i, state in enumerate(atn.decisionToState)]
    parser_class.sharedContextCache = PredictionContextCache()  # type: ignore[attr-defined]


def _chain(exc: BaseException) -> str:
    """The messages of an exception and the ones it was raised from."""
    seen: BaseException | None = exc
    texts = []
    while seen is not None and len(texts) < 20:
        texts.append(str(seen))
        seen = seen.__cause__ or seen.__context__
    return "\n".join(texts)


def _dig(exc: BaseException) -> tuple[int, int, str]:
    """Line, column and message of the offending token somewhere in an exception chain."""
    seen: BaseException | None = exc
    while seen is not None:
        match = re.match(r"L(\d+):C(\d+): (.*)", str(seen), re.S)
        if match:
            return int(match[1]), int(match[2]), match[3]
        for inner in (*seen.args, seen.__cause__, seen.__context__):
            token = getattr(inner, "offendingToken", None)
            if token is not None:
                return token.line, token.column, f"unexpected {token.text!r}"
        seen = seen.__cause__ or seen.__context__
    return 1, 0, str(exc) or type(exc).__name__


def _syntax_error(line: int, column: int, message: str, kind: str = "syntax error") -> QDLError:
    message = message if len(message) < 160 else message[:157] + "..."
    return QDLError(f"line {line}, column {column + 1}: {kind}: {message}")


# --------------------------------------------------------------------------------------------
# The fast lane: simple statements, tokenized without the reference parser
# --------------------------------------------------------------------------------------------


class _NotSimple(Exception):
    """The fast lane does not handle this text; the reference parser will."""


def _int(digits: str) -> int:
    """A decimal literal of the fast lane; Python converts at most 4300 digits, so longer ones
    go to the reference lane, which reports them."""
    if len(digits) > 4000:
        raise _NotSimple
    return int(digits)


_TOKEN = re.compile(
    r"\s*(?:(\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)|([A-Za-z_πτℇ][A-Za-z0-9_]*)"
    r"|(\*\*|[-+*/^(),])|(\S))"
)
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_OPERAND = re.compile(rf"\s*(?:({_NAME})\s*(?:\[\s*(\d+)\s*\])?|(\$\d+))\s*$", re.A)
_HEAD = re.compile(rf"\s*({_NAME})\s*", re.A)
_VERSION = re.compile(r"OPENQASM\s+(\d+(?:\.\d+)?)\s*$")
_INCLUDE = re.compile(r'include\s+"([^"]*)"\s*$')
_OLD_DECL = re.compile(rf"(qreg|creg)\s+({_NAME})\s*\[\s*(\d+)\s*\]\s*$", re.A)
_NEW_DECL = re.compile(rf"(qubit|bit)\s*(?:\[\s*(\d+)\s*\])?\s+({_NAME})\s*$", re.A)
_MEASURE = re.compile(r"measure\s+([^-]+?)\s*(?:->\s*(.+?))?\s*$")
_MODIFIER = re.compile(
    r"\s*(?:(ctrl|negctrl)\s*(?:\(\s*(\d+)\s*\))?|(inv)|pow\s*\(\s*(-?\d+)\s*\))\s*@", re.A
)
_ASSIGN = re.compile(rf"({_NAME}\s*(?:\[\s*\d+\s*\])?)\s*=\s*measure\s+(.+?)\s*$", re.A)


class _ExprParser:
    """Recursive descent over the tokens of gate arguments, building reference AST nodes.

    Mirrors the OpenQASM 3 grammar: ``**`` binds tighter than unary minus and is right
    associative; then ``* /``; then ``+ -``. Anything else raises :class:`_NotSimple`.
    """

    def __init__(self, text: str, v2: bool):
        self.tokens: list[tuple[str, str]] = []
        found = _TOKEN.findall(text)
        if len(found) > MAX_EXPR_SIZE:  # the reference lane reports it
            raise _NotSimple
        for number, name, punct, bad in found:
            if bad or name in _KEYWORDS or (punct == "^" and not v2):
                raise _NotSimple
            kind = "num" if number else "name" if name else "op"
            self.tokens.append((kind, number or name or ("**" if punct == "^" else punct)))
        self.pos = 0
        self.depth = 0

    def peek(self) -> str:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else ""

    def take(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise _NotSimple
        self.pos += 1
        return self.tokens[self.pos - 1]

    def arguments(self) -> list[ast.Expression]:
        if not self.tokens:
            return []
        args = [self.additive()]
        while self.peek() == ",":
            self.take()
            args.append(self.additive())
        if self.pos != len(self.tokens):
            raise _NotSimple
        return args

    def additive(self) -> ast.Expression:
        node = self.multiplicative()
        while self.peek() in ("+", "-"):
            op = ast.BinaryOperator[self.take()[1]]
            node = ast.BinaryExpression(op, node, self.multiplicative())
        return node

    def multiplicative(self) -> ast.Expression:
        node = self.unary()
        while self.peek() in ("*", "/"):
            op = ast.BinaryOperator[self.take()[1]]
            node = ast.BinaryExpression(op, node, self.unary())
        return node

    def unary(self) -> ast.Expression:
        # Every nesting (brackets, unary minus, **, function calls) recurses through here;
        # deep text goes to the reference lane, whose errors are the ones users see.
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise _NotSimple
        try:
            if self.peek() == "-":
                self.take()
                return ast.UnaryExpression(ast.UnaryOperator["-"], self.unary())
            node = self.primary()
            if self.peek() == "**":
                self.take()
                return ast.BinaryExpression(ast.BinaryOperator["**"], node, self.unary())
            return node
        finally:
            self.depth -= 1

    def primary(self) -> ast.Expression:
        kind, text = self.take()
        if kind == "num":
            if any(c in text for c in ".eE"):
                return ast.FloatLiteral(float(text))
            return ast.IntegerLiteral(_int(text))
        if kind == "name":
            if self.peek() != "(":
                return ast.Identifier(text)
            self.take()
            arg = self.additive()
            if self.take()[1] != ")":
                raise _NotSimple
            return ast.FunctionCall(ast.Identifier(text), [arg])
        if text == "(":
            node = self.additive()
            if self.take()[1] != ")":
                raise _NotSimple
            return node
        raise _NotSimple


@dataclass
class _Fast:
    """The fast lane: parses simple lines, executes them on a :class:`_Program`."""

    p: _Program
    syntax_args: dict[str, list[ast.Expression]] = field(default_factory=dict)
    syntax_operands: dict[str, list[tuple[str, int | None]]] = field(default_factory=dict)

    def line(self, text: str) -> list[tuple] | None:
        """The simple statements of one source line, or None if it needs the full parser."""
        if "//" in text:
            text = text.split("//", 1)[0]
        if "/*" in text or "{" in text or "}" in text:
            return None
        *pieces, rest = text.split(";")
        if rest.strip():
            return None
        try:
            return [self.statement(piece) for piece in pieces]
        except _NotSimple:
            return None

    def statement(self, text: str) -> tuple:
        mods: list[Modifier] = []
        while "@" in text:
            match = _MODIFIER.match(text)
            if match is None:
                raise _NotSimple
            count = match[2] or match[4]
            mods.append((match[1] or match[3] or "pow", _int(count) if count else 0 if
                         match[3] else 1))
            text = text[match.end() :]
        head = _HEAD.match(text)
        if head is None:
            raise _NotSimple
        word, body = head[1], text[head.end():].rstrip()
        handler = _FAST_KEYWORDS.get(word)
        if handler is not None and not mods:
            return handler(self, body.strip(), text.strip())
        if word in _KEYWORDS:
            raise _NotSimple
        if "=" in body and not mods:
            return self.assign_measure(text.strip())
        args_text = ""
        if body.startswith("("):
            close = body.rfind(")")
            if close < 0:
                raise _NotSimple
            args_text = body[1:close]
            body = body[close + 1 :]
        args = self.arguments(args_text)
        return ("gate", word, args_text, args, body.strip(), self.operands(body), tuple(mods))

    def arguments(self, text: str) -> list[ast.Expression]:
        args = self.syntax_args.get(text)
        if args is None:
            args = _ExprParser(text, self.p.v2).arguments()
            self.syntax_args[text] = args
        return args

    def operands(self, text: str) -> list[tuple[str, int | None]]:
        found = self.syntax_operands.get(text)
        if found is None:
            found = [self.operand(piece) for piece in text.split(",")]
            self.syntax_operands[text] = found
        return found

    @staticmethod
    def operand(text: str) -> tuple[str, int | None]:
        match = _OPERAND.match(text)
        if match is None or match[1] in _KEYWORDS:
            raise _NotSimple
        if match[3]:
            return match[3], None
        return match[1], None if match[2] is None else _int(match[2])

    def version(self, body: str, text: str) -> tuple:
        match = _VERSION.match(text)
        if match is None:
            raise _NotSimple
        return ("version", match[1])

    def include(self, body: str, text: str) -> tuple:
        match = _INCLUDE.match(text)
        if match is None:
            raise _NotSimple
        return ("include", match[1])

    def old_decl(self, body: str, text: str) -> tuple:
        match = _OLD_DECL.match(text)
        if match is None:
            raise _NotSimple
        return ("qubits" if match[1] == "qreg" else "bits", match[2], _int(match[3]))

    def new_decl(self, body: str, text: str) -> tuple:
        match = _NEW_DECL.match(text)
        if match is None or match[3] in _KEYWORDS:
            raise _NotSimple
        size = None if match[2] is None else _int(match[2])
        return ("qubits" if match[1] == "qubit" else "bits", match[3], size)

    def measure(self, body: str, text: str) -> tuple:
        match = _MEASURE.match(text)
        if match is None:
            raise _NotSimple
        target = None if match[2] is None else self.operand(match[2])
        return ("measure", self.operand(match[1]), target)

    def assign_measure(self, text: str) -> tuple:
        match = _ASSIGN.match(text)
        if match is None:
            raise _NotSimple
        return ("measure", self.operand(match[2]), self.operand(match[1]))

    def barrier(self, body: str, text: str) -> tuple:
        return ("barrier", self.operands(body) if body else [])

    def reset(self, body: str, text: str) -> tuple:
        self.operands(body)
        return ("reset",)

    def opaque(self, body: str, text: str) -> tuple:
        return ("opaque",)

    # ---- execution --------------------------------------------------------------------------

    def run(self, stmt: tuple, line: int) -> None:
        kind = stmt[0]
        p = self.p
        if kind == "gate":
            mods = stmt[6]
            if mods:
                _check_modifiers(mods, line)
            p.call(stmt[1], mods, self.exprs(stmt[2], stmt[3], line),
                   self.resolve(stmt[4], stmt[5], line), line)
        elif kind == "measure":
            qubits = p.qubit(*stmt[1], line)
            target = "none" if stmt[2] is None else p.bit_size(*stmt[2], line)
            p.measure(qubits, target, line)
        else:
            self.run_other(stmt, line)

    def run_other(self, stmt: tuple, line: int) -> None:
        kind, p = stmt[0], self.p
        if kind == "version":
            p.version(stmt[1], line)
        elif kind == "include":
            p.include(stmt[1], line)
        elif kind == "qubits":
            p.qubits(stmt[1], stmt[2], line)
        elif kind == "bits":
            p.bits(stmt[1], stmt[2], line)
        elif kind == "barrier":
            for name, index in stmt[1]:
                p.qubit(name, index, line)
        elif kind == "reset":
            raise _err(line, _RESET)
        else:
            raise _err(line, "opaque gate declarations are not supported; define the gate "
                             "with a body: `gate name q { ... }`")

    def exprs(self, key: str, nodes: list[ast.Expression], line: int) -> tuple[Expr, ...]:
        # Names never change meaning once declared, so values resolved once stay valid.
        values = self.p.arg_cache.get(key)
        if values is None:
            values = tuple(self.p.expr(n, self.p.values, line) for n in nodes)
            self.p.arg_cache[key] = values
        return values

    def resolve(self, key: str, parsed: list[tuple[str, int | None]], line: int) -> list[Operand]:
        found = self.p.operand_cache.get(key)
        if found is None:
            found = [self.p.qubit(name, index, line) for name, index in parsed]
            self.p.operand_cache[key] = found
        return found


_FAST_KEYWORDS: dict[str, Callable[[_Fast, str, str], tuple]] = {
    "OPENQASM": _Fast.version,
    "include": _Fast.include,
    "qreg": _Fast.old_decl,
    "creg": _Fast.old_decl,
    "qubit": _Fast.new_decl,
    "bit": _Fast.new_decl,
    "measure": _Fast.measure,
    "barrier": _Fast.barrier,
    "reset": _Fast.reset,
    "opaque": _Fast.opaque,
}


# --------------------------------------------------------------------------------------------
# Driver: lines to the fast lane, the rest to the reference parser in chunks
# --------------------------------------------------------------------------------------------


class _Chunk:
    """Consecutive lines for the reference parser; tracks whether the text ends a statement."""

    def __init__(self, start: int):
        self.start = start
        self.lines: list[str] = []
        self.depth = 0
        self.comment = False
        self.last = ";"

    def add(self, line: str) -> None:
        self.lines.append(line)
        stripped = line.lstrip()
        if not self.comment and self.depth == 0 and stripped.startswith(("pragma", "#pragma")):
            self.last = ";"  # a pragma runs to the end of its line
            return
        i, n = 0, len(line)
        while i < n:
            i = self._scan(line, i)

    def _scan(self, line: str, i: int) -> int:
        if self.comment:
            end = line.find("*/", i)
            self.comment = end < 0
            return len(line) if end < 0 else end + 2
        ch = line[i]
        if line.startswith("//", i):
            return len(line)
        if line.startswith("/*", i):
            self.comment = True
            return i + 2
        if ch == '"':
            end = line.find('"', i + 1)
            self.last = '"'
            return len(line) if end < 0 else end + 1
        self.depth += (ch == "{") - (ch == "}")
        if not ch.isspace():
            self.last = ch
        return i + 1

    @property
    def complete(self) -> bool:
        return not self.comment and self.depth <= 0 and self.last in ";}"


def _detect_v2(text: str) -> bool:
    body = re.sub(r"//[^\n]*|/\*.*?\*/", " ", text[:4000], flags=re.S)
    return re.match(r"\s*OPENQASM\s+2", body) is not None


def _read(text: str, program: _Program) -> None:
    fast = _Fast(program)
    chunk: _Chunk | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if chunk is not None and not chunk.complete:
            chunk.add(line)
            continue
        stmts = fast.line(line)
        if stmts is None:
            chunk = chunk or _Chunk(number)
            chunk.add(line)
            continue
        if chunk is not None:
            _flush(chunk, program)
            chunk = None
        for stmt in stmts:
            fast.run(stmt, number)
    if chunk is not None:
        _flush(chunk, program)


def _flush(chunk: _Chunk, program: _Program) -> None:
    text = "\n".join(chunk.lines)
    if program.v2:
        text = text.replace("^", "**")  # OpenQASM 2's power operator
    _check_nesting(text, chunk.start - 1)
    tree = _parse(text, chunk.start - 1)
    _Walker(program, chunk.start - 1).program(tree)


_NESTING_TOKEN = re.compile(
    r'(?P<skip>//[^\n]*|/\*.*?(?:\*/|\Z)|"[^"\n]*"?)|(?P<open>\()|(?P<close>\))|(?P<minus>-)'
    r'|(?P<op>[+*/^])|(?P<end>[;{}])|(?P<other>[^\s()+*/^;{}"-]+)', re.S)


def _check_nesting(text: str, offset: int) -> None:
    """Refuse brackets and unary minus nested past :data:`MAX_NESTING` or statements of more
    than :data:`MAX_EXPR_SIZE` operators before the reference parser spends seconds on them."""
    if sum(map(text.count, "(-+*/^")) <= MAX_NESTING:
        return
    depth = run = ops = 0  # open brackets; minus signs in a row (unary minus); operators
    for match in _NESTING_TOKEN.finditer(text):
        kind = match.lastgroup
        if kind == "skip":
            continue
        depth += (kind == "open") - (kind == "close")
        run = run + 1 if kind == "minus" else run if kind == "open" else 0
        ops = 0 if kind == "end" else ops + (kind in ("minus", "op"))
        if depth + run > MAX_NESTING or ops > MAX_EXPR_SIZE:
            what = (f"nests brackets and unary minus more than {MAX_NESTING} deep"
                    if ops <= MAX_EXPR_SIZE else f"has more than {MAX_EXPR_SIZE} operators")
            raise _err(offset + 1 + text.count("\n", 0, match.start()),
                       f"the expression {what}; simplify it or split it with const declarations")


def from_qasm(text: str, *, max_ops: int | None = None) -> Circuit:
    """Read an OpenQASM 3 (or 2.0) program into a :class:`~qdl.circuit.Circuit`.

    ``input float`` declarations become free parameters; measurements at the end are
    ignored. Anything QDL cannot simulate raises :class:`~qdl.errors.QDLError` naming the
    line.

    Input costs no more than its size: before expanding anything the reader checks the limits
    of the module docstring (qubits, operations, expression depth and size, finite numbers).

    Args:
        text: the program source.
        max_ops: operation budget: the most operations the program may expand to (gate
            definitions inlined, ``pow(k) @`` repeated, broadcasts and slices unrolled),
            checked on counts before expanding. Default: ``max(MAX_OPS, OPS_PER_CHAR *
            len(text))``, 100,000 for short programs.

    Returns:
        The circuit; wires are numbered in declaration order of the qubit registers.

    Raises:
        QDLError: on syntax errors, unknown gates, wrong arity, out-of-range qubits,
            unsupported features (reset, mid-circuit measurement, classical control, ...), and
            programs past a limit (more than 64 qubits, more than ``max_ops`` operations,
            expressions nested too deeply or too long, infinite numbers).

    >>> c = from_qasm('OPENQASM 3; include "stdgates.inc"; input float[64] theta; '
    ...               'qubit[2] q; h q[0]; cx q[0], q[1]; rx(2*theta + 0.1) q[1];')
    >>> c.n_qubits, c.parameters, c.ops[-1]
    (2, ('theta',), rx(2.0 * theta + 0.1) q[1])
    >>> from_qasm('OPENQASM 3; qubit q; reset q;')
    Traceback (most recent call last):
    qdl.errors.QDLError: line 1: reset is not supported; ...
    """
    if not isinstance(text, str):
        raise QDLError(f"from_qasm expects the program text as a str, got {type(text).__name__}")
    if max_ops is None:
        max_ops = max(MAX_OPS, OPS_PER_CHAR * len(text))
    elif not isinstance(max_ops, int) or isinstance(max_ops, bool) or max_ops < 0:
        raise QDLError(f"max_ops must be a non-negative int, got {max_ops!r}")
    program = _Program(v2=_detect_v2(text), max_ops=max_ops)
    _read(text, program)
    return program.finish()


@cache
def _compile_definition(source: str, library: bool) -> _GateDef:
    program = _Program(library=library)
    tree = _parse(source, 0)
    (stmt,) = tree.statements
    return _Walker(program).compile_gate(stmt, 1).definition()  # type: ignore[arg-type]


def _table_definition(name: str) -> _GateDef:
    """A table gate's ``qasm_def`` compiled against the table, for recognising copies of it."""
    return _compile_definition(GATES[name].qasm_def or "", True)


def _library_gate(name: str) -> _GateDef:
    return _compile_definition(_LIBRARY[name], True)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _definitions(names: Iterable[str]) -> list[str]:
    """``qasm_def`` of the non-standard gates used, with the ones they use, in table order."""
    for n in names:
        if GATES[n].family and not GATES[n].qasm_def:
            raise QDLError(f"gate {n} ({GATES[n].num_wires} qubits, given by its matrix) has no "
                           "OpenQASM decomposition in QDL; only 1-qubit matrices export")
    need = {n for n in names if GATES[n].qasm_def}
    grew = True
    while grew:
        words = {w for n in need for w in re.findall(r"\w+", GATES[n].qasm_def or "")}
        more = {w for w in words if w in GATES and GATES[w].qasm_def} - need
        need |= more
        grew = bool(more)
    # Table rows in table order, then rows made on demand (Pauli words, matrices) by name.
    return [GATES[n].qasm_def for n in [*GATES, *sorted(need - GATES.keys())]  # type: ignore[misc]
            if n in need]


def _op_line(op: Op, reg: str) -> str:
    name = "U" if op.name == "u" else op.name
    mods = "" if not op.ctrl else "ctrl @ " if op.ctrl == 1 else f"ctrl({op.ctrl}) @ "
    args = f"({', '.join(p.qasm() for p in op.params)})" if op.params else ""
    wires = ", ".join(f"{reg}[{w}]" for w in op.wires)
    return f"{mods}{name}{args} {wires};" if wires else f"{mods}{name}{args};"


def to_qasm(circuit: Circuit, version: int = 3) -> str:
    """Write a circuit as an OpenQASM 3 (or 2.0) program.

    Gates outside ``stdgates.inc`` get their definitions, free parameters become
    ``input float[64]`` declarations, and ``from_qasm(to_qasm(c)) == c``. With
    ``version=2`` see :func:`to_qasm2`.

    Args:
        circuit: the circuit to write.
        version: 3 (default) or 2.

    Returns:
        The program text, one statement per line.

    Raises:
        QDLError: if a parameter name is an OpenQASM reserved word (``pi``, ``input`` ...).

    >>> print(to_qasm(Circuit(2).h(0).cx(0, 1).rzz(0, 1, "theta")))
    OPENQASM 3.0;
    include "stdgates.inc";
    gate rzz(theta) a, b { cx a, b; rz(theta) b; cx a, b; }
    input float[64] theta;
    qubit[2] q;
    h q[0];
    cx q[0], q[1];
    rzz(theta) q[0], q[1];
    """
    if version == 2:
        return to_qasm2(circuit)
    if version != 3:
        raise QDLError(f"OpenQASM version must be 2 or 3, got {version!r}")
    params = circuit.parameters
    for name in params:
        if name in _RESERVED:
            raise QDLError(f"parameter name {name!r} is reserved in OpenQASM; rename it "
                           "(e.g. circuit.bind or a new circuit with another name)")
    reg = "q"
    while reg in params:
        reg += "_"
    lines = ["OPENQASM 3.0;", 'include "stdgates.inc";']
    lines += _definitions({op.name for op in circuit.ops})
    lines += [f"input float[64] {name};" for name in params]
    if circuit.n_qubits:
        lines.append(f"qubit[{circuit.n_qubits}] {reg};")
    lines += [_op_line(op, reg) for op in circuit.ops]
    return "\n".join(lines) + "\n"


# OpenQASM 2.0 output must read in Qiskit's qasm2 (whose qelib1.inc is the original one) and
# in QDL's reader (whose qelib1.inc knows a few more gates and forbids redefining them).
_QASM2_NATIVE = frozenset(
    "u3 u2 u1 cx id x y z h s sdg t tdg rx ry rz cz cy ch ccx crz cu1 cu3".split())
_QASM2_RENAME = {"p": "u1", "cp": "cu1", "u": "u3"}
# Exact (global phase included) definitions from native gates; `qdl_` where QDL's qelib1
# already has the name.
_QASM2_DEFS = {
    "sx": "gate sx a { h a; s a; h a; }",
    "sxdg": "gate sxdg a { h a; sdg a; h a; }",
    "csx": "gate csx a, b { h b; cu1(pi/2) a, b; h b; }",
    "swap": "gate qdl_swap a, b { cx a, b; cx b, a; cx a, b; }",
    "cswap": "gate qdl_cswap a, b, c { cx c, b; ccx a, b, c; cx c, b; }",
    "crx": "gate qdl_crx(theta) a, b { cu3(theta, -pi/2, pi/2) a, b; }",
    "cry": "gate qdl_cry(theta) a, b { cu3(theta, 0, 0) a, b; }",
    "rzz": "gate qdl_rzz(theta) a, b { cx a, b; rz(theta) b; cx a, b; }",
    "rxx": "gate qdl_rxx(theta) a, b { h a; h b; cx a, b; rz(theta) b; cx a, b; h a; h b; }",
    "ryy": "gate ryy(theta) a, b { rx(pi/2) a; rx(pi/2) b; cx a, b; rz(theta) b; cx a, b; "
           "rx(-pi/2) a; rx(-pi/2) b; }",
    "iswap": "gate iswap a, b { s a; s b; h a; cx a, b; cx b, a; h b; }",
    "iswap_dg": "gate iswap_dg a, b { h b; cx b, a; cx a, b; h a; sdg b; sdg a; }",
    "ccz": "gate ccz a, b, c { h c; ccx a, b, c; h c; }",
}


def _qasm2_name(op: Op) -> str:
    if op.ctrl:
        raise QDLError(f"'{op!r}': ctrl @ modifiers have no OpenQASM 2.0 form; use "
                       "to_qasm(circuit) (OpenQASM 3)")
    if op.name in _QASM2_NATIVE:
        return op.name
    if op.name in _QASM2_RENAME:
        return _QASM2_RENAME[op.name]
    if op.name not in _QASM2_DEFS:
        raise QDLError(f"gate {op.name!r} has no OpenQASM 2.0 form in qelib1.inc; use "
                       "to_qasm(circuit) (OpenQASM 3)")
    return re.match(r"gate (\w+)", _QASM2_DEFS[op.name])[1]  # type: ignore[index]


def _qasm2_lines(op: Op) -> list[str]:
    if op.name == "gphase":
        # OpenQASM 2 has no global phase; X·u1(γ)·X·u1(γ) = e^{iγ}·I on any one qubit.
        g = op.params[0].qasm()
        return [f"u1({g}) q[0];", "x q[0];", f"u1({g}) q[0];", "x q[0];"]
    args = f"({', '.join(p.qasm() for p in op.params)})" if op.params else ""
    return [f"{_qasm2_name(op)}{args} {', '.join(f'q[{w}]' for w in op.wires)};"]


def to_qasm2(circuit: Circuit) -> str:
    """Write a circuit with bound parameters as an OpenQASM 2.0 program.

    Uses the original ``qelib1.inc`` gates (``p``/``cp``/``u`` as ``u1``/``cu1``/``u3``) and
    exact definitions for the rest; Qiskit's ``qasm2.loads`` and :func:`from_qasm` both read
    it and give the same state (the op list read back may differ: defined gates are inlined).

    Raises:
        QDLError: for free parameters (OpenQASM 2 has none: bind them first), ``ctrl @``
            modifiers, and gates with no definition here (``c3x``, ``c3sqrtx``, ``c4x``).

    >>> print(to_qasm2(Circuit(2).sx(0).cp(0, 1, 0.5)))
    OPENQASM 2.0;
    include "qelib1.inc";
    gate sx a { h a; s a; h a; }
    qreg q[2];
    sx q[0];
    cu1(0.5) q[0], q[1];
    """
    if circuit.parameters:
        raise QDLError(f"OpenQASM 2.0 has no free parameters; bind {list(circuit.parameters)} "
                       "first (circuit.bind({...})) or write OpenQASM 3")
    body = [line for op in circuit.ops for line in _qasm2_lines(op)]
    if any(op.name == "gphase" for op in circuit.ops) and not circuit.n_qubits:
        raise QDLError("a global phase on a 0-qubit circuit has no OpenQASM 2.0 form")
    used = {op.name for op in circuit.ops}
    lines = ["OPENQASM 2.0;", 'include "qelib1.inc";']
    lines += [d for name, d in _QASM2_DEFS.items() if name in used]
    if circuit.n_qubits:
        lines.append(f"qreg q[{circuit.n_qubits}];")
    return "\n".join(lines + body) + "\n"
