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


# ---- Issue 15: unitary(), negative controls, Pauli rotations --------------------------------

C128 = torch.complex128


def _random_unitary(dim: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(dim, dim)) + 1j * rng.normal(size=(dim, dim)))
    return q * (np.diag(r) / abs(np.diag(r)))


@pytest.mark.parametrize("wires", [[1], [2, 0], [0, 2, 1]], ids=str)
def test_unitary_matches_embedded_matrix(wires, rng):
    """circuit.unitary applies the matrix on its wires (first wire most significant)."""
    u = _random_unitary(2 ** len(wires), rng)
    c = Circuit(3).h(0).ry(1, 0.4).unitary(wires, u)
    psi0 = ref.circuit_state(Circuit(3).h(0).ry(1, 0.4))
    want = ref.embed(u, wires, 3) @ psi0
    np.testing.assert_allclose(qdl.state(c, dtype=C128).numpy(), want, atol=1e-12)


def test_unitary_rows_are_shared_and_inverted(rng):
    """Equal matrices give the same op; the inverse circuit undoes the gate."""
    u = _random_unitary(4, rng)
    a, b = Circuit(2).unitary([0, 1], u), Circuit(2).unitary([0, 1], u.copy())
    assert a == b and hash(a) == hash(b)
    c = Circuit(2).h(0).unitary([0, 1], u)
    full = c.copy().extend(c.inverse())
    np.testing.assert_allclose(qdl.state(full, dtype=C128).numpy(), [1, 0, 0, 0], atol=1e-12)


@pytest.mark.parametrize(("matrix", "match"), [
    ([[1, 1], [0, 1]], "not unitary"),
    ([[1, 0, 0], [0, 1, 0], [0, 0, 1]], "side 2"),
    ([[float("nan"), 0], [0, 1]], "NaN"),
    ("abc", "square array"),
])
def test_unitary_refuses_bad_matrices(matrix, match):
    """Non-unitary, wrongly sized, NaN and non-numeric matrices are QDLErrors."""
    with pytest.raises(QDLError, match=match):
        Circuit(2).unitary([0], matrix)


def test_unitary_wire_count_checked():
    """A 4x4 matrix on one wire is refused naming the sizes."""
    with pytest.raises(QDLError, match="acts on 2 wire"):
        Circuit(2).unitary([0], np.eye(4))


def test_unitary_backprop_through_matrix():
    """d<Z0>/da through U = exp(iaH) given as a tensor equals central differences in numpy."""
    rng = np.random.default_rng(3)
    h = ref.random_hermitian(4, rng)
    obs = ref.pauli_operator([(1.0, {0: "Z"}), (0.5, {1: "X"})], 2)

    def f(a: float) -> float:
        w, v = np.linalg.eigh(h)
        u = (v * np.exp(1j * a * w)) @ v.conj().T
        psi = u @ ref.circuit_state(Circuit(2).h(0).ry(1, 0.3))
        return float(ref.expectation(psi, obs))

    a = torch.tensor(0.37, dtype=torch.float64, requires_grad=True)
    u = torch.linalg.matrix_exp(1j * a * torch.from_numpy(h))
    c = Circuit(2).h(0).ry(1, 0.3).unitary([0, 1], u)
    out = qdl.expval(c, ["Z0 + 0.5 X1"], dtype=C128, diff_method="backprop")
    out.sum().backward()
    assert out.item() == pytest.approx(f(0.37), abs=1e-12)
    assert a.grad.item() == pytest.approx((f(0.37 + 1e-6) - f(0.37 - 1e-6)) / 2e-6, abs=1e-7)


def test_unitary_one_qubit_exports_to_qasm(rng):
    """A 1-qubit matrix exports as gphase + U and reads back to the same state; wider refuse."""
    u = _random_unitary(2, rng)
    c = Circuit(2).h(0).unitary([1], u).cx(1, 0)
    back = Circuit.from_qasm(c.to_qasm())
    np.testing.assert_allclose(qdl.state(back, dtype=C128).numpy(),
                               ref.embed(np.eye(2), [0], 2) @ qdl.state(c, dtype=C128).numpy(),
                               atol=1e-12)
    with pytest.raises(QDLError, match="no OpenQASM decomposition"):
        Circuit(2).unitary([0, 1], _random_unitary(4, rng)).to_qasm()


@pytest.mark.parametrize("values", [[0], [1], [0, 0], [0, 1], [1, 0]], ids=str)
def test_negative_controls_match_projectors(values, rng):
    """ctrl_values: the gate acts where every control wire has its value, identity elsewhere."""
    controls = [2, 0][: len(values)]
    c = Circuit(3).ry(0, 0.7).ry(1, -1.1).ry(2, 0.4)
    before = ref.circuit_state(c)
    c.rx(1, 0.9, ctrl=controls, ctrl_values=values)
    rx = ref.gate_matrix("rx", [0.9])
    proj = np.eye(1)
    for q in range(3):
        want_bit = dict(zip(controls, values, strict=True)).get(q)
        p = np.eye(2) if want_bit is None else np.diag([1 - want_bit, want_bit])
        proj = np.kron(proj, p)
    op = proj @ ref.embed(rx, [1], 3) + (np.eye(8) - proj)
    np.testing.assert_allclose(qdl.state(c, dtype=C128).numpy(), op @ before, atol=1e-12)


