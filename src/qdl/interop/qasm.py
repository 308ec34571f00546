"""OpenQASM 3 (and 2.0) in and out: :func:`from_qasm` reads a program, :func:`to_qasm` writes one.

Reading walks the AST of the OpenQASM 3 reference parser (``openqasm3.parse``). Because that
parser manages only about 5000 lines a second, flat lines made of simple statements
(``name(args) q[i], r[j];``, register declarations, ``measure``, ``barrier``, ``include``) take
a fast lane: a small tokenizer turns them into the same AST nodes the reference parser would
build. Everything the fast lane does not fully understand -- gate definitions, modifiers,
``if``, loops, block comments, any line it cannot tokenize -- goes to the reference parser in
chunks, so both lanes share one meaning and one set of error messages. Every error is a
:class:`~qdl.errors.QDLError` that starts with ``line N:``. The parts: this module (the
reference parser's lane and the driver), :mod:`qdl.interop.qasm_fast` (the fast lane),
:mod:`qdl.interop.qasm_program` (the program both lanes build) and
:mod:`qdl.interop.qasm_writer` (the writers, re-exported here).

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

import re
from collections.abc import Callable, Sequence
from functools import cache

from openqasm3 import ast

from qdl.circuit import Circuit
from qdl.errors import QDLError
from qdl.expr import Const, Sym
from qdl.interop.qasm_fast import FastLane
from qdl.interop.qasm_program import (
    MAX_EXPR_DEPTH,
    MAX_EXPR_SIZE,
    MAX_NESTING,
    MAX_OPS,
    OPS_PER_CHAR,
    RESET_ERROR,
    UNSUPPORTED,
    Body,
    GateDef,
    Modifier,
    Operand,
    Program,
    check_modifiers,
    control_count,
    describe,
    err,
    exact_int,
)
from qdl.interop.qasm_writer import to_qasm, to_qasm2

__all__ = ["MAX_EXPR_DEPTH", "MAX_EXPR_SIZE", "MAX_NESTING", "MAX_OPS", "OPS_PER_CHAR", "from_qasm",
           "to_qasm", "to_qasm2"]

# Prediction-cache states past which the reference parser's cache is dropped; programs of the
# usual shapes need a few hundred, and the cache rebuilds in a few milliseconds.
_MAX_DFA_STATES = 5000

# --------------------------------------------------------------------------------------------
# The reference-parser lane: AST statements
# --------------------------------------------------------------------------------------------


class _Walker:
    """Feeds reference-parser AST statements into a :class:`Program`."""

    def __init__(self, program: Program, offset: int = 0):
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
        what = UNSUPPORTED.get(type(stmt), f"{describe(stmt)} is not supported")
        raise err(line, what)

    def include(self, stmt: ast.Include, line: int) -> None:
        self.p.include(stmt.filename, line)

    def qubit_decl(self, stmt: ast.QubitDeclaration, line: int) -> None:
        size = None if stmt.size is None else self.p.const_int(stmt.size, line, "register size")
        self.p.qubits(stmt.qubit.name, size, line)

    def classical_decl(self, stmt: ast.ClassicalDeclaration, line: int) -> None:
        if not isinstance(stmt.type, ast.BitType):
            raise err(line, f"classical variables ({describe(stmt.type)}) are not supported; "
                             "use `const` for numbers or `input float[64]` for parameters")
        self._bit_decl(stmt.type, stmt.identifier.name, line)
        init = stmt.init_expression
        if isinstance(init, ast.QuantumMeasurement):
            self.p.measure(self.operand(init.qubit, line), self.p.cregs[stmt.identifier.name],
                           line)
        elif init is not None:
            raise err(line, "initialised bit registers are not supported")

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
            raise err(line, f"{stmt.io_identifier.name} {describe(stmt.type)} '{name}' is not "
                             "supported; free parameters are `input float[64] name;`")

    def const_decl(self, stmt: ast.ConstantDeclaration, line: int) -> None:
        numeric = ast.FloatType | ast.AngleType | ast.IntType | ast.UintType
        if not isinstance(stmt.type, numeric):
            raise err(line, f"constants of type {describe(stmt.type)} are not supported; "
                             "use float, angle, int or uint")
        value = self.p.expr(stmt.init_expression, self.p.values, line)
        self.p.const(stmt.identifier.name, value, line)

    def gate_def(self, stmt: ast.QuantumGateDefinition, line: int) -> None:
        body = self.compile_gate(stmt, line)
        self.p.define(stmt.name.name, body, line)

    def compile_gate(self, stmt: ast.QuantumGateDefinition, line: int) -> Body:
        name = stmt.name.name
        params = [a.name for a in stmt.arguments]
        qubits = [q.name for q in stmt.qubits]
        for names, what in ((params, "parameter"), (qubits, "qubit")):
            if len(set(names)) != len(names):
                raise err(line, f"gate '{name}' declares a {what} name twice: {names}")
        consts = {k: v for k, v in self.p.values.items() if isinstance(v, Const)}
        scope = consts | {a: Sym(f"_p{i}") for i, a in enumerate(params)}
        body = Body(name, params, scope, {q: i for i, q in enumerate(qubits)})
        self.p.defining = name
        try:
            for inner in stmt.body:
                self.body_statement(inner, body)
        finally:
            self.p.defining = None
        return body

    def body_statement(self, stmt: ast.QASMNode, body: Body) -> None:
        line = self.line(stmt)
        if isinstance(stmt, ast.QuantumBarrier):
            for q in stmt.qubits:
                self.local_qubit(q, body, line)
            return
        if not isinstance(stmt, ast.QuantumGate | ast.QuantumPhase):
            raise err(line, f"{describe(stmt)} is not allowed in the body of gate "
                             f"'{body.name}'; a gate body holds only gate calls and gphase")
        mods = self.modifiers(stmt.modifiers, line)
        if isinstance(stmt, ast.QuantumGate):
            name, count = stmt.name.name, len(stmt.qubits)
        else:  # extra gphase operands beyond the controls only scope the global phase
            name, count = "gphase", control_count(mods)
        where = (f" in the body of gate '{body.name}'; a gate body can use only its parameters "
                 f"({', '.join(body.params) or 'none'}), constants and pi/tau/euler")
        args = [self.p.expr(a, body.scope, line, where) for a in _arguments(stmt)]
        wires = [self.local_qubit(q, body, line) for q in stmt.qubits[:count]]
        self.p.extend_body(body, name, mods, args, wires, line)

    def local_qubit(self, node: ast.QASMNode, body: Body, line: int) -> int:
        if isinstance(node, ast.Identifier) and node.name in body.qubits:
            return body.qubits[node.name]
        text = node.name if isinstance(node, ast.Identifier) else describe(node)
        raise err(line, f"'{text}' is not a qubit argument of gate '{body.name}' (arguments: "
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
        check_modifiers(out, line)
        return out

    def _power(self, node: ast.Expression, line: int) -> int:
        exact = exact_int(node)
        if exact is not None:
            return exact
        value = self.p.expr(node, self.p.values, line)
        if not isinstance(value, Const) or value.value != int(value.value):
            raise err(line, f"pow({value!r}) @ is not supported: only integer powers are; "
                             "for roots use sx, s or t, or rotation gates with scaled angles")
        return int(value.value)

    def gate_call(self, stmt: ast.QuantumGate, line: int) -> None:
        if stmt.duration is not None:
            raise err(line, "gate durations are not supported; remove the [duration]")
        mods = self.modifiers(stmt.modifiers, line)
        args = [self.p.expr(a, self.p.values, line) for a in stmt.arguments]
        operands = [self.operand(q, line) for q in stmt.qubits]
        self.p.call(stmt.name.name, mods, args, operands, line)

    def phase(self, stmt: ast.QuantumPhase, line: int) -> None:
        mods = self.modifiers(stmt.modifiers, line)
        arg = self.p.expr(stmt.argument, self.p.values, line)
        operands = [self.operand(q, line) for q in stmt.qubits]
        # Operands beyond the controls only scope the (global) phase.
        self.p.call("gphase", mods, [arg], operands[: control_count(mods)], line)

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
        raise err(line, RESET_ERROR)

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
        raise err(line, f"unsupported operand {describe(node)}; use q, q[i], q[a:b] or "
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
                raise err(line, "a range step must not be zero")
            picks = range(start, end + (1 if step > 0 else -1), step)
            # A range is monotonic: with both ends in the register every index is, and it
            # has at most twice the register size, so it is checked before it is unrolled.
            for end_index in (picks[0], picks[-1]) if picks else ():
                self.p.qubit(name, end_index, line)
        return tuple(self.p.qubit(name, i, line) for i in picks)  # type: ignore[misc]


def _arguments(stmt: ast.QuantumGate | ast.QuantumPhase) -> list[ast.Expression]:
    return [stmt.argument] if isinstance(stmt, ast.QuantumPhase) else list(stmt.arguments)


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
        raise err(offset + 1, "the statement starting here nests too deeply for the OpenQASM "
                               "parser (brackets, unary minus or chained operators); simplify it "
                               "or split it with const declarations") from None
    except Exception as exc:  # QASM3ParsingError and ANTLR's cancellations
        long = re.search(r"(?<!\d)\d{4301}", text) if "integer string" in _chain(exc) else None
        if long is not None:
            raise err(offset + 1 + text.count("\n", 0, long.start()),
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


def _read(text: str, program: Program) -> None:
    fast = FastLane(program)
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


def _flush(chunk: _Chunk, program: Program) -> None:
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
            raise err(offset + 1 + text.count("\n", 0, match.start()),
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
    program = Program(_library_definition, v2=_detect_v2(text), max_ops=max_ops)
    _read(text, program)
    return program.finish()


@cache
def _compile_definition(source: str, library: bool) -> GateDef:
    program = Program(_library_definition, library=library)
    tree = _parse(source, 0)
    (stmt,) = tree.statements
    return _Walker(program).compile_gate(stmt, 1).definition()  # type: ignore[arg-type]


def _library_definition(source: str) -> GateDef:
    """A built-in gate's QASM definition, compiled against the gate table."""
    return _compile_definition(source, True)

