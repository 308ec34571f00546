"""Parameter expressions: building, constant folding, evaluation, OpenQASM text."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from qdl import QDLError
from qdl.expr import Binary, Const, Func, Sym, as_expr, binary, func

A, B = Sym("a"), Sym("b")
# Python evaluates the printed text independently: same precedence as OpenQASM 3 for
# + - * / ** and unary minus; the function names map to math.
_NAMESPACE = {
    "__builtins__": {}, "pi": math.pi, "sin": math.sin, "cos": math.cos, "tan": math.tan,
    "arcsin": math.asin, "arccos": math.acos, "arctan": math.atan, "exp": math.exp,
    "ln": math.log, "sqrt": math.sqrt,
}


def _eval_text(text: str, env: dict[str, float]) -> float:
    return eval(text, dict(_NAMESPACE), dict(env))  # our own printed text


def test_constants_fold():
    """Arithmetic on constants folds to one Const."""
    assert binary("*", Const(2.0), Const(3.0)) == Const(6.0)
    assert as_expr(2) * 3 + 1 == Const(7.0)
    assert as_expr(1) / 4 == Const(0.25)
    assert as_expr(2) ** 3 == Const(8.0)
    assert func("sin", Const(0.5)) == Const(math.sin(0.5))
    assert -Const(2.0) == Const(-2.0)


def test_symbols_stay_symbolic():
    """Expressions with a symbol keep their structure."""
    e = 2 * Sym("theta") + 0.1
    assert e == Binary("+", Binary("*", Const(2.0), Sym("theta")), Const(0.1))
    assert func("sin", A) == Func("sin", A)


def test_double_negation_cancels():
    """−(−a) is a again."""
    assert -(-A) == A  # noqa: B002
    assert isinstance(-A, Func)


@pytest.mark.parametrize("theta", [1.0, -0.3, 2.5])
def test_evaluate_floats(theta):
    """Evaluation on floats matches direct arithmetic."""
    assert (2 * Sym("theta") + 0.1).evaluate({"theta": theta}) == pytest.approx(2 * theta + 0.1)
    assert func("sin", A).evaluate({"a": theta}) == pytest.approx(math.sin(theta))
    e = (A - B) / (A * B + 3) ** 2
    want = (theta - 0.7) / (theta * 0.7 + 3) ** 2
    assert e.evaluate({"a": theta, "b": 0.7}) == pytest.approx(want)


@pytest.mark.parametrize("batch", [(), (3,), (2, 3)], ids=str)
@pytest.mark.parametrize("real", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_evaluate_tensors_carries_gradients(batch, real):
    """Evaluation on tensors broadcasts and autograd gives the chain rule."""
    theta = torch.linspace(-1, 2, math.prod(batch), dtype=real).reshape(batch)
    theta.requires_grad_(True)
    out = (2 * Sym("theta") + 0.1).evaluate({"theta": theta})
    out2 = func("sin", Sym("theta")).evaluate({"theta": theta})
    assert out.shape == batch and out.dtype == real
    (out.sum() + out2.sum()).backward()
    expected = 2 + torch.cos(theta.detach())
    torch.testing.assert_close(theta.grad, expected)


def test_symbols_in_order_of_first_appearance():
    """symbols() lists each free name once, in order."""
    e = B * A + func("sin", B) - A
    assert e.symbols() == ("b", "a")
    assert Const(1.0).symbols() == ()


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        (2 * A + 0.1, "2.0 * a + 0.1"),
        (A - (B - 1), "a - (b - 1.0)"),
        ((A - B) - 1, "a - b - 1.0"),
        (A / (B * 2), "a / (b * 2.0)"),
        ((A + B) * 2, "(a + b) * 2.0"),
        (A ** (B ** 2), "a ** b ** 2.0"),
        ((A**B) ** 2, "(a ** b) ** 2.0"),
        (-A, "-a"),
        (-(A + B), "-(a + b)"),
        (A * -B, "a * (-b)"),
        (A + -0.5, "a + (-0.5)"),
        (func("sin", 2 * A), "sin(2.0 * a)"),
        (Const(math.pi), "pi"),
        (Const(-math.pi / 2), "-pi/2"),
        (Const(3 * math.pi / 4), "3*pi/4"),
        (Const(2 * math.pi), "2*pi"),
        (Const(0.1), "0.1"),
    ],
    ids=repr,
)
def test_qasm_text(expr, text):
    """OpenQASM text uses minimal brackets and pi for simple multiples of pi."""
    assert expr.qasm() == text


@pytest.mark.parametrize(
    "expr",
    [A / (math.pi / 2), (math.pi / 2) ** A, A / (2 * math.pi), A ** Const(3 * math.pi / 4),
     A - math.pi / 4, -Binary("/", A, Const(math.pi / 8))],
    ids=repr,
)
def test_qasm_text_of_pi_fractions_keeps_meaning(expr):
    """A constant printed as 'pi/2' stays one operand wherever it sits."""
    env = {"a": 0.7}
    assert _eval_text(expr.qasm(), env) == pytest.approx(expr.evaluate(env), rel=1e-12)


@pytest.mark.parametrize("value", [math.pi, -math.pi / 2, 3 * math.pi / 16, 0.1, -2.5, 1e-7])
def test_constant_text_is_exact(value):
    """Printed constants read back to the same float."""
    assert _eval_text(Const(value).qasm(), {}) == value


def test_huge_constants_print_as_numbers():
    """Constants near the float64 limit print plainly (no overflowing multiple of pi)."""
    assert Const(1e308).qasm() == "1e+308" and Const(-1.7e308).qasm() == "-1.7e+308"
    assert Const(1e6 * math.pi).qasm() == repr(1e6 * math.pi)


_CONSTS = [0.5, -1.5, 2.0, 1e-3, math.pi, math.pi / 2, -math.pi / 4, 3 * math.pi / 4, 2 * math.pi]


def _safe(build):
    def run(args):
        try:
            return build(*args)
        except QDLError:
            return None

    return run


def _extend(children):
    ops = st.sampled_from(["+", "-", "*", "/"])
    return st.one_of(
        st.tuples(ops, children, children).map(_safe(binary)),
        st.tuples(ops, children, children).map(lambda t: Binary(*t)),
        st.tuples(st.just("**"), children, st.sampled_from([2.0, 3.0, -1.0]).map(Const))
        .map(_safe(binary)),
        st.tuples(st.sampled_from(["neg", "sin", "cos", "arctan"]), children).map(_safe(func)),
        st.tuples(st.just("neg"), children).map(lambda t: Func(*t)),
    ).filter(lambda e: e is not None)


_EXPRS = st.recursive(
    st.one_of(st.sampled_from([A, B]), st.sampled_from(_CONSTS).map(Const)), _extend,
    max_leaves=8,
)


_SMALL = [A, B, -A, A + B, A - B, A * B, A / B, A**2, func("sin", A),
          *(Const(v) for v in _CONSTS)]


def test_qasm_text_of_all_small_trees():
    """Every op over every pair of small operands (constants unfolded) prints faithfully."""
    env = {"a": 0.7, "b": -1.3}
    for op in ["+", "-", "*", "/", "**"]:
        for left in _SMALL:
            for right in _SMALL:
                for expr in (Binary(op, left, right), -Binary(op, left, right)):
                    try:
                        want = expr.evaluate(env)
                    except (ZeroDivisionError, OverflowError, ValueError):
                        continue
                    if not isinstance(want, float):  # negative base, fractional power
                        continue
                    got = _eval_text(expr.qasm(), env)
                    assert got == pytest.approx(want, rel=1e-9, abs=1e-12), expr.qasm()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(_EXPRS, st.floats(-2, 2), st.floats(-2, 2))
def test_qasm_text_evaluates_like_the_expression(expr, a, b):
    """The printed OpenQASM text, evaluated independently, equals Expr.evaluate."""
    env = {"a": a, "b": b}
    try:
        want = expr.evaluate(env)
        got = _eval_text(expr.qasm(), env)
    except (ZeroDivisionError, OverflowError, ValueError):
        assume(False)
        return
    assume(isinstance(want, float) and math.isfinite(want) and abs(want) < 1e6)
    assert isinstance(got, float)
    assert got == pytest.approx(want, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize(
    "build",
    [
        lambda: func("foo", A),
        lambda: func("ln", Const(0.0)),
        lambda: func("sqrt", Const(-1.0)),
        lambda: func("exp", Const(1000.0)),
        lambda: binary("/", Const(1.0), Const(0.0)),
        lambda: Const(-8.0) ** Const(1 / 3),
        lambda: Const(1e308) * Const(10.0),
        lambda: Const(1e308) ** 2,
    ],
    ids=["unknown-func", "ln0", "sqrt-neg", "exp-overflow", "div0", "complex-pow", "mul-inf",
         "pow-overflow"],
)
def test_folding_errors_are_qdlerrors(build):
    """Constant folding that cannot give a finite real raises QDLError."""
    with pytest.raises(QDLError):
        build()


def test_unknown_function_lists_known_ones():
    """The unknown-function message names the function and the known ones."""
    with pytest.raises(QDLError, match=r"unknown function 'foo'.*sin"):
        func("foo", A)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("theta", Sym("theta")), (0.5, Const(0.5)), (3, Const(3.0)),
     (torch.tensor(0.25), Const(0.25)), (A + 1, A + 1)],
    ids=repr,
)
def test_as_expr_accepts(value, expected):
    """Numbers, identifiers, scalar tensors and expressions become expressions."""
    assert as_expr(value) == expected


@pytest.mark.parametrize(
    "value",
    ["1abc", "a b", True, float("nan"), float("inf"), torch.zeros(2), object(), None, 1j],
    ids=repr,
)
def test_as_expr_rejects(value):
    """Non-identifiers, bools, non-finite numbers, non-scalar tensors raise QDLError."""
    with pytest.raises(QDLError):
        as_expr(value)


def test_equality_and_hash():
    """Structurally equal expressions are equal and hash alike; usable as dict keys."""
    e1, e2, e3 = 2 * A + 1, 2 * Sym("a") + 1, 2 * B + 1
    assert e1 == e2 and hash(e1) == hash(e2)
    assert e1 != e3
    assert {e1: 1}[e2] == 1
    assert func("sin", A) != func("cos", A)
