"""The Fourier spectrum of a model's output as a function of one data input.

Schuld, Sweke & Meyer, "Effect of data encoding on the expressive power of variational
quantum machine learning models", Phys. Rev. A 103, 032430 (2021), arXiv:2008.08605: if the
input ``x`` enters through gates ``exp(-i x c_k G_k)``, the output is a trigonometric series
``f(x) = Σ_{ω∈Ω} c_ω e^{iωx}`` whose frequencies are the differences of sums of generator
eigenvalues, ``Ω = {Σ_k c_k λ_{k,j_k} − Σ_k c_k λ_{k,i_k}}``. With ``r`` Pauli rotations
``RX(x) = exp(-i x X/2)`` (eigenvalues ``±1/2``) that is ``Ω = {−r, …, r}``.

:func:`accessible_frequencies` computes ``Ω`` from the gate table's generator spectra;
:func:`fourier_coefficients` samples ``f`` on an equispaced grid over one period (a single
batched :func:`qdl.grad.expval` call) and takes its discrete Fourier transform, which is
exact for a trigonometric polynomial when there are at least ``2K + 1`` points.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch

from qdl.circuit import Circuit, Op
from qdl.diagnostics._common import check_count, check_names
from qdl.errors import QDLError
from qdl.expr import Expr
from qdl.gates import lookup
from qdl.grad import expval
from qdl.sim import REAL, check_dtype

_ROUND = 9
# Stand-in values of the other symbols when checking that x enters linearly with a slope
# that does not depend on them.
_OTHERS = (0.3711, 1.2763)


@dataclass(frozen=True)
class FourierSpectrum:
    """Fourier coefficients ``c_ω`` of ``f(x) = Σ_ω c_ω e^{iωx}``.

    Attributes:
        frequencies: ``(2K+1,)`` ascending, ``−K·ω₀ … K·ω₀``.
        coefficients: complex ``(..., 2K+1)``, the batch dimensions of the other parameters
            first; ``c_{−ω} = conj(c_ω)`` since ``f`` is real.
    """

    frequencies: np.ndarray
    coefficients: np.ndarray

    def max_frequency(self, atol: float = 1e-8) -> float:
        """Largest ``|ω|`` with ``|c_ω| > atol`` in any batch element (0 if none).

        >>> FourierSpectrum(np.array([-1.0, 0.0, 1.0]), np.array([0.5, 0.0, 0.5])).max_frequency()
        1.0
        """
        amplitude = np.abs(self.coefficients).reshape(-1, len(self.frequencies)).max(0)
        present = self.frequencies[amplitude > atol]
        return float(np.abs(present).max()) if present.size else 0.0


def _slope(expr: Expr, name: str, others: tuple[str, ...], value: float) -> float | None:
    """``d expr / d name`` if ``expr`` is linear in ``name`` with other symbols at ``value``."""
    env = dict.fromkeys(others, value)
    y = [float(expr.evaluate({**env, name: x})) for x in (0.0, 1.0, 2.0)]
    first, second = y[1] - y[0], y[2] - y[1]
    if not math.isclose(first, second, rel_tol=1e-9, abs_tol=1e-12):
        return None
    return first


def _encoding_slots(circuit: Circuit, name: str) -> list[tuple[Op, float, tuple[float, ...]]]:
    """Every gate angle that depends on ``name``: ``(op, slope, generator spectrum)``."""
    slots = []
    for op in circuit.ops:
        spec = lookup(op.name)
        for j, expr in enumerate(op.params):
            symbols = expr.symbols()
            if name not in symbols:
                continue
            others = tuple(s for s in symbols if s != name)
            slopes = {_slope(expr, name, others, v) for v in _OTHERS}
            if None in slopes or len({round(s, _ROUND) for s in slopes}) > 1:  # type: ignore[arg-type]
                raise QDLError(
                    f"input {name!r} enters {op!r} as {expr.qasm()}, which is not of the form "
                    f"c*{name} + (terms without {name}) with a constant c; its frequency "
                    "spectrum is not fixed by the circuit")
            spectrum = set(spec.spectra[j]) | ({0.0} if op.ctrl else set())
            slots.append((op, slopes.pop(), tuple(sorted(spectrum))))  # type: ignore[arg-type]
    return slots


def accessible_frequencies(circuit: Circuit, input: str) -> tuple[float, ...]:
    """The frequency spectrum ``Ω`` (ascending, symmetric about 0) available to ``input``.

    Each angle ``c·x + b`` of a gate with generator eigenvalues ``λ`` contributes the
    eigenvalues ``c·λ``; ``Ω`` is the set of differences of their sums over all such angles
    (controls add the eigenvalue 0).

    Args:
        circuit: the circuit.
        input: name of the data input ``x``.

    Returns:
        The distinct frequencies, rounded to 9 decimals; ``(0.0,)`` if ``x`` is unused.

    >>> c = Circuit(1).rx(0, "x").ry(0, "w").rx(0, "x")
    >>> accessible_frequencies(c, "x")
    (-2.0, -1.0, 0.0, 1.0, 2.0)
    """
    check_names(circuit, input, "input")
    sums = {0.0}
    for _, slope, spectrum in _encoding_slots(circuit, input):
        sums = {round(s + slope * lam, _ROUND) for s in sums for lam in spectrum}
    omega = {round(a - b, _ROUND) + 0.0 for a in sums for b in sums}
    return tuple(sorted(omega))


def _base_frequency(frequencies: tuple[float, ...]) -> tuple[float, int]:
    """``(ω₀, K)``: every frequency is an integer multiple of ``ω₀``, the largest ``K·ω₀``."""
    positive = [f for f in frequencies if f > 0]
    if not positive:
        return 1.0, 0
    fractions = [Fraction(f).limit_denominator(10**6) for f in positive]
    if any(abs(float(fr) - f) > 1e-9 * max(1.0, f) for fr, f in zip(fractions, positive,
                                                                     strict=True)):
        raise QDLError(f"the frequencies {positive} are not rational multiples of one base "
                       "frequency, so the model has no period to sample over")
    numerator = math.gcd(*(fr.numerator for fr in fractions))
    denominator = math.lcm(*(fr.denominator for fr in fractions))
    omega0 = numerator / denominator
    return omega0, round(max(positive) / omega0)


def fourier_coefficients(
    circuit: Circuit,
    observable: str,
    input: str,
    params: Mapping[str, torch.Tensor | float] | None = None,
    degree: int | None = None,
    dtype: torch.dtype = torch.complex128,
) -> FourierSpectrum:
    """Fourier coefficients of ``x ↦ ⟨O⟩(x)``, sampled over one period and transformed.

    The base frequency ``ω₀`` and the degree ``K`` come from :func:`accessible_frequencies`
    (pass a larger ``degree`` to check that no higher frequency is present); ``f`` is sampled
    at ``x_j = j·T/M``, ``T = 2π/ω₀``, ``M = 2K + 1``, in one batched call and
    ``c_k = (1/M) Σ_j f(x_j) e^{−2πi jk/M}``.

    Args:
        circuit: the model.
        observable: one Pauli sum.
        input: name of the data input ``x``.
        params: values of every other parameter; tensors with batch dimensions give one
            spectrum per batch element.
        degree: number of harmonics ``K`` to resolve (default: the accessible maximum).
        dtype: simulation dtype (``complex128`` by default, for clean coefficients).

    Returns:
        :class:`FourierSpectrum`.

    >>> s = fourier_coefficients(Circuit(1).rx(0, "x"), "Z0", "x")  # cos x
    >>> s.frequencies.tolist(), s.coefficients.real.round(6).tolist()
    ([-1.0, 0.0, 1.0], [0.5, 0.0, 0.5])
    """
    check_names(circuit, input, "input")
    omega0, k_max = _base_frequency(accessible_frequencies(circuit, input))
    if degree is not None:
        k_max = check_count(degree, "degree", 0)
    points = 2 * k_max + 1
    real = REAL[check_dtype(dtype)]
    x = torch.arange(points, dtype=real) * (2 * math.pi / omega0 / points)
    values = {name: (v.detach().unsqueeze(-1) if isinstance(v, torch.Tensor) and v.dim() else v)
              for name, v in dict(params or {}).items()}
    if input in values:
        raise QDLError(f"params must not set the input {input!r}; it is sampled on a grid")
    with torch.no_grad():
        f = expval(circuit, [observable], {**values, input: x}, dtype=dtype)[..., 0]
    spectrum = np.fft.fft(f.double().numpy(), axis=-1) / points
    order = np.r_[points - k_max: points, 0: k_max + 1] if k_max else np.array([0])
    frequencies = np.arange(-k_max, k_max + 1) * omega0
    return FourierSpectrum(frequencies, spectrum[..., order])
