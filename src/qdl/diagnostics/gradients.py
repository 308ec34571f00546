"""Gradient variance under random parameters: the barren-plateau diagnostic.

McClean et al. (Nat. Commun. 9, 4812, 2018) showed that for random parameterized circuits
``Var[∂C/∂θ_k]`` decays exponentially with the number of qubits. :func:`gradient_variance`
estimates it for one circuit from ``S`` random parameter vectors in *one* batched call of
:func:`qdl.grad.expval` (parameters of shape ``(S,)``, gradients by the adjoint method: the
gradient of the batch sum is every sample's own gradient). :func:`variance_scan` repeats it
over a grid of qubit counts and layer counts and :func:`fit_decay` fits
``ln Var = a − r·n`` by least squares.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from qdl.circuit import Circuit
from qdl.diagnostics._common import (
    check_count,
    check_names,
    make_generator,
    uniform_params,
)
from qdl.errors import QDLError
from qdl.grad import expval
from qdl.sim import check_dtype

Observable = str | Callable[[int], str]


@dataclass(frozen=True)
class GradientStats:
    """Per-parameter statistics of ``∂C/∂θ_k`` over random parameters.

    Attributes:
        names: the differentiated parameters, in circuit order.
        variance: unbiased sample variance of each partial derivative, shape ``(P,)``.
        mean: sample mean of each partial derivative, shape ``(P,)``.
        samples: number of parameter draws ``S``.
    """

    names: tuple[str, ...]
    variance: np.ndarray
    mean: np.ndarray
    samples: int

    @property
    def mean_variance(self) -> float:
        """The variance averaged over parameters."""
        return float(self.variance.mean())


def default_observable(n_qubits: int) -> str:
    """``Z0 Z1`` (McClean et al.'s two-local cost), or ``Z0`` on a single qubit.

    >>> default_observable(3), default_observable(1)
    ('Z0 Z1', 'Z0')
    """
    return "Z0 Z1" if n_qubits > 1 else "Z0"


def gradient_samples(
    circuit: Circuit,
    observable: str,
    samples: int = 200,
    seed: int | None = None,
    exclude: Sequence[str] = (),
    dtype: torch.dtype = torch.complex64,
) -> tuple[tuple[str, ...], torch.Tensor]:
    """``∂⟨O⟩/∂θ_k`` at ``samples`` uniform random parameter vectors, in one batched call.

    Every parameter is drawn uniformly from ``[0, 2π)``; those in ``exclude`` (data inputs)
    are drawn too but not differentiated.

    Args:
        circuit: the circuit.
        observable: one Pauli sum, e.g. ``"Z0 Z1"``.
        samples: number of random parameter vectors ``S``.
        seed: seed of the parameter draws.
        exclude: parameters left out of the gradient.
        dtype: simulation dtype.

    Returns:
        ``(names, grads)`` with ``grads`` of shape ``(S, len(names))``.

    >>> names, g = gradient_samples(Circuit(1).rx(0, "a"), "Z0", samples=4, seed=0)
    >>> names, tuple(g.shape)
    (('a',), (4, 1))
    """
    samples = check_count(samples, "samples", 2)
    exclude = check_names(circuit, exclude, "excluded parameter")
    names = tuple(n for n in circuit.parameters if n not in exclude)
    if not names:
        raise QDLError("the circuit has no trainable parameters to differentiate; add "
                       "parameterized gates or exclude fewer parameters")
    if not isinstance(observable, str):
        raise QDLError(f"observable must be one Pauli-sum string, got {observable!r}")
    params = uniform_params(circuit.parameters, (samples,), make_generator(seed),
                            check_dtype(dtype))
    for name in names:
        params[name].requires_grad_()
    values = expval(circuit, [observable], params, diff_method="adjoint", dtype=dtype)
    grads = torch.autograd.grad(values.sum(), [params[n] for n in names])
    return names, torch.stack(grads, -1)


def gradient_variance(
    circuit: Circuit,
    observable: str,
    samples: int = 200,
    seed: int | None = None,
    exclude: Sequence[str] = (),
    dtype: torch.dtype = torch.complex64,
) -> GradientStats:
    """``Var[∂⟨O⟩/∂θ_k]`` over uniform random parameters, for every parameter ``θ_k``.

    Args:
        circuit: the circuit.
        observable: one Pauli sum, e.g. ``"Z0 Z1"``.
        samples: number of random parameter vectors (at least 2).
        seed: seed of the parameter draws.
        exclude: parameters drawn at random but not differentiated (data inputs).
        dtype: simulation dtype.

    Returns:
        :class:`GradientStats` with one variance per differentiated parameter.

    >>> stats = gradient_variance(Circuit(1).ry(0, "a"), "Z0", samples=2000, seed=1)
    >>> round(stats.mean_variance, 1)  # ∂cos(a) = -sin(a): variance 1/2
    0.5
    """
    names, grads = gradient_samples(circuit, observable, samples, seed, exclude, dtype)
    g = grads.detach().double()
    return GradientStats(names, g.var(0).numpy(), g.mean(0).numpy(), samples)


@dataclass(frozen=True)
class DecayFit:
    """Least-squares fit ``ln Var = intercept − rate·n``.

    Attributes:
        rate: decay rate ``r`` per qubit (natural log): ``Var ∝ exp(−r·n)``.
        stderr: standard uncertainty of ``rate`` from the fit residuals (NaN with two points).
        intercept: ``a``, the fitted ``ln Var`` at ``n = 0``.
        points: number of points fitted.
    """

    rate: float
    stderr: float
    intercept: float
    points: int

    @property
    def base2_rate(self) -> float:
        """The rate in bits: ``Var ∝ 2^(−rate_2·n)``; 1 is the Haar (2-design) scaling."""
        return self.rate / math.log(2)


def fit_decay(n: Sequence[float], variance: Sequence[float]) -> DecayFit:
    """Fit ``ln Var = a − r·n`` by ordinary least squares; ``r`` with its standard error.

    The standard error is ``sqrt(s² / Σ(n − n̄)²)`` with ``s² = RSS / (m − 2)``.

    Args:
        n: qubit counts (at least two distinct values).
        variance: positive variances, one per qubit count.

    Returns:
        :class:`DecayFit`.

    >>> fit = fit_decay([2, 4, 6], [math.exp(-1.0), math.exp(-2.0), math.exp(-3.0)])
    >>> round(fit.rate, 6), round(fit.stderr, 6)
    (0.5, 0.0)
    """
    x = np.asarray(n, dtype=np.float64)
    v = np.asarray(variance, dtype=np.float64)
    if x.ndim != 1 or x.shape != v.shape or len(np.unique(x)) < 2:
        raise QDLError("fit_decay needs matching 1-D sequences with at least two distinct "
                       f"qubit counts, got n={list(x)} and {len(v)} variance(s)")
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise QDLError(f"variances must be positive and finite to fit a log-linear decay, "
                       f"got {list(v)}")
    y = np.log(v)
    xc = x - x.mean()
    slope = float(xc @ (y - y.mean()) / (xc @ xc))
    intercept = float(y.mean() - slope * x.mean())
    m = len(x)
    if m > 2:
        rss = float(np.sum((y - intercept - slope * x) ** 2))
        stderr = math.sqrt(rss / (m - 2) / float(xc @ xc))
    else:
        stderr = math.nan
    return DecayFit(-slope, stderr, intercept, m)


@dataclass(frozen=True)
class VarianceScan:
    """Gradient variances over a grid of qubit and layer counts.

    Attributes:
        qubits: the qubit counts (columns).
        layers: the layer counts (rows).
        variance: mean over parameters of ``Var[∂C/∂θ_k]``, shape ``(len(layers),
            len(qubits))``.
        first: ``Var[∂C/∂θ_1]`` of the circuit's first parameter, same shape.
        fits: per layer count, the :class:`DecayFit` of ``variance`` against the qubit
            count (``None`` with fewer than two qubit counts).
        samples: random parameter vectors per grid point.
    """

    qubits: tuple[int, ...]
    layers: tuple[int, ...]
    variance: np.ndarray
    first: np.ndarray
    fits: tuple[DecayFit | None, ...]
    samples: int


def _as_counts(values: Sequence[int] | int, what: str) -> tuple[int, ...]:
    if isinstance(values, int):
        values = [values]
    counts = tuple(check_count(v, what) for v in values)
    if not counts:
        raise QDLError(f"{what} must list at least one value")
    return counts


def _observable_for(observable: Observable | None, n: int) -> str:
    if observable is None:
        return default_observable(n)
    return observable(n) if callable(observable) else observable


def variance_scan(
    family: Callable[[int, int], Circuit],
    qubits: Sequence[int] | int,
    layers: Sequence[int] | int = 1,
    observable: Observable | None = None,
    samples: int = 200,
    seed: int | None = None,
    circuits: int = 1,
    progress: Callable[[], None] | None = None,
) -> VarianceScan:
    """Gradient variance for every ``(n, L)`` of a circuit family, with decay fits.

    Each grid point pools ``circuits`` calls of ``family(n, L)`` (different random circuits
    for a random family such as ``mcclean``) with ``samples // circuits`` random parameter
    vectors each, every call one batched :func:`gradient_samples`.

    Args:
        family: callable ``(n_qubits, layers) -> Circuit``.
        qubits: qubit counts ``n``.
        layers: layer counts ``L``.
        observable: Pauli sum, or a callable ``n -> str``; default :func:`default_observable`.
        samples: random parameter vectors per grid point.
        seed: base seed; grid point ``i`` and circuit ``j`` use seeds derived from it.
        circuits: number of circuits drawn from the family per grid point.
        progress: called once after every grid point (e.g. to advance a progress bar).

    Returns:
        :class:`VarianceScan`.

    >>> from qdl.diagnostics.families import get_family
    >>> scan = variance_scan(get_family("hardware_efficient"), [1, 2], 1, samples=50, seed=0)
    >>> scan.variance.shape
    (1, 2)
    """
    qubits, layers = _as_counts(qubits, "qubits"), _as_counts(layers, "layers")
    circuits = check_count(circuits, "circuits")
    per_circuit = check_count(samples, "samples", 2) // circuits
    if per_circuit < 2:
        raise QDLError(f"samples ({samples}) must be at least 2 per circuit ({circuits} "
                       "circuits); raise samples or lower circuits")
    base = 0 if seed is None else seed
    variance = np.zeros((len(layers), len(qubits)))
    first = np.zeros_like(variance)
    for i, n_layers in enumerate(layers):
        for j, n in enumerate(qubits):
            grads = []
            for k in range(circuits):
                circuit = family(n, n_layers)
                point_seed = None if seed is None else base + 1000003 * (i * len(qubits) + j) + k
                _, g = gradient_samples(circuit, _observable_for(observable, n), per_circuit,
                                        point_seed)
                grads.append(g.detach().double())
            pooled = torch.cat(grads, 0).var(0)
            variance[i, j], first[i, j] = float(pooled.mean()), float(pooled[0])
            if progress is not None:
                progress()
    fits = tuple(fit_decay(qubits, row) if len(set(qubits)) > 1 and np.all(row > 0) else None
                 for row in variance)
    return VarianceScan(qubits, layers, variance, first, fits, per_circuit * circuits)
