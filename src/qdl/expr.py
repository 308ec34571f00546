"""Gate-parameter expressions: numbers, named free inputs, and arithmetic on them.

Expressions are frozen dataclasses, so circuits that contain them stay hashable and
comparable. They evaluate on torch tensors, which lets autograd carry gradients from gate
angles back to the named inputs (the chain rule for ``rx(2*theta + 0.1)`` costs nothing).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from qdl.errors import QDLError

Value = torch.Tensor | float

_FUNCS: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[float], float]]] = {
    "sin": (torch.sin, math.sin),
    "cos": (torch.cos, math.cos),
    "tan": (torch.tan, math.tan),
    "arcsin": (torch.asin, math.asin),
    "arccos": (torch.acos, math.acos),
    "arctan": (torch.atan, math.atan),
    "exp": (torch.exp, math.exp),
    "ln": (torch.log, math.log),
    "sqrt": (torch.sqrt, math.sqrt),
}
_BINARY: dict[str, Callable[[Value, Value], Value]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "**": lambda a, b: a**b,
}
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "**": 3}


class Expr:
    """Base of parameter expressions; supports ``+ - * / **`` and unary minus.

    >>> e = 2 * Sym("theta") + 0.1
    >>> e.evaluate({"theta": 1.0})
    2.1
    """

    def evaluate(self, env: Mapping[str, Value]) -> Value:
        """Value of the expression with the free symbols taken from ``env``."""
        raise NotImplementedError

    def symbols(self) -> tuple[str, ...]:
        """Free symbol names in order of first appearance."""
        raise NotImplementedError

    def qasm(self, parent: int = 0) -> str:
        """OpenQASM 3 source text of the expression."""
        raise NotImplementedError

    def __add__(self, other: object) -> Expr:
        return binary("+", self, as_expr(other))

    def __radd__(self, other: object) -> Expr:
        return binary("+", as_expr(other), self)

    def __sub__(self, other: object) -> Expr:
        return binary("-", self, as_expr(other))

    def __rsub__(self, other: object) -> Expr:
        return binary("-", as_expr(other), self)

    def __mul__(self, other: object) -> Expr:
        return binary("*", self, as_expr(other))

    def __rmul__(self, other: object) -> Expr:
        return binary("*", as_expr(other), self)

    def __truediv__(self, other: object) -> Expr:
        return binary("/", self, as_expr(other))

    def __rtruediv__(self, other: object) -> Expr:
        return binary("/", as_expr(other), self)

    def __pow__(self, other: object) -> Expr:
        return binary("**", self, as_expr(other))

    def __rpow__(self, other: object) -> Expr:
        return binary("**", as_expr(other), self)

    def __neg__(self) -> Expr:
        return func("neg", self)


@dataclass(frozen=True)
class Const(Expr):
    """A real number."""

    value: float

    def evaluate(self, env: Mapping[str, Value]) -> Value:
        return self.value

    def symbols(self) -> tuple[str, ...]:
        return ()

    def qasm(self, parent: int = 0) -> str:
        text = _number(self.value)
        # "-x" needs brackets inside any operator; "k*pi/d" is itself a product, so it
        # needs them as the right operand of / or an operand of ** (parent > 2).
        compound = "*" in text or "/" in text
        if (text.startswith("-") and parent) or (compound and parent > 2):
            return f"({text})"
        return text

    def __repr__(self) -> str:
        return _number(self.value)


@dataclass(frozen=True)
class Sym(Expr):
    """A named free input (an OpenQASM ``input float`` parameter)."""

    name: str

    def evaluate(self, env: Mapping[str, Value]) -> Value:
        return env[self.name]

    def symbols(self) -> tuple[str, ...]:
        return (self.name,)

    def qasm(self, parent: int = 0) -> str:
        return self.name

    def __repr__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Func(Expr):
    """A function of one expression: ``neg`` or one of OpenQASM's math functions."""

    name: str
    arg: Expr

    def evaluate(self, env: Mapping[str, Value]) -> Value:
        x = self.arg.evaluate(env)
        if self.name == "neg":
            return -x
        tfn, ffn = _FUNCS[self.name]
        return tfn(x) if isinstance(x, torch.Tensor) else ffn(x)

    def symbols(self) -> tuple[str, ...]:
        return self.arg.symbols()

    def qasm(self, parent: int = 0) -> str:
        if self.name == "neg":
            text = "-" + self.arg.qasm(4)
            return f"({text})" if parent else text
        return f"{self.name}({self.arg.qasm()})"

    def __repr__(self) -> str:
        return self.qasm()


