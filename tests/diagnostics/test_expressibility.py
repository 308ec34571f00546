"""Expressibility: Haar bin probabilities, the KL estimate, and known limiting cases."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from qdl import Circuit, QDLError
from qdl.diagnostics import (
    expressibility,
    expressibility_from_fidelities,
    fidelity_samples,
    haar_log_probabilities,
    kl_divergence,
)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_haar_bins_integrate_the_density(n):
    """Bin probabilities equal a fine numerical integral of (N−1)(1−F)^(N−2)."""
    big_n, bins = 2**n, 75
    edges = np.linspace(0, 1, bins + 1)
    expected = []
    for a, b in itertools.pairwise(edges):
        f = np.linspace(a, b, 2001)
        density = (big_n - 1) * (1 - f) ** (big_n - 2)
        expected.append(float(np.sum((density[1:] + density[:-1]) / 2 * np.diff(f))))
    got = np.exp(haar_log_probabilities(n, bins))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-12)
    assert got.sum() == pytest.approx(1.0, abs=1e-12)


def test_haar_log_probabilities_do_not_underflow():
    """Twelve qubits: the last bins are tiny but their logarithms stay finite."""
    logs = haar_log_probabilities(12)
    assert np.all(np.isfinite(logs))
    assert logs[-1] == pytest.approx((2**12 - 1) * math.log(1 / 75))


def test_kl_divergence_known_value():
    """KL([1/2, 1/2] ‖ [1/4, 3/4]) = ½ln2 + ½ln(2/3)."""
    expected = 0.5 * math.log(2) + 0.5 * math.log(2 / 3)
    assert kl_divergence([0.5, 0.5], np.log([0.25, 0.75])) == pytest.approx(expected)


def test_haar_random_states_have_expressibility_near_zero(rng):
    """Fidelities of normalized complex Gaussian vectors give KL ≈ 0 (finite-sample bias only)."""
    n, samples = 3, 5000

    def haar(size: int) -> np.ndarray:
        v = rng.normal(size=(size, 2**n)) + 1j * rng.normal(size=(size, 2**n))
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    fid = np.abs(np.sum(haar(samples).conj() * haar(samples), axis=1)) ** 2
    assert expressibility_from_fidelities(fid, n) < 0.03


@pytest.mark.parametrize("n", [1, 2])
def test_idle_circuit_is_maximally_inexpressive(n):
    """A circuit that always prepares one state has Expr = (N−1)·ln(75) exactly."""
    idle = Circuit(n).rz(0, "a")  # a phase on |0…0⟩: the same state for every angle
    assert expressibility(idle, samples=200, seed=0) == pytest.approx((2**n - 1) * math.log(75),
                                                                      rel=1e-9)


def test_single_ry_matches_the_arcsine_law():
    """One RY(θ) on a qubit: F = cos²((θ−φ)/2) is arcsine-distributed; KL from its exact bins."""
    bins = 75
    edges = np.linspace(0, 1, bins + 1)
    p = (np.arccos(2 * edges[:-1] - 1) - np.arccos(2 * edges[1:] - 1)) / math.pi
    exact = float(np.sum(p * np.log(p * bins)))
    got = expressibility(Circuit(1).ry(0, "t"), samples=20000, seed=3)
    assert 0.05 < got < math.log(75)
    assert got == pytest.approx(exact, abs=0.03)


def test_fidelity_samples_are_seeded_and_fixed_parameters_hold():
    """The same seed gives the same fidelities; fixing the only angle gives F = 1."""
    c = Circuit(2).ry(0, "a").cx(0, 1).rx(1, "b")
    np.testing.assert_array_equal(fidelity_samples(c, 30, seed=4), fidelity_samples(c, 30, seed=4))
    fixed = fidelity_samples(Circuit(1).rx(0, "a"), 5, seed=0, fixed={"a": 0.3})
    np.testing.assert_allclose(fixed, 1.0, atol=1e-6)


def test_bad_arguments_raise_qdlerror():
    """Zero samples and unknown fixed parameters are refused."""
    with pytest.raises(QDLError, match="samples"):
        expressibility(Circuit(1).rx(0, "a"), samples=0)
    with pytest.raises(QDLError, match="not a parameter"):
        fidelity_samples(Circuit(1).rx(0, "a"), 5, fixed={"b": 0.1})
