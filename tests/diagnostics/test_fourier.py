"""Fourier spectra of encodings against analytic trigonometric polynomials."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qdl import Circuit, QDLError
from qdl.diagnostics import accessible_frequencies, fourier_coefficients
from qdl.expr import Sym

X = Sym("x")


def test_single_rx_is_cos_x():
    """⟨Z⟩ after RX(x) is cos x: frequencies {−1, 0, 1}, coefficients (½, 0, ½)."""
    c = Circuit(1).rx(0, "x")
    assert accessible_frequencies(c, "x") == (-1.0, 0.0, 1.0)
    s = fourier_coefficients(c, "Z0", "x")
    np.testing.assert_array_equal(s.frequencies, [-1.0, 0.0, 1.0])
    np.testing.assert_allclose(s.coefficients, [0.5, 0.0, 0.5], atol=1e-12)


def test_ry_gives_sin_with_imaginary_coefficients():
    """⟨X⟩ after RY(x) is sin x = (e^{ix} − e^{−ix})/2i: c_{±1} = ∓i/2."""
    s = fourier_coefficients(Circuit(1).ry(0, "x"), "X0", "x")
    np.testing.assert_allclose(s.coefficients, [0.5j, 0.0, -0.5j], atol=1e-12)


def _reuploading(r: int) -> Circuit:
    c = Circuit(1)
    for layer in range(r):
        c.ry(0, f"a{layer}").rx(0, "x").rz(0, f"b{layer}")
    return c.ry(0, "final")


@pytest.mark.parametrize("r", [1, 2, 3, 4])
def test_r_reuploadings_reach_frequency_r_and_no_higher(r):
    """r serial RX(x) encodings: Ω = {−r..r}; resolving r+2 harmonics finds nothing above r."""
    c = _reuploading(r)
    assert accessible_frequencies(c, "x") == tuple(float(k) for k in range(-r, r + 1))
    generator = torch.Generator().manual_seed(r)
    weights = {n: 6.283 * torch.rand(5, generator=generator, dtype=torch.float64)
               for n in c.parameters if n != "x"}
    s = fourier_coefficients(c, "Z0", "x", weights, degree=r + 2)
    assert s.coefficients.shape == (5, 2 * r + 5)
    assert s.max_frequency(atol=1e-9) == r
    # Reality of the model: c_{−ω} = conj(c_ω).
    np.testing.assert_allclose(s.coefficients[:, ::-1], s.coefficients.conj(), atol=1e-12)


def test_scaled_and_controlled_encodings():
    """rx(2x) doubles the frequencies; crx(x) has eigenvalues {0, ±½}: Ω = {0, ±½, ±1}."""
    assert accessible_frequencies(Circuit(1).rx(0, 2 * X + 0.3), "x") == (-2.0, 0.0, 2.0)
    s = fourier_coefficients(Circuit(1).rx(0, 2 * X), "Z0", "x")  # cos 2x
    np.testing.assert_allclose(s.coefficients, [0.5, 0.0, 0.5], atol=1e-12)
    c = Circuit(2).h(0).crx(0, 1, "x")
    assert accessible_frequencies(c, "x") == (-1.0, -0.5, 0.0, 0.5, 1.0)


def test_nonlinear_or_trainable_slopes_are_refused():
    """x*x and s*x have no fixed spectrum; an unknown input name is refused too."""
    with pytest.raises(QDLError, match="not of the form"):
        accessible_frequencies(Circuit(1).rx(0, X * X), "x")
    with pytest.raises(QDLError, match="not of the form"):
        accessible_frequencies(Circuit(1).rx(0, Sym("s") * X), "x")
    with pytest.raises(QDLError, match="not a parameter"):
        accessible_frequencies(Circuit(1).rx(0, "x"), "y")
