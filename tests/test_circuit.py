"""Circuit building, validation, inversion, binding, drawing, equality."""

from __future__ import annotations

import cmath
import math

import helpers as ref
import numpy as np
import pytest
import torch

import qdl
from qdl import Circuit, Op, QDLError
from qdl.circuit import draw, substitute
from qdl.expr import Const, Sym, func
from qdl.gates import GATES


def test_gate_methods_chain_and_record_ops():
    """Gate methods append canonical ops and return the circuit."""
    c = Circuit(3).h(0).cx(0, 1).ry(2, "theta").u3(1, 0.1, 0.2, 0.3).add("rx", [2, 0], ["a"],
                                                                          ctrl=1)
    assert [op.name for op in c.ops] == ["h", "cx", "ry", "u", "rx"]
    assert c.ops[1].wires == (0, 1)
    assert c.ops[2].params == (Sym("theta"),)
    assert c.ops[3].params == (Const(0.1), Const(0.2), Const(0.3))
    assert c.ops[4] == Op("rx", (2, 0), (Sym("a"),), 1)
    assert len(c) == 5 and c.n_qubits == 3


def test_parameters_declared_first_then_in_order_of_use():
    """parameters lists declared names, then names in order of first use, once each."""
    c = Circuit(2, parameters=["z"]).rx(0, "b").ry(1, 2 * Sym("a") + Sym("b")).rz(0, "z")
    assert c.parameters == ("z", "b", "a")
    assert Circuit(1).declare("q").parameters == ("q",)


def test_controls_and_base():
    """num_controls counts named controls plus ctrl modifiers; base is the target gate."""
    op = Circuit(4).add("crx", [0, 1, 2], ["a"], ctrl=1).ops[0]
    assert op.num_controls == 2 and op.base == "rx"
    assert Circuit(3).ccx(0, 1, 2).ops[0].num_controls == 2
    assert Circuit(1).h(0).ops[0].num_controls == 0


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: Circuit(2).rx(5, 0.1), "out of range"),
        (lambda: Circuit(2).x(-1), "out of range"),
        (lambda: Circuit(2).x(True), "out of range"),
        (lambda: Circuit(2).x(0.0), "out of range"),
        (lambda: Circuit(2).cx(0, 0), "twice"),
        (lambda: Circuit(3).add("x", [1, 1], ctrl=1), "twice"),
        (lambda: Circuit(2).rx(0), "takes 1 wire"),
        (lambda: Circuit(2).cx(0), "takes 2 wire"),
        (lambda: Circuit(2).add("cx", [0]), "acts on 2 qubit"),
        (lambda: Circuit(3).add("x", [0, 1], ctrl=2), "acts on 3 qubit"),
        (lambda: Circuit(2).add("rx", [0], []), "takes 1 parameter"),
        (lambda: Circuit(2).add("h", [0], [0.3]), "takes 0 parameter"),
        (lambda: Circuit(2).add("foo", [0]), "unknown gate 'foo'"),
        (lambda: Circuit(2).add("cx", [0], ctrl=-1), "ctrl"),
        (lambda: Circuit(2).add("x", [0], ctrl=0.5), "ctrl"),
        (lambda: Circuit(2).rx(0, float("nan")), "not finite"),
        (lambda: Circuit(2).rx(0, "1abc"), "identifier"),
        (lambda: Circuit(2).rx(0, [1.0]), "gate angle"),
        (lambda: Circuit(-1), "non-negative"),
        (lambda: Circuit(2.0), "non-negative"),
        (lambda: Circuit(True), "non-negative"),
        (lambda: Circuit(1).declare("a b"), "identifier"),
    ],
)
def test_builder_errors(build, match):
    """Malformed gate applications raise QDLError naming the problem."""
    with pytest.raises(QDLError, match=match):
        build()


def test_unknown_gate_attribute():
    """An unknown gate method is an AttributeError (so hasattr works)."""
    c = Circuit(1)
    assert not hasattr(c, "foo")
    with pytest.raises(AttributeError):
        c._private  # noqa: B018


def test_ctrl_gphase_becomes_phase_gate():
    """ctrl @ gphase(θ) acts as diag(1, e^{iθ}) on the controls; bare gphase is e^{iθ}·I."""
    th = 0.7
    e = cmath.exp(1j * th)
    one = Circuit(2).add("gphase", [0], [th], ctrl=1)
    np.testing.assert_allclose(ref.circuit_unitary(one), np.diag([1, 1, e, e]), atol=1e-12)
    two = Circuit(2).add("gphase", [1, 0], [th], ctrl=2)
    np.testing.assert_allclose(ref.circuit_unitary(two), np.diag([1, 1, 1, e]), atol=1e-12)
    bare = Circuit(1).add("gphase", [], [th])
    np.testing.assert_allclose(ref.circuit_unitary(bare), e * np.eye(2), atol=1e-12)