@dataclass(frozen=True)
class Binary(Expr):
    """``left op right`` for op in ``+ - * / **``."""

    op: str
    left: Expr
    right: Expr

    def evaluate(self, env: Mapping[str, Value]) -> Value:
        return _BINARY[self.op](self.left.evaluate(env), self.right.evaluate(env))

    def symbols(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.left.symbols() + self.right.symbols()))

    def qasm(self, parent: int = 0) -> str:
        p = _PRECEDENCE[self.op]
        # Brackets at equal precedence keep the tree, so the text parses back to the same
        # Expr: right operands of + - * / (left-associative) and the left operand of **.
        left = self.left.qasm(p + (self.op == "**"))
        right = self.right.qasm(p + (self.op != "**"))
        text = f"{left} {self.op} {right}"
        return f"({text})" if parent > p else text

    def __repr__(self) -> str:
        return self.qasm()


def as_expr(value: object) -> Expr:
    """Turn a number, a symbol name or an expression into an :class:`Expr`.

    >>> as_expr("theta"), as_expr(0.5)
    (theta, 0.5)
    """
    if isinstance(value, Expr):
        return value
    if isinstance(value, str):
        if not value.isidentifier():
            raise QDLError(f"parameter name {value!r} is not an identifier; use e.g. 'theta'")
        return Sym(value)
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise QDLError(
                "a gate angle given as a tensor must be a scalar; pass batched values through "
                "a named parameter instead (c.rx(0, 'theta') and params={'theta': tensor})"
            )
        value = value.item()
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise QDLError(f"gate angle {value} is not finite")
        return Const(float(value))
    raise QDLError(f"cannot use {value!r} of type {type(value).__name__} as a gate angle")


def binary(op: str, left: Expr, right: Expr) -> Expr:
    """Build ``left op right``, folding constants."""
    if isinstance(left, Const) and isinstance(right, Const):
        try:
            value = _BINARY[op](left.value, right.value)
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError("the result is not a finite real number")
            return Const(float(value))
        except (ZeroDivisionError, OverflowError, ValueError) as exc:
            raise QDLError(f"cannot evaluate {left.value} {op} {right.value}: {exc}") from None
    return Binary(op, left, right)


def func(name: str, arg: Expr) -> Expr:
    """Build ``name(arg)``, folding constants; ``neg`` is unary minus."""
    if name != "neg" and name not in _FUNCS:
        raise QDLError(f"unknown function {name!r}; known: {', '.join(sorted(_FUNCS))}")
    if isinstance(arg, Const):
        if name == "neg":
            return Const(-arg.value)
        try:
            return Const(_FUNCS[name][1](arg.value))
        except (ValueError, OverflowError) as exc:
            raise QDLError(f"cannot evaluate {name}({arg.value}): {exc}") from None
    if name == "neg" and isinstance(arg, Func) and arg.name == "neg":
        return arg.arg
    return Func(name, arg)


def _number(value: float) -> str:
    """Shortest exact text of a float, using ``pi`` for simple multiples of pi."""
    if not abs(value) < 1e6:  # huge multiples of pi are longer than the number (and overflow)
        return repr(float(value))
    for denom in (1, 2, 3, 4, 8, 16):
        mult = value * denom / math.pi
        k = round(mult)
        if k and abs(mult - k) < 1e-12 and float(k) * math.pi / denom == value:
            sign = "-" if k < 0 else ""
            num = "pi" if abs(k) == 1 else f"{abs(k)}*pi"
            return sign + (num if denom == 1 else f"{num}/{denom}")
    return repr(float(value))
