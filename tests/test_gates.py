"""The gate table against the OpenQASM 3 formulas, and its own declared structure."""

from __future__ import annotations

import math

import helpers as ref
import numpy as np
import pytest
import torch

from qdl import QDLError
from qdl.expr import Const
from qdl.gates import (
    GATES,
    Kind,
    controlled_diag,
    controlled_perm,
    dense_matrix,
    lookup,
    shift_rule,
)

for _name in ref.FAMILY_EXAMPLES:  # rows made on first use join the per-gate checks
    lookup(_name)
ALL = sorted([*GATES, *ref.FAMILY_EXAMPLES])
PARAMETRIC = [g for g in ALL if GATES[g].num_params]
PARAM_SLOTS = [(g, j) for g in PARAMETRIC for j in range(GATES[g].num_params)]
ANGLE_SETS = [0.0, 0.37, -2.1, math.pi, 5.5]


def _angles(name: str, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(-2 * math.pi, 2 * math.pi, GATES[name].num_params)


def _inverse_matrix(name: str, params: np.ndarray) -> np.ndarray:
    """Matrix of the gate the table names as the inverse (controls kept for controlled rows)."""
    spec = GATES[name]
    base = GATES[spec.base] if spec.base else spec
    inv_name, inv_params = base.inverse(tuple(Const(float(p)) for p in params))
    values = [float(p.evaluate({})) for p in inv_params]
    return ref.controlled(dense_matrix(inv_name, values), spec.num_controls)


def _expval_curve(name: str, params: np.ndarray, j: int, psi: np.ndarray, obs: np.ndarray):
    """f(t) = <ψ|M(θ + t e_j)† O M(θ + t e_j)|ψ> from qdl's table."""

    def f(t: float) -> float:
        p = np.array(params, dtype=float)
        p[j] += t
        m = dense_matrix(name, p)
        phi = m @ psi
        return float(np.real(phi.conj() @ obs @ phi))

    return f


def _generator(name: str, params: np.ndarray, j: int, h: float = 1e-6) -> np.ndarray:
    """G_j = i (∂M/∂θ_j) M† from the table, by central differences."""
    up, down = np.array(params, dtype=float), np.array(params, dtype=float)
    up[j] += h
    down[j] -= h
    dm = (dense_matrix(name, up) - dense_matrix(name, down)) / (2 * h)
    return 1j * dm @ dense_matrix(name, params).conj().T


def test_reference_covers_the_table():
    """Every gate of the table has an independent reference matrix (and no more)."""
    assert set(GATES) == set(ref.ALL_GATES) - set(ref.FAMILY_EXAMPLES)
    assert all(lookup(g).family for g in ref.FAMILY_EXAMPLES)
    for name in ALL:
        assert GATES[name].num_wires == ref.num_wires(name), name
        assert GATES[name].num_params == ref.num_params(name), name


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("angle", ANGLE_SETS)
def test_matrix_matches_openqasm_formula(name, angle):
    """dense_matrix equals the stdgates.inc formula for a spread of angles."""
    k = GATES[name].num_params
    params = [angle * (i + 1) - 0.3 * i for i in range(k)]
    np.testing.assert_allclose(
        dense_matrix(name, params), ref.gate_matrix(name, params), atol=1e-12
    )


@pytest.mark.parametrize(
    ("name", "params", "expected"),
    [
        ("x", (), [[0, 1], [1, 0]]),
        ("cx", (), [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]]),
        ("p", (math.pi / 2,), [[1, 0], [0, 1j]]),
        ("rx", (math.pi,), [[0, -1j], [-1j, 0]]),
        ("ry", (math.pi,), [[0, -1], [1, 0]]),
        ("rz", (math.pi,), [[-1j, 0], [0, 1j]]),
        ("u", (math.pi, 0, math.pi), [[0, 1], [1, 0]]),
        ("u2", (0, math.pi), np.array([[1, 1], [1, -1]]) / math.sqrt(2)),
        ("swap", (), [[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]]),
        ("sx", (), np.array([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]]) / 2),
        ("rzz", (math.pi,), np.diag([-1j, 1j, 1j, -1j])),
    ],
)
def test_literal_matrices(name, params, expected):
    """A few matrices written out by hand (wire 0 = most significant bit)."""
    np.testing.assert_allclose(dense_matrix(name, params), np.array(expected), atol=1e-12)