def _inverse_check(c: Circuit, env: dict[str, float]) -> None:
    n = c.n_qubits
    u = ref.circuit_unitary(c, env)
    inv = ref.circuit_unitary(c.inverse(), env)
    np.testing.assert_allclose(inv @ u, np.eye(2**n), atol=1e-10)


@pytest.mark.parametrize("name", sorted(GATES))
@pytest.mark.parametrize("ctrl", [0, 1])
def test_inverse_of_each_gate(name, ctrl, rng):
    """The inverse circuit of one gate (with or without a ctrl modifier) undoes it."""
    k = GATES[name].num_wires + ctrl
    n = max(k, 1)
    params = list(rng.uniform(-3, 3, GATES[name].num_params))
    c = Circuit(n).add(name, [int(w) for w in rng.permutation(n)[:k]], params, ctrl=ctrl)
    _inverse_check(c, {})


@pytest.mark.parametrize("n", [1, 3, 5])
@pytest.mark.parametrize("seed", range(3))
def test_inverse_of_random_circuits(n, seed):
    """U(c.inverse()) · U(c) = I for random circuits with expressions and ctrl modifiers."""
    rng = np.random.default_rng(seed)
    c = ref.random_circuit(n, rng, depth=12)
    env = {name: float(v) for name, v in zip("abc", rng.uniform(-3, 3, 3), strict=True)}
    env = {k: v for k, v in env.items() if k in c.parameters}
    _inverse_check(c, env)
    assert c.inverse().inverse().parameters == c.parameters


def test_inverse_runs_back_to_zero_state():
    """Simulating c followed by c.inverse() returns |0...0>."""
    rng = np.random.default_rng(5)
    c = ref.random_circuit(3, rng, depth=10)
    params = {n: 0.3 + i for i, n in enumerate(c.parameters)}
    psi = qdl.state(c.copy().extend(c.inverse()), params, dtype=torch.complex128)
    expected = np.zeros(8)
    expected[0] = 1
    np.testing.assert_allclose(psi.numpy(), expected, atol=1e-10)


def test_inverse_docstring_example():
    """Inverting s; rx(a) gives rx(-a); sdg."""
    assert Circuit(1).s(0).rx(0, "a").inverse().ops == (
        Op("rx", (0,), (-Sym("a"),)), Op("sdg", (0,)))


def test_bind_substitutes_and_folds():
    """bind replaces names by numbers (folding constants) and keeps the rest free."""
    c = Circuit(2, parameters=["a"]).rx(0, "a").ry(1, 2 * Sym("a") + Sym("b")).rz(0, 0.3)
    b = c.bind({"a": 0.5})
    assert b.parameters == ("b",)
    assert b.ops[0].params == (Const(0.5),)
    env = {"a": 0.5, "b": -1.1}
    np.testing.assert_allclose(ref.circuit_unitary(b, {"b": -1.1}), ref.circuit_unitary(c, env))
    with pytest.raises(QDLError):
        c.bind({"a": float("nan")})


def test_substitute():
    """substitute replaces symbols by expressions and refolds constants."""
    assert substitute(2 * Sym("a"), {"a": Sym("b") + 1}) == 2 * (Sym("b") + 1)
    assert substitute(func("sin", Sym("a")) * 2, {"a": Const(0.0)}) == Const(0.0)


def test_draw_bell():
    """The docstring drawing: H then a CNOT with ● control and X target."""
    assert draw(Circuit(2).h(0).cx(0, 1)) == "q0: ─H──●─\nq1: ────X─"


def test_draw_markers():
    """Controls, swap crosses, labels with angles, connectors and parallel columns."""
    c = (Circuit(3).h(0).h(1).swap(0, 2).ccx(0, 1, 2).crx(2, 0, "theta")
         .add("ry", [0, 2], [2 * Sym("a")], ctrl=1).rxx(1, 2, 0.5))
    text = str(c)
    assert text == draw(c)
    lines = text.split("\n")
    assert len(lines) == 3
    assert [line[:4] for line in lines] == ["q0: ", "q1: ", "q2: "]
    assert len({len(line) for line in lines}) == 1
    assert lines[0].startswith("q0: ─H─") and lines[1].startswith("q1: ─H─")
    cells = [[t for t in line[4:].split("─") if t] for line in lines]
    assert cells[0] == ["H", "x", "●", "RX(theta)", "●"]
    assert cells[1] == ["H", "│", "●", "│", "│", "RXX(0.5)"]
    assert cells[2] == ["x", "X", "●", "RY(2.0 * a)", "RXX1"]


