"""The fast lane of the OpenQASM reader: flat simple statements (``name(args) q[i], r[j];``,
declarations, ``measure``, ``barrier``, ``include``) tokenized without the reference parser,
into the same program calls its AST would make (:class:`~qdl.interop.qasm_program.Program`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from openqasm3 import ast

from qdl.expr import Expr
from qdl.interop.qasm_program import (
    KEYWORDS,
    MAX_EXPR_SIZE,
    MAX_NESTING,
    RESET_ERROR,
    Modifier,
    Operand,
    Program,
    check_modifiers,
    err,
)

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
            if bad or name in KEYWORDS or (punct == "^" and not v2):
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
class FastLane:
    """The fast lane: parses simple lines, executes them on a :class:`Program`."""

    p: Program
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
        if word in KEYWORDS:
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
        if match is None or match[1] in KEYWORDS:
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
        if match is None or match[3] in KEYWORDS:
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
                check_modifiers(mods, line)
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
            raise err(line, RESET_ERROR)
        else:
            raise err(line, "opaque gate declarations are not supported; define the gate "
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


_FAST_KEYWORDS: dict[str, Callable[[FastLane, str, str], tuple]] = {
    "OPENQASM": FastLane.version,
    "include": FastLane.include,
    "qreg": FastLane.old_decl,
    "creg": FastLane.old_decl,
    "qubit": FastLane.new_decl,
    "bit": FastLane.new_decl,
    "measure": FastLane.measure,
    "barrier": FastLane.barrier,
    "reset": FastLane.reset,
    "opaque": FastLane.opaque,
}


