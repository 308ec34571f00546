"""Gradient variance against a closed form, and the log-linear decay fit on synthetic data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from qdl import Circuit, QDLError
from qdl.diagnostics import (
    fit_decay,
    get_family,
    gradient_samples,
    gradient_variance,
    variance_scan,
)


def test_one_qubit_variance_matches_closed_form():
    """RY(a) then RX(b): ⟨Z⟩ = cos a·cos b, so Var[∂_a] = Var[∂_b] = E[sin²·cos²] = 1/4."""
    stats = gradient_variance(Circuit(1).ry(0, "a").rx(0, "b"), "Z0", samples=20000, seed=7)
    assert stats.names == ("a", "b")
    # Standard error of each estimate: sqrt((9/64 − 1/16)/S) ≈ 0.002.
    np.testing.assert_allclose(stats.variance, [0.25, 0.25], atol=0.01)
    np.testing.assert_allclose(stats.mean, [0.0, 0.0], atol=0.01)


def test_batched_gradients_equal_the_analytic_derivative():
    """Each row of the batched adjoint gradients is that sample's own ∂(cos a·cos b)."""
    _names, g = gradient_samples(Circuit(1).ry(0, "a").rx(0, "b"), "Z0", samples=6, seed=2,
                                dtype=torch.complex128)
    generator = torch.Generator().manual_seed(2)
    a, b = 2 * math.pi * torch.rand((2, 6), generator=generator, dtype=torch.float64)
    expected = torch.stack([-torch.sin(a) * torch.cos(b), -torch.cos(a) * torch.sin(b)], -1)
    torch.testing.assert_close(g, expected, atol=1e-10, rtol=0)


def test_excluded_inputs_are_not_differentiated():
    """A data input named in ``exclude`` is drawn but left out of the gradient."""
    names, g = gradient_samples(Circuit(1).rx(0, "x").ry(0, "w"), "Z0", samples=4, seed=0,
                                exclude=["x"])
    assert names == ("w",) and g.shape == (4, 1)


def test_fit_recovers_a_known_slope_from_noisy_data(rng):
    """ln Var = 1.5 − 0.7·n + N(0, 0.05²): the fitted rate lies within 3 standard errors."""
    n = np.arange(2, 14, dtype=float)
    variance = np.exp(1.5 - 0.7 * n + rng.normal(0, 0.05, size=n.size))
    fit = fit_decay(n, variance)
    assert abs(fit.rate - 0.7) < 3 * fit.stderr
    # The standard error estimates σ/sqrt(Σ(n − n̄)²) = 0.05/11.96.
    assert fit.stderr == pytest.approx(0.05 / math.sqrt(np.sum((n - n.mean()) ** 2)), rel=0.5)
    assert fit.base2_rate == pytest.approx(fit.rate / math.log(2))


def test_fit_on_exact_data_is_exact():
    """Noise-free exponential data: rate and intercept exact, zero standard error."""
    fit = fit_decay([1, 2, 3, 4], [2.0**-k for k in (1, 2, 3, 4)])
    assert fit.rate == pytest.approx(math.log(2))
    assert fit.intercept == pytest.approx(0.0, abs=1e-12)
    assert fit.stderr == pytest.approx(0.0, abs=1e-12)


def test_scan_shapes_and_decay_for_random_circuits():
    """McClean circuits: the variance scan has one row per depth and decays with qubits."""
    scan = variance_scan(get_family("mcclean", seed=1), [2, 4, 6], [8], samples=120, seed=0,
                         circuits=4)
    assert scan.variance.shape == (1, 3) and scan.samples == 120
    assert scan.variance[0, 0] > scan.variance[0, 2]
    assert scan.fits[0] is not None and scan.fits[0].rate > 0


def test_bad_inputs_raise_qdlerror():
    """No trainable parameters, too few samples or bad fit data are QDLErrors."""
    with pytest.raises(QDLError, match="no trainable parameters"):
        gradient_variance(Circuit(1).rx(0, "x"), "Z0", exclude=["x"])
    with pytest.raises(QDLError, match="samples"):
        gradient_variance(Circuit(1).rx(0, "a"), "Z0", samples=1)
    with pytest.raises(QDLError, match="positive"):
        fit_decay([1, 2], [0.1, 0.0])
    with pytest.raises(QDLError, match="two distinct"):
        fit_decay([2, 2], [0.1, 0.2])