def test_draw_truncates_wide_circuits():
    """Drawings wider than max_width are cut with an ellipsis."""
    c = Circuit(2)
    for _ in range(60):
        c.rx(0, "theta").cx(0, 1)
    lines = draw(c, max_width=50).split("\n")
    assert all(len(line) == 50 and line.endswith("…") for line in lines)


def test_draw_lays_out_only_the_columns_that_show(monkeypatch):
    """A long circuit is drawn like its visible start: labels only for the shown columns."""
    c = Circuit(2)
    for _ in range(50_000):
        c.rx(0, "theta").cx(0, 1)
    start = Circuit(2, c.ops[:60])
    calls = []
    real = qdl.circuit._cells
    monkeypatch.setattr(qdl.circuit, "_cells", lambda op: calls.append(op) or real(op))
    assert draw(c) == draw(start)
    assert len(calls) <= 2 * 60  # the 100,000 ops beyond the width are never labelled


def test_circuit_width_is_capped():
    """Circuit(n) refuses more than MAX_QUBITS qubits with the size and the limit."""
    assert Circuit(qdl.circuit.MAX_QUBITS).n_qubits == 64
    with pytest.raises(QDLError, match=r"Circuit\(1000000000\): more qubits than QDL can "
                                       r"simulate \(at most 64"):
        Circuit(10**9)
    with pytest.raises(QDLError, match=r"Circuit\(about 2\^1328\)"):
        Circuit(10**400)


def test_equality_and_hash():
    """Circuits with the same ops, width and parameters are equal and hash alike."""
    a = Circuit(2).h(0).cx(0, 1).rx(1, 2 * Sym("t") + 0.1)
    b = Circuit(2).h(0).cx(0, 1).rx(1, 2 * Sym("t") + 0.1)
    assert a == b and hash(a) == hash(b)
    assert a != Circuit(2).h(0).cx(1, 0).rx(1, 2 * Sym("t") + 0.1)
    assert a != Circuit(3).h(0).cx(0, 1).rx(1, 2 * Sym("t") + 0.1)
    assert Circuit(1, parameters=["a"]) != Circuit(1)
    assert a != "not a circuit"
    assert len({a, b}) == 1


def test_copy_is_independent():
    """copy() is equal but appending to it leaves the original alone."""
    a = Circuit(2).h(0)
    b = a.copy()
    assert a == b
    b.x(1)
    assert len(a) == 1 and len(b) == 2


def test_extend_checks_width():
    """extend appends ops (and declarations) and validates them against the target."""
    a = Circuit(3).h(0).extend(Circuit(2, parameters=["p"]).cx(0, 1))
    assert [op.name for op in a.ops] == ["h", "cx"] and a.parameters == ("p",)
    with pytest.raises(QDLError, match="out of range"):
        Circuit(1).extend(Circuit(2).x(1))


def test_repr():
    """repr names the width, op count and parameters; ops print like OpenQASM."""
    assert repr(Circuit(2).rx(0, "a")) == "Circuit(n_qubits=2, ops=1, parameters=('a',))"
    op = Circuit(3).add("rx", [2, 0, 1], [2 * Sym("t")], ctrl=2).ops[0]
    assert repr(op) == "ctrl(2) @ rx(2.0 * t) q[2], q[0], q[1]"


def test_qasm_round_trip_preserves_the_unitary():
    """from_qasm(to_qasm(c)) has the same unitary as c."""
    pytest.importorskip("qdl.interop.qasm")
    rng = np.random.default_rng(11)
    c = ref.random_circuit(3, rng, depth=15)
    env = {n: 0.2 * (i + 1) for i, n in enumerate(c.parameters)}
    back = Circuit.from_qasm(c.to_qasm())
    assert back.n_qubits == c.n_qubits
    assert set(back.parameters) == set(c.parameters)
    u, v = ref.circuit_unitary(c, env), ref.circuit_unitary(back, env)
    # Equal up to a global phase (gate definitions may differ by one).
    phase = np.vdot(v.reshape(-1), u.reshape(-1))
    phase /= abs(phase)
    np.testing.assert_allclose(u, phase * v, atol=1e-9)
    assert math.isclose(abs(np.vdot(v.reshape(-1), u.reshape(-1))), 2**c.n_qubits, rel_tol=1e-9)
