"""Expressibility: how far a circuit's fidelity distribution is from Haar-random states.

Sim, Johnson & Aspuru-Guzik, arXiv:1905.10876 (2019), Eq. (1): draw pairs of parameter
vectors, histogram the fidelities ``F = |⟨ψ(θ)|ψ(φ)⟩|²`` of the two output states and take
the Kullback-Leibler divergence ``Expr = D_KL(P̂_PQC(F) ‖ P_Haar(F))`` from the distribution
of Haar-random states, ``P_Haar(F) = (N − 1)(1 − F)^(N−2)`` with ``N = 2^n``. Defaults follow
the paper: 75 bins on ``[0, 1]`` and 5000 fidelity samples. Small values mean expressive.

The Haar probability of bin ``[a, b]`` is integrated exactly,
``(1 − a)^(N−1) − (1 − b)^(N−1)``, and kept in log space so that no bin underflows to zero.
"""

from __future__ import annotations

from collections.abc import Sequence

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
from qdl.sim import check_dtype, state

BINS = 75
FIDELITY_SAMPLES = 5000
# Amplitudes held at once per state batch; bounds memory for wide circuits.
_CHUNK_AMPLITUDES = 2**22


def haar_log_probabilities(n_qubits: int, bins: int = BINS) -> np.ndarray:
    """``ln P_Haar(F ∈ bin_j)`` for ``bins`` equal bins of ``[0, 1]``, integrated exactly.

    ``P(a ≤ F < b) = (1 − a)^(N−1) − (1 − b)^(N−1)``, ``N = 2^n``, evaluated as
    ``(N−1)·ln(1 − a) + ln(1 − ((1 − b)/(1 − a))^(N−1))``.

    >>> np.exp(haar_log_probabilities(1, bins=4)).round(6).tolist()  # N = 2: uniform
    [0.25, 0.25, 0.25, 0.25]
    """
    n = check_count(n_qubits, "n_qubits")
    bins = check_count(bins, "bins")
    power = float(2**n - 1)
    edges = np.linspace(0.0, 1.0, bins + 1)
    lower, upper = 1.0 - edges[:-1], 1.0 - edges[1:]
    out = power * np.log(lower)
    ratio = upper / lower
    with np.errstate(divide="ignore"):
        out = out + np.log(-np.expm1(power * np.log(ratio)))
    return out


def kl_divergence(p: Sequence[float] | np.ndarray, log_q: Sequence[float] | np.ndarray) -> float:
    """``Σ_j p_j (ln p_j − ln q_j)`` over the bins with ``p_j > 0`` (natural log).

    >>> round(kl_divergence([0.5, 0.5], np.log([0.25, 0.75])), 6)
    0.143841
    """
    p = np.asarray(p, dtype=np.float64)
    log_q = np.asarray(log_q, dtype=np.float64)
    if p.shape != log_q.shape:
        raise QDLError(f"p and log_q must have the same shape, got {p.shape} and {log_q.shape}")
    mask = p > 0
    return float(np.sum(p[mask] * (np.log(p[mask]) - log_q[mask])))


def fidelity_histogram(fidelities: Sequence[float] | np.ndarray, bins: int = BINS) -> np.ndarray:
    """Fraction of the fidelities in each of ``bins`` equal bins of ``[0, 1]``.

    Rounding can push a fidelity a hair above 1; it is counted in the last bin.

    >>> fidelity_histogram([0.1, 0.9, 1.0], bins=2).tolist()
    [0.3333333333333333, 0.6666666666666666]
    """
    bins = check_count(bins, "bins")
    f = np.clip(np.asarray(fidelities, dtype=np.float64), 0.0, 1.0)
    if f.size == 0:
        raise QDLError("no fidelities to histogram")
    counts, _ = np.histogram(f, bins=bins, range=(0.0, 1.0))
    return counts / f.size


def fidelity_samples(
    circuit: Circuit,
    samples: int = FIDELITY_SAMPLES,
    seed: int | None = None,
    fixed: dict[str, float] | None = None,
    dtype: torch.dtype = torch.complex64,
) -> np.ndarray:
    """Fidelities ``|⟨ψ(θ)|ψ(φ)⟩|²`` of ``samples`` independent uniform parameter pairs.

    Both states of all pairs come from batched :func:`qdl.sim.state` calls.

    Args:
        circuit: the circuit.
        samples: number of pairs.
        seed: seed of the parameter draws.
        fixed: parameters held at a given value instead of drawn.
        dtype: simulation dtype.

    Returns:
        Array of ``samples`` fidelities.

    >>> fidelity_samples(Circuit(1).h(0), samples=3, seed=0).round(6).tolist()
    [1.0, 1.0, 1.0]
    """
    samples = check_count(samples, "samples")
    fixed = dict(fixed or {})
    check_names(circuit, fixed, "fixed parameter")
    names = [n for n in circuit.parameters if n not in fixed]
    generator, dtype = make_generator(seed), check_dtype(dtype)
    chunk = max(1, _CHUNK_AMPLITUDES // 2**circuit.n_qubits)
    out = []
    with torch.no_grad():
        for start in range(0, samples, chunk):
            size = min(chunk, samples - start)
            pair = [state(circuit, {**uniform_params(names, (size,), generator, dtype),
                                    **fixed}, dtype=dtype) for _ in range(2)]
            overlap = (pair[0].conj() * pair[1]).sum(-1).abs().square().double()
            # A circuit without free parameters gives unbatched states: one fidelity for all.
            out.append(np.broadcast_to(overlap.reshape(-1).numpy(), (size,)))
    return np.concatenate(out)


def expressibility_from_fidelities(
    fidelities: Sequence[float] | np.ndarray, n_qubits: int, bins: int = BINS
) -> float:
    """``D_KL(histogram of fidelities ‖ Haar)`` for states on ``n_qubits`` qubits.

    >>> round(expressibility_from_fidelities([1.0, 1.0], 1, bins=75), 4)  # ln 75
    4.3175
    """
    return kl_divergence(fidelity_histogram(fidelities, bins), haar_log_probabilities(n_qubits,
                                                                                      bins))


def expressibility(
    circuit: Circuit,
    samples: int = FIDELITY_SAMPLES,
    bins: int = BINS,
    seed: int | None = None,
    fixed: dict[str, float] | None = None,
    dtype: torch.dtype = torch.complex64,
) -> float:
    """Expressibility of Sim et al.: KL divergence from the Haar fidelity distribution.

    Args:
        circuit: the circuit; all its parameters (but ``fixed``) are drawn from ``[0, 2π)``.
        samples: fidelity samples (parameter pairs); the paper uses 5000.
        bins: histogram bins on ``[0, 1]``; the paper uses 75.
        seed: seed of the parameter draws.
        fixed: parameters held at a given value.
        dtype: simulation dtype.

    Returns:
        ``Expr`` in nats: 0 for Haar-random states, ``(N − 1)·ln(bins)`` for a circuit that
        always prepares the same state.

    >>> round(expressibility(Circuit(1).h(0), seed=0), 4)  # ln 75: the same state always
    4.3175
    """
    fidelities = fidelity_samples(circuit, samples, seed, fixed, dtype)
    return expressibility_from_fidelities(fidelities, circuit.n_qubits, bins)