@pytest.mark.parametrize(
    ("alias", "name"),
    [("u3", "u"), ("U", "u"), ("CX", "cx"), ("u1", "p"), ("phase", "p"), ("cu1", "cp"),
     ("cphase", "cp"), ("toffoli", "ccx"), ("fredkin", "cswap")],
)
def test_aliases(alias, name, rng):
    """Aliases resolve to the canonical row and the same matrix."""
    assert lookup(alias) is GATES[name]
    params = _angles(name, rng)
    np.testing.assert_allclose(dense_matrix(alias, params), ref.gate_matrix(name, params))


def test_unknown_gate_names_close_matches():
    """lookup of an unknown name raises QDLError naming it and suggesting close names."""
    with pytest.raises(QDLError, match=r"unknown gate 'rxy'.*rx"):
        lookup("rxy")
    with pytest.raises(QDLError, match="unknown gate 'qqq'"):
        lookup("qqq")


@pytest.mark.parametrize("name", ALL)
def test_unitary_and_inverse(name, rng):
    """Each row is unitary and its declared inverse undoes it."""
    for _ in range(3):
        params = _angles(name, rng)
        m = dense_matrix(name, params)
        eye = np.eye(m.shape[0])
        np.testing.assert_allclose(m.conj().T @ m, eye, atol=1e-12)
        np.testing.assert_allclose(_inverse_matrix(name, params) @ m, eye, atol=1e-12)


@pytest.mark.parametrize("name", [g for g in PARAMETRIC if GATES[g].num_params == 1])
def test_single_parameter_negation_inverts(name, rng):
    """For single-parameter rows M(θ) M(−θ) = I."""
    theta = rng.uniform(-6, 6)
    m = dense_matrix(name, [theta]) @ dense_matrix(name, [-theta])
    np.testing.assert_allclose(m, np.eye(m.shape[0]), atol=1e-12)


@pytest.mark.parametrize(("name", "j"), PARAM_SLOTS)
def test_generator_spectrum_and_group_law(name, j, rng):
    """M(θ + t e_j) = exp(−i t G) M(θ) with G's eigenvalues the declared spectrum."""
    spec = GATES[name]
    params = _angles(name, rng)
    g = _generator(name, params, j)
    np.testing.assert_allclose(g, g.conj().T, atol=1e-8)
    eig = np.linalg.eigvalsh((g + g.conj().T) / 2)
    distinct = sorted({round(float(e), 6) for e in eig})
    assert distinct == sorted(round(s, 6) for s in spec.spectra[j]), (name, j, distinct)
    freqs = sorted({round(abs(a - b), 6) for a in distinct for b in distinct} - {0.0})
    assert freqs == [round(f, 6) for f in spec.frequencies[j]]
    for t in (0.3, -1.7, 2.9):
        shifted = np.array(params)
        shifted[j] += t
        np.testing.assert_allclose(
            dense_matrix(name, shifted), ref.expm_herm(g, t) @ dense_matrix(name, params),
            atol=1e-7,
        )


@pytest.mark.parametrize(("name", "j"), PARAM_SLOTS)
def test_declared_frequencies_match_fourier_content(name, j, rng):
    """θ ↦ <ψ|M†OM|ψ> has Fourier content exactly at the declared frequencies."""
    spec = GATES[name]
    dim = 2**spec.num_wires
    freqs = spec.frequencies[j]
    assert all(abs(2 * f - round(2 * f)) < 1e-12 for f in freqs), "grid assumes multiples of 1/2"
    f = _expval_curve(name, _angles(name, rng), j, ref.random_state(spec.num_wires, rng),
                      ref.random_hermitian(dim, rng))
    n_grid = 32  # period 4π: bin k is frequency k/2
    values = np.array([f(4 * math.pi * i / n_grid) for i in range(n_grid)])
    amps = np.abs(np.fft.rfft(values)) / n_grid
    declared = {round(2 * fr) for fr in freqs}
    for k in range(1, len(amps)):
        if k in declared:
            assert amps[k] > 1e-6, f"{name}: declared frequency {k / 2} is absent"
        else:
            assert amps[k] < 1e-10, f"{name}: undeclared frequency {k / 2} present"


