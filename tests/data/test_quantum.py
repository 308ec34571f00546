"""Quantum data: Pauli-sum Hamiltonians, exact ground states, phase labels, caching, shadows."""

import functools

import numpy as np
import pytest

from qdl import QDLError
from qdl.data import quantum as q

PAULI = {"I": np.eye(2), "X": np.array([[0, 1], [1, 0]]), "Y": np.array([[0, -1j], [1j, 0]]),
         "Z": np.diag([1.0, -1.0])}


def dense(terms, n):
    """The same Hamiltonian from Kronecker products, wire 0 leftmost (most significant)."""
    h = np.zeros((2**n, 2**n), dtype=complex)
    for coeff, factors in terms:
        ops = ["I"] * n
        for wire, p in factors:
            ops[wire] = p
        h += coeff * functools.reduce(np.kron, [PAULI[p] for p in ops])
    return h


@pytest.mark.parametrize("terms", [
    q.tfim_terms(4, 0.7), q.cluster_ising_terms(4, 0.3, -0.4), q.dimer_terms(4, 0.2),
    [(0.5, ((0, "Y"), (2, "X"))), (-1.5, ((1, "Y"),))],
])
def test_pauli_sum_matches_kronecker_products(terms):
    """Bit-operation sparse matrices equal dense np.kron builds (Y phases included)."""
    np.testing.assert_allclose(q.pauli_sum(terms, 4).toarray(), dense(terms, 4), atol=1e-14)


@pytest.mark.parametrize("n", [6, 12])
def test_tfim_energy_at_criticality_matches_free_fermions(n):
    """Open TFIM at g = 1: E0 = 1 - 1/sin(π / (2(2n+1))) (free-fermion closed form)."""
    e, psi = q.ground_state(q.pauli_sum(q.tfim_terms(n, 1.0), n), q._tfim_sector(n))
    assert e == pytest.approx(1 - 1 / np.sin(np.pi / (2 * (2 * n + 1))), abs=1e-9)
    assert np.linalg.norm(psi) == pytest.approx(1.0)


@pytest.mark.parametrize("name, couplings", [("tfim", (0.4,)), ("cluster-ising", (0.5, -0.6)),
                                             ("dimer", (-0.3,)), ("dimer", (0.3,))])
def test_sector_ground_state_is_the_ground_state(name, couplings):
    """Energy equals the lowest eigenvalue of dense numpy eigh; the state is an eigenvector."""
    model, n = q.MODELS[name], 8
    terms = model.terms(n, *couplings)
    e, psi = q.ground_state(q.pauli_sum(terms, n), model.symmetries(n))
    h = dense(terms, n)
    assert e == pytest.approx(np.linalg.eigvalsh(h)[0], abs=1e-9)
    np.testing.assert_allclose(h @ psi, e * psi, atol=1e-9)


def test_sparse_solver_agrees_with_dense(monkeypatch):
    """The eigsh path (above DENSE_MAX) gives the dense path's state, sign fixed the same."""
    h = q.pauli_sum(q.cluster_ising_terms(8, 0.4, 0.2), 8)
    e1, psi1 = q.ground_state(h, q._cluster_sector(8))
    monkeypatch.setattr(q, "DENSE_MAX", 16)
    e2, psi2 = q.ground_state(h, q._cluster_sector(8))
    assert e1 == pytest.approx(e2, abs=1e-10)
    np.testing.assert_allclose(psi1, psi2, atol=1e-8)


def test_sign_is_fixed_and_generation_deterministic():
    """Largest amplitude is positive, and two generations are bitwise equal."""
    a = q.generate("dimer", 4, np.array([[-0.5], [0.4]]))
    b = q.generate("dimer", 4, np.array([[-0.5], [0.4]]))
    assert np.array_equal(a.states, b.states)
    for psi in a.states:
        assert psi[np.argmax(np.abs(psi))] > 0


def test_phase_labels_at_known_points():
    """Labels follow the exact critical points g = 1, δ = 0 and (h1, h2) = (1, 0)."""
    assert [q.tfim_phase(g) for g in (0.3, 0.99, 1.01, 2.0)] == [0, 0, 1, 1]
    assert [q.dimer_phase(d) for d in (-0.5, 0.5)] == [1, 0]
    assert [q.cluster_ising_phase(h1, 0.0) for h1 in (0.0, 0.99, 1.01, 1.5)] == [0, 0, 1, 1]
    assert q.cluster_ising_phase(0.1, 1.5) == 1 and q.cluster_ising_phase(0.1, -1.5) == 2


def test_string_order_tells_spt_from_trivial():
    """The cluster string order is ~1 deep in the SPT phase and ~0 in the paramagnet."""
    n = 8
    op = q.pauli_sum([(1.0, ((1, "Z"), (2, "X"), (4, "X"), (5, "Z")))], n)
    for (h1, h2), want in (((0.05, 0.0), 1.0), ((1.6, 0.5), 0.0)):
        _, psi = q.ground_state(q.pauli_sum(q.cluster_ising_terms(n, h1, h2), n),
                                q._cluster_sector(n))
        assert psi @ (op @ psi) == pytest.approx(want, abs=0.1)


def test_cache_round_trip_is_bitwise(tmp_path, monkeypatch):
    """A cached dataset reloads bitwise equal without regenerating it."""
    monkeypatch.setenv("QDL_CACHE", str(tmp_path))
    grid = np.array([[0.5], [1.5]])
    first = q.phase_dataset("tfim", 4, grid)
    assert len(list((tmp_path / "quantum").glob("*.npz"))) == 1
    monkeypatch.setattr(q, "generate", lambda *a: pytest.fail("regenerated"))
    second = q.phase_dataset("tfim", 4, grid)
    assert np.array_equal(first.states, second.states)
    assert np.array_equal(first.labels, second.labels)


def test_bad_arguments_are_clear():
    """Unknown chains and unsupported sizes raise QDLError."""
    with pytest.raises(QDLError, match="unknown chain"):
        q.phase_dataset("ising2d", 4)
    with pytest.raises(QDLError, match="multiple of 4"):
        q.generate("cluster-ising", 6)


def test_shadow_estimates_are_unbiased():
    """Means of shadow estimates lie within 4 standard errors of the exact expectations."""
    n = 3
    _, psi = q.ground_state(q.pauli_sum(q.tfim_terms(n, 0.8), n), q._tfim_sector(n))
    bases, outcomes = q.classical_shadow(psi[None], 20000, seed=3)
    for pauli in ("ZZI", "XII", "IXX", "ZIZ", "YYI"):
        terms = [(1.0, tuple((w, p) for w, p in enumerate(pauli) if p != "I"))]
        exact = float(np.real(psi @ (q.pauli_sum(terms, n) @ psi)))
        snaps = q.shadow_snapshots(bases, outcomes, pauli)[0]
        se = snaps.std() / np.sqrt(len(snaps))
        assert abs(snaps.mean() - exact) < 4 * se + 1e-12


def test_shadow_bases_are_uniform_and_seeded():
    """Bases are uniform over X, Y, Z, and the same seed gives the same snapshots."""
    states = np.eye(8)[:2]
    b1, o1 = q.classical_shadow(states, 3000, seed=5)
    b2, o2 = q.classical_shadow(states, 3000, seed=5)
    assert np.array_equal(b1, b2) and np.array_equal(o1, o2)
    assert np.allclose(np.bincount(b1.ravel(), minlength=3) / b1.size, 1 / 3, atol=0.02)
    assert q.shadow_features(b1, o1).shape == (2, len(q.local_paulis(3)))