def test_negative_controls_checked():
    """ctrl_values of the wrong length or not 0/1 are refused before anything is added."""
    c = Circuit(3)
    with pytest.raises(QDLError, match="ctrl_values"):
        c.x(0, ctrl=[1], ctrl_values=[0, 1])
    with pytest.raises(QDLError, match="ctrl_values"):
        c.x(0, ctrl=[1], ctrl_values=[2])
    with pytest.raises(QDLError, match="out of range"):
        c.x(0, ctrl=[5], ctrl_values=[0])
    assert len(c) == 0


@pytest.mark.parametrize("word", ["X", "ZZ", "XIZ", "YXZ", "IIY", "ZZZZ"])
def test_pauli_rot_and_multi_rz(word):
    """pauli_rot(θ, word, wires) = exp(−iθ/2 P) by eigendecomposition in numpy."""
    n, theta = len(word), 0.83
    wires = list(range(n))[::-1]
    c = Circuit(n).h(0).pauli_rot(theta, word, wires)
    p = ref.pauli_operator([(1.0, dict(zip(wires, word, strict=True)))], n)
    want = ref.expm_herm(p, theta / 2) @ ref.circuit_state(Circuit(n).h(0))
    np.testing.assert_allclose(qdl.state(c, dtype=C128).numpy(), want, atol=1e-12)
    if set(word) == {"Z"}:
        m = Circuit(n).h(0).multi_rz(theta, wires)
        np.testing.assert_allclose(qdl.state(m, dtype=C128).numpy(), want, atol=1e-12)


def test_pauli_rot_all_identity_is_a_phase():
    """An all-I word is the global phase exp(−iθ/2)."""
    c = Circuit(1).pauli_rot(0.6, "I", [0])
    np.testing.assert_allclose(qdl.state(c, dtype=C128).numpy(), [np.exp(-0.3j), 0], atol=1e-12)
    with pytest.raises(QDLError, match="word"):
        Circuit(2).pauli_rot(0.1, "XQ", [0, 1])


@pytest.mark.parametrize("method", ["backprop", "adjoint", "parameter-shift", "finite-diff"])
def test_new_gates_gradients_all_methods(method):
    """rot, excitations, orbital rotation, Pauli words: every diff method vs numpy differences."""
    c = (Circuit(4).ry(0, "a").ry(1, "b").ry(2, 0.3).h(3).rot(1, "a", "b", 0.2)
         .single_excitation(0, 2, "b").double_excitation(0, 1, 2, 3, "a")
         .orbital_rotation(3, 1, 0, 2, "b").pauli_rot("a", "XYZ", [2, 0, 3]).multi_rz("b", [1, 3])
         .rx(2, "a", ctrl=[0], ctrl_values=[0]))
    obs = ref.pauli_operator([(1.0, {0: "Z", 1: "Z"}), (-0.7, {2: "X"}), (0.3, {3: "Y"})], 4)
    values = {"a": 0.41, "b": -1.3}

    def f(a: float, b: float) -> float:
        return float(ref.expectation(ref.circuit_state(c, {"a": a, "b": b}), obs))

    tensors = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
               for k, v in values.items()}
    out = qdl.expval(c, ["Z0 Z1 + -0.7 X2 + 0.3 Y3"], tensors, diff_method=method, dtype=C128)
    out.sum().backward()
    h = 1e-6
    want_a = (f(0.41 + h, -1.3) - f(0.41 - h, -1.3)) / (2 * h)
    want_b = (f(0.41, -1.3 + h) - f(0.41, -1.3 - h)) / (2 * h)
    tol = 1e-5 if method == "finite-diff" else 1e-7
    assert tensors["a"].grad.item() == pytest.approx(want_a, abs=tol)
    assert tensors["b"].grad.item() == pytest.approx(want_b, abs=tol)


def test_inverse_of_trainable_unitary_undoes_it_and_carries_gradients():
    """The inverse of a circuit holding a trainable matrix undoes it, with gradients to it."""
    rng = np.random.default_rng(5)
    h = torch.from_numpy(ref.random_hermitian(4, rng))
    a = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    u = torch.linalg.matrix_exp(1j * a * h)
    c = Circuit(2).h(0).unitary([0, 1], u)
    full = c.copy().extend(c.inverse())
    np.testing.assert_allclose(qdl.state(full, dtype=C128).detach().numpy(), [1, 0, 0, 0],
                               atol=1e-12)
    inv = Circuit(2).unitary([0, 1], u).inverse()  # U† |00>: compare with numpy
    psi = qdl.state(inv, dtype=C128)
    want = torch.linalg.matrix_exp(-1j * a.detach() * h)[:, 0]
    np.testing.assert_allclose(psi.detach().numpy(), want.numpy(), atol=1e-12)
    psi.real.sum().backward()
    assert a.grad is not None and torch.isfinite(a.grad)