@pytest.mark.parametrize(("name", "j"), PARAM_SLOTS)
def test_shift_rule_gives_exact_derivative(name, j, rng):
    """Σ c·(f(θ+s) − f(θ−s)) from the row's frequencies equals the derivative df/dθ_j."""
    spec = GATES[name]
    f = _expval_curve(name, _angles(name, rng), j, ref.random_state(spec.num_wires, rng),
                      ref.random_hermitian(2**spec.num_wires, rng))
    rule = shift_rule(spec.frequencies[j])
    shifted = sum(c * (f(s) - f(-s)) for c, s in rule)
    h = 1e-5
    fd = (f(h) - f(-h)) / (2 * h)
    assert shifted == pytest.approx(fd, abs=1e-7)


def test_two_term_rule_closed_form():
    """One frequency 1 gives the familiar rule (1/2, π/2)."""
    ((c, s),) = shift_rule((1.0,))
    assert c == pytest.approx(0.5, abs=1e-14)
    assert s == pytest.approx(math.pi / 2, abs=1e-14)


def test_four_term_rule_closed_form():
    """Frequencies (1/2, 1) give coefficients ±(√2±1)/(4√2) at shifts π/2 and 3π/2."""
    rule = shift_rule((0.5, 1.0))
    assert len(rule) == 2
    (c1, s1), (c2, s2) = rule
    r2 = math.sqrt(2)
    assert s1 == pytest.approx(math.pi / 2, abs=1e-14)
    assert s2 == pytest.approx(3 * math.pi / 2, abs=1e-14)
    assert c1 == pytest.approx((r2 + 1) / (4 * r2), abs=1e-14)
    assert c2 == pytest.approx(-(r2 - 1) / (4 * r2), abs=1e-14)


def test_empty_rule():
    """No frequencies (a constant function) gives an empty rule."""
    assert shift_rule(()) == ()


@pytest.mark.parametrize(
    "freqs", [(1.0,), (2.0,), (0.5, 1.0), (1.0, 2.0), (1.0, 2.0, 3.0), (0.5, 1.0, 1.5)]
)
def test_shift_rule_exact_on_trig_polynomials(freqs, rng):
    """The rule differentiates any trigonometric polynomial with those frequencies exactly."""
    a, b, c0 = rng.normal(size=len(freqs)), rng.normal(size=len(freqs)), rng.normal()

    def f(x: float) -> float:
        return c0 + sum(ak * math.cos(w * x) + bk * math.sin(w * x)
                        for ak, bk, w in zip(a, b, freqs, strict=True))

    def df(x: float) -> float:
        return sum(-ak * w * math.sin(w * x) + bk * w * math.cos(w * x)
                   for ak, bk, w in zip(a, b, freqs, strict=True))

    for x in rng.uniform(-5, 5, 4):
        got = sum(c * (f(x + s) - f(x - s)) for c, s in shift_rule(freqs))
        assert got == pytest.approx(df(x), abs=1e-11)


@pytest.mark.parametrize("name", PARAMETRIC)
@pytest.mark.parametrize("batch", [(3,), (2, 3)], ids=str)
@pytest.mark.parametrize("real", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_fn_broadcasts_batches_and_keeps_precision(name, batch, real, rng):
    """Row functions accept batched angles and return per-element matrices/diagonals."""
    spec = GATES[name]
    base = GATES[spec.base] if spec.base else spec
    values = rng.uniform(-4, 4, (spec.num_params, *batch))
    out = base.fn([torch.tensor(v, dtype=real) for v in values])
    assert out.dtype == (torch.complex64 if real == torch.float32 else torch.complex128)
    k = 2**base.num_wires
    expected = (*batch, k) if base.kind is Kind.DIAGONAL else (*batch, k, k)
    assert out.shape == expected
    flat = out.reshape(-1, *out.shape[len(batch):]).numpy()
    cols = values.reshape(spec.num_params, -1)
    tol = 1e-5 if real == torch.float32 else 1e-12
    for i in range(flat.shape[0]):
        m = np.diag(flat[i]) if base.kind is Kind.DIAGONAL else flat[i]
        np.testing.assert_allclose(m, ref.gate_matrix(base.name, cols[:, i]), atol=tol)


def test_controlled_perm_and_diag():
    """Controls prepend identity blocks to permutations and diagonals."""
    assert controlled_perm((1, 0), 1) == (0, 1, 3, 2)
    assert controlled_perm((1, 0), 2) == (0, 1, 2, 3, 4, 5, 7, 6)
    assert controlled_perm((0, 2, 1, 3), 1) == (0, 1, 2, 3, 4, 6, 5, 7)
    d = torch.tensor([[2.0, 3.0], [4.0, 5.0]], dtype=torch.complex128)
    out = controlled_diag(d, 1)
    assert out.shape == (2, 4)
    assert out.tolist() == [[1, 1, 2, 3], [1, 1, 4, 5]]


@pytest.mark.parametrize("name", [g for g in ALL if GATES[g].base])
def test_controlled_rows_derive_from_base(name):
    """Controlled rows keep the base gate's kind and add 0 to each parameter's spectrum."""
    spec, base = GATES[name], GATES[GATES[name].base]
    assert spec.kind is base.kind
    assert spec.num_wires == base.num_wires + spec.num_controls
    for s_c, s_b in zip(spec.spectra, base.spectra, strict=True):
        assert set(s_c) == set(s_b) | {0.0}


# ---- Issue 15: gates given by a matrix, negative controls, decompositions ------------------


def _decomposition_matrix(name: str, params: list[float]) -> np.ndarray:
    """Product of the reference matrices of a row's declared decomposition (and its phases)."""
    spec = lookup(name)
    k = spec.num_wires
    m = np.eye(2**k, dtype=complex)
    for gate, wires, args in spec.decompose(tuple(Const(float(p)) for p in params)):
        values = [float(a.evaluate({})) for a in args]
        if gate == "gphase":
            m = np.exp(1j * values[0]) * m
            continue
        sub = (_decomposition_matrix(gate, values) if lookup(gate.lower()).decompose
               else ref.gate_matrix(gate.lower(), values))
        m = ref.embed(sub, list(wires), k) @ m
    return m


DECOMPOSED = [g for g in ALL if lookup(g).decompose]


@pytest.mark.parametrize("name", DECOMPOSED)
def test_decomposition_equals_matrix(name, rng):
    """The standard-gate decomposition (the QASM/Qiskit export) equals the reference matrix."""
    params = list(_angles(name, rng))
    np.testing.assert_allclose(_decomposition_matrix(name, params),
                               ref.gate_matrix(name, params), atol=1e-12)


def test_new_rows_match_pennylane_conventions():
    """rot, single/double excitation: PennyLane's matrix entries at a chosen angle."""
    t = 0.7
    c, s = math.cos(t / 2), math.sin(t / 2)
    se = dense_matrix("single_excitation", [t])
    assert se[1, 1] == pytest.approx(c) and se[1, 2] == pytest.approx(-s)
    assert se[2, 1] == pytest.approx(s) and se[0, 0] == se[3, 3] == pytest.approx(1)
    de = dense_matrix("double_excitation", [t])
    assert de[3, 12] == pytest.approx(-s) and de[12, 3] == pytest.approx(s)
    assert lookup("givens") is GATES["single_excitation"]
    phi, theta, omega = 0.1, 0.2, 0.3
    rot = dense_matrix("rot", [phi, theta, omega])
    assert rot[0, 0] == pytest.approx(np.exp(-0.5j * (phi + omega)) * math.cos(theta / 2))
    assert rot[0, 1] == pytest.approx(-np.exp(0.5j * (phi - omega)) * math.sin(theta / 2))


def test_family_names():
    """Pauli words resolve to rows made once; other names stay unknown."""
    assert lookup("pauli_rot_xz") is lookup("pauli_rot_xz")
    assert "pauli_rot_xz" not in GATES
    with pytest.raises(QDLError, match="unknown gate"):
        lookup("pauli_rot_xa")


def test_docs_examples_run():
    """The python blocks of docs/gates.md run in order."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "gates.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 3
    namespace: dict = {}
    for code in blocks:
        exec(compile(code, "docs/gates.md", "exec"), namespace)
