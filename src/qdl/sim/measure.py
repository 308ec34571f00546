"""Measurements on batch-last states ``(2, ..., 2, B)``: Pauli observables, probabilities,
samples. Results are batch-first ``(B, ...)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
import torch

from qdl.circuit import Op
from qdl.errors import QDLError
from qdl.gates import GATES
from qdl.observables import (
    AnyObservable,
    Hermitian,
    Observable,
    PauliTerm,
    Projector,
    SparseHamiltonian,
)
from qdl.sim.core import apply, apply_matrix, check_allocation, compile_ops


def apply_pauli(state: torch.Tensor, paulis: Sequence[tuple[int, str]]) -> torch.Tensor:
    """``P|ψ>`` for a Pauli word ``((wire, "X"|"Y"|"Z"), ...)`` on a batched state."""
    flips = [w for w, p in paulis if p in "XY"]
    out = state.flip(flips) if flips else state
    n_y = sum(p == "Y" for _, p in paulis)
    if any(p in "YZ" for _, p in paulis):
        # (Zψ)[b] = (-1)^b ψ[b] and (Yψ)[b] = i·(-1)^(1-b) ψ[1-b]: after the flip both are a
        # sign on the output bit b, with the i's collected once below.
        signs = torch.tensor([1.0, -1.0], dtype=state.real.dtype, device=state.device)
        for w, p in paulis:
            if p in "YZ":
                view = [1] * state.dim()
                view[w] = 2
                out = out * (signs if p == "Z" else -signs).reshape(view)
    if n_y:
        out = out * (1j**n_y)
    return out


ZMATRIX_MAX = 2**25  # entries; above this Z terms are reduced one by one


def _is_z(term: PauliTerm) -> bool:
    return all(p == "Z" for _, p in term.paulis)


@lru_cache(maxsize=32)
def _zmatrix(observables: tuple[Observable, ...], n: int, dtype: torch.dtype,
             device: torch.device) -> torch.Tensor:
    """``M[i, o] = Σ_t c_t Π_{w∈t} (−1)^{bit_w(i)}`` over the Z-only terms of observable o.

    With it every Z-type expectation is one product ``p @ M`` of the probabilities, and the
    adjoint's starting bra is ``ψ ⊙ (g @ Mᵀ)``: one pass instead of one per term.
    """
    # int32 basis indices and one parity vector per term: a (2**n, n) table of signs would
    # take n int64s per amplitude, several times the state itself.
    index = torch.arange(2**n, device=device, dtype=torch.int32 if n < 31 else torch.int64)
    cols = []
    for obs in observables:
        col = torch.zeros(2**n, dtype=torch.float64, device=device)
        for term in filter(_is_z, obs.terms):
            parity = torch.zeros_like(index)
            for w, _ in term.paulis:
                parity ^= (index >> (n - 1 - w)) & 1
            col += term.coeff * (1 - 2 * parity).to(torch.float64)
        cols.append(col.to(dtype))
    return torch.stack(cols, -1)


def z_matrix(observables: tuple[AnyObservable, ...], n: int, dtype: torch.dtype,
             device: torch.device) -> torch.Tensor | None:
    """The matrix ``M`` ``(2**n, O)`` (real ``dtype``) with ``<O_o> = Σ_i |ψ_i|² M[i, o]`` when
    every observable is a sum of Z-only Pauli terms (and ``M`` is not too large); else
    ``None``.

    >>> from qdl.observables import parse_observables
    >>> z_matrix(tuple(parse_observables(["Z0"], 1)), 1, torch.float64, "cpu").tolist()
    [[1.0], [-1.0]]
    """
    if not all(isinstance(o, Observable) and all(map(_is_z, o.terms)) for o in observables) \
            or 2**n * len(observables) > ZMATRIX_MAX:
        return None
    return _zmatrix(observables, n, dtype, torch.device(device))  # type: ignore[arg-type]


def _use_zmatrix(n: int, observables: Sequence[Observable]) -> bool:
    return 2**n * len(observables) <= ZMATRIX_MAX and any(
        _is_z(t) for o in observables for t in o.terms)


def _batch_view(weights: torch.Tensor, ndim: int) -> torch.Tensor:
    """Per-batch values ``(B,)`` shaped to broadcast against a ``(2, ..., 2, B)`` state."""
    return weights.reshape((1,) * (ndim - 1) + (-1,))


def observable_apply(state: torch.Tensor, obs: AnyObservable) -> torch.Tensor:
    """``O|ψ>`` for any observable kind, on a batch-last state ``(2, ..., 2, B)``."""
    if isinstance(obs, Hermitian):
        return apply_matrix(state, dense(obs, state.dtype, state.device), obs.wires)
    if isinstance(obs, Projector):
        out = torch.zeros_like(state)
        index = [slice(None)] * state.dim()
        for w, b in zip(obs.wires, obs.bits, strict=True):
            index[w] = slice(b, b + 1)
        out[tuple(index)] = state[tuple(index)]
        return out
    if isinstance(obs, SparseHamiltonian):
        flat = state.reshape(-1, state.shape[-1])
        return (sparse(obs, state.dtype, state.device) @ flat).reshape(state.shape)
    out = torch.zeros_like(state)
    for term in obs.terms:
        out = out + term.coeff * apply_pauli(state, term.paulis)
    return out


@lru_cache(maxsize=64)
def dense(obs: Hermitian, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The observable's matrix as a tensor (made once per dtype and device)."""
    return torch.tensor(np.array(obs.matrix), dtype=dtype, device=device)


@lru_cache(maxsize=16)
def sparse(obs: SparseHamiltonian, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The observable as a coalesced sparse COO tensor (made once per dtype and device)."""
    index = torch.tensor([obs.rows, obs.cols], dtype=torch.int64)
    values = torch.tensor(obs.values, dtype=dtype)
    size = (2**obs.n_qubits,) * 2
    return torch.sparse_coo_tensor(index, values, size, check_invariants=True).coalesce().to(
        device)


def _split(observables: Sequence[AnyObservable]) -> tuple[list[int], list[int]]:
    """Positions of the Pauli sums and of the other kinds."""
    pauli = [k for k, o in enumerate(observables) if isinstance(o, Observable)]
    return pauli, [k for k, o in enumerate(observables) if not isinstance(o, Observable)]


def weighted_observables(state: torch.Tensor, observables: Sequence[AnyObservable],
                         weights: torch.Tensor) -> torch.Tensor:
    """``Σ_o weights[:, o] · O_o|ψ>`` for weights ``(B, len(observables))``."""
    pauli, other = _split(observables)
    out = _weighted_paulis(state, [observables[k] for k in pauli], weights[:, pauli]) if pauli \
        else torch.zeros_like(state)
    for k in other:
        w = _batch_view(weights[:, k], state.dim()).to(state.dtype)
        out = out + w * observable_apply(state, observables[k])
    return out


def _weighted_paulis(state: torch.Tensor, observables: Sequence[Observable],
                     weights: torch.Tensor) -> torch.Tensor:
    n = state.dim() - 1
    zfast = _use_zmatrix(n, observables)
    out = torch.zeros_like(state)
    if zfast:
        m = _zmatrix(tuple(observables), n, state.real.dtype, state.device)
        out = state * (m @ weights.to(m.dtype).T).reshape(state.shape)
    for k, obs in enumerate(observables):
        w = _batch_view(weights[:, k], state.dim()).to(state.dtype)
        for term in obs.terms:
            if not (zfast and _is_z(term)):
                out = out + (term.coeff * w) * apply_pauli(state, term.paulis)
    return out


def expectation(state: torch.Tensor, observables: Sequence[AnyObservable]) -> torch.Tensor:
    """Exact ``<ψ|O|ψ>`` for each observable: shape ``(B, len(observables))``, real dtype."""
    pauli, other = _split(observables)
    if not other:
        return _pauli_expectation(state, observables)  # type: ignore[arg-type]
    cols: list[torch.Tensor | None] = [None] * len(observables)
    if pauli:
        out = _pauli_expectation(state, [observables[k] for k in pauli])  # type: ignore[misc]
        for j, k in enumerate(pauli):
            cols[k] = out[:, j]
    flat = state.reshape(-1, state.shape[-1])
    for k in other:
        obs = observables[k]
        if isinstance(obs, Projector):
            cols[k] = probabilities(state, list(obs.wires))[:, _bits_index(obs.bits)]
        else:
            applied = observable_apply(state, obs).reshape(flat.shape)
            cols[k] = (flat.conj() * applied).sum(0).real
    return torch.stack(cols, -1)  # type: ignore[arg-type]


def _bits_index(bits: Sequence[int]) -> int:
    return int("".join(map(str, bits)), 2) if bits else 0


def _pauli_expectation(state: torch.Tensor, observables: Sequence[Observable]) -> torch.Tensor:
    n = state.dim() - 1
    flat = state.reshape(-1, state.shape[-1])
    zfast = _use_zmatrix(n, observables)
    if zfast:
        m = _zmatrix(tuple(observables), n, state.real.dtype, state.device)
        out = (flat.real**2 + flat.imag**2).T @ m
    else:
        out = torch.zeros(flat.shape[1], len(observables), dtype=state.real.dtype,
                          device=state.device)
    cols = []
    for k, obs in enumerate(observables):
        total = out[:, k]
        for term in obs.terms:
            if zfast and _is_z(term):
                continue
            if _is_z(term):
                total = total + term.coeff * _z_expectation(state, [w for w, _ in term.paulis])
            else:
                other = apply_pauli(state, term.paulis).reshape(flat.shape)
                total = total + term.coeff * (flat.conj() * other).sum(0).real
        cols.append(total)
    return torch.stack(cols, -1)


def _z_expectation(state: torch.Tensor, wires: Sequence[int]) -> torch.Tensor:
    p = probabilities(state, wires)
    if not wires:
        return p.sum(-1)
    index = torch.arange(2 ** len(wires), device=p.device)
    parity = torch.zeros_like(index)
    for k in range(len(wires)):
        parity ^= (index >> k) & 1
    return p @ (1 - 2 * parity).to(p.dtype)


def probabilities(state: torch.Tensor, wires: Sequence[int] | None = None) -> torch.Tensor:
    """Basis-state probabilities ``(B, 2**len(wires))`` over ``wires`` in the order given.

    >>> from qdl.sim.core import zero_state
    >>> probabilities(zero_state(2), [1]).tolist()
    [[1.0, 0.0]]
    """
    return marginal(state.real**2 + state.imag**2, wires)


def marginal(p: torch.Tensor, wires: Sequence[int] | None = None) -> torch.Tensor:
    """Sum a batch-last distribution ``(2, ..., 2, B)`` down to ``wires``: ``(B, 2**k)``.

    >>> marginal(torch.tensor([[0.5], [0.5]]), []).tolist()
    [[1.0]]
    """
    n = p.dim() - 1
    wires = list(range(n)) if wires is None else list(wires)
    if len(set(wires)) != len(wires) or any(not 0 <= w < n for w in wires):
        raise QDLError(f"wires {wires} must be distinct qubits in 0..{n - 1}")
    other = [a for a in range(n) if a not in wires]
    p = p.sum(other) if other else p
    kept = sorted(wires)
    p = p.permute(n - len(other), *(kept.index(w) for w in wires))
    return p.reshape(p.shape[0], -1)


MAX_SHOTS = 2**53  # shot counts stay exact integers in float64


def check_shots(shots: object) -> int:
    """``shots`` if it is an int from 1 to ``2**53``; ``QDLError`` otherwise.

    >>> check_shots(0)
    Traceback (most recent call last):
    qdl.errors.QDLError: shots must be a positive int (at most 2**53), got 0
    """
    if not isinstance(shots, int) or isinstance(shots, bool) or not 1 <= shots <= MAX_SHOTS:
        raise QDLError(f"shots must be a positive int (at most 2**53), got {shots!r}")
    return shots


def make_generator(seed: object) -> torch.Generator | None:
    """A CPU generator seeded with ``seed`` (``None``: torch's global one).

    >>> make_generator(2**80)
    Traceback (most recent call last):
    qdl.errors.QDLError: seed must be an int from 0 to 2**64 - 1, got 1208925819614629174706176
    """
    if seed is None:
        return None
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**64:
        raise QDLError(f"seed must be an int from 0 to 2**64 - 1, got {seed!r}")
    return torch.Generator().manual_seed(seed)


def sample_indices(
    probs: torch.Tensor, shots: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``shots`` basis indices per batch row drawn from ``probs`` ``(B, K)``: ``(B, shots)``.

    ``QDLError`` before drawing when the int64 result (and its bits) cannot fit in memory.
    """
    check_shots(shots)
    check_allocation(3 * 8.0 * probs.shape[0] * shots, f"{shots} shots", probs.device)
    p = probs.detach().to(torch.float64)
    p = p.clamp_min(0) / p.sum(-1, keepdim=True)
    return torch.multinomial(p.cpu(), shots, replacement=True, generator=generator).to(
        probs.device
    )


def bits(indices: torch.Tensor, n_bits: int) -> torch.Tensor:
    """Integer basis indices -> bits ``(..., n_bits)``, most significant first."""
    shifts = torch.arange(n_bits - 1, -1, -1, device=indices.device)
    return (indices[..., None] >> shifts) & 1


_ROTATE = {"X": ("h",), "Y": ("sdg", "h"), "Z": ()}


@lru_cache(maxsize=64)
def parity_signs(k: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``(−1)^parity`` of every outcome of ``k`` measured bits, ``(2**k,)``: the one place the
    value of a Pauli-term outcome is computed, for pure and mixed states alike.

    >>> parity_signs(2, torch.float64, torch.device("cpu")).tolist()
    [1.0, -1.0, -1.0, 1.0]
    """
    index = np.arange(2**k)
    parity = np.zeros_like(index)
    for j in range(k):
        parity ^= (index >> j) & 1
    return torch.as_tensor(1 - 2 * parity, dtype=dtype, device=device)


def parity_estimate(
    probs: torch.Tensor, shots: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of ``(−1)^parity`` over ``shots`` samples of ``probs`` ``(B, 2**k)``, and the
    estimated variance of that mean, ``(1 − mean²)/(shots − 1)`` (unbiased; 0 for one shot).

    >>> mean, var = parity_estimate(torch.tensor([[0.0, 1.0]]), 10)
    >>> mean.tolist(), var.tolist()
    ([-1.0], [0.0])
    """
    check_shots(shots)
    k = round(math.log2(probs.shape[-1]))
    odd = (1 - parity_signs(k, torch.float64, torch.device("cpu"))) / 2
    p = probs.detach().to(torch.float64).cpu().clamp_min(0)
    p_odd = ((p * odd).sum(-1) / p.sum(-1)).clamp(0, 1)
    # Only the number of odd outcomes matters: one binomial draw per row stands for the
    # shots, so memory and time do not grow with their number.
    count = torch.binomial(torch.full_like(p_odd, float(shots)), p_odd, generator=generator)
    mean = (1 - 2 * count / shots).to(device=probs.device, dtype=probs.dtype)
    return mean, (1 - mean**2).clamp_min(0) / max(shots - 1, 1)


def estimate(
    observables: Sequence[AnyObservable],
    term_distribution: Callable[[PauliTerm], torch.Tensor],
    eigen_distribution: Callable[[AnyObservable], torch.Tensor],
    shots: int,
    generator: torch.Generator | None = None,
    with_stderr: bool = False,
) -> torch.Tensor:
    """Shot estimates of ``<O>`` from outcome distributions, ``(B, len(observables))``: the one
    shot estimator for pure and mixed states, which differ only in the distributions given.

    Args:
        observables: Pauli sums (each term measured in its own basis) or matrix observables
            (measured in their eigenbasis).
        term_distribution: a Pauli term -> outcome probabilities ``(B, 2**k)`` of its wires
            after rotating them to its measurement basis.
        eigen_distribution: a matrix observable -> probabilities ``(B, K)`` of its
            eigenvalues (the order of :func:`eigenvalues`).
        shots: samples per Pauli term or matrix observable.
        generator: the random generator, for reproducible estimates.
        with_stderr: append the standard errors as ``len(observables)`` more columns:
            ``√(Σ_t c_t² (1 − m_t²)/(shots − 1))`` over the terms' sample means ``m_t``.

    >>> p = torch.tensor([[0.0, 1.0]])
    >>> estimate([Observable.parse("Z0 + 1")], lambda t: p, None, shots=5).tolist()
    [[0.0]]
    """
    cols, errs = [], []
    for obs in observables:
        if not isinstance(obs, Observable):
            total, var = matrix_estimate(eigen_distribution(obs), obs, shots, generator)
        else:
            total = var = torch.zeros((), dtype=torch.float64)
            for term in obs.terms:
                if not term.paulis:
                    total = total + term.coeff
                    continue
                mean, v = parity_estimate(term_distribution(term), shots, generator)
                total, var = total + term.coeff * mean.cpu().double(), var + term.coeff**2 * v
        cols.append(total)
        errs.append(var.sqrt())
    return torch.stack(torch.broadcast_tensors(*(cols + errs if with_stderr else cols)), -1)


def shot_expectation(
    state: torch.Tensor,
    observables: Sequence[AnyObservable],
    shots: int,
    generator: torch.Generator | None = None,
    with_stderr: bool = False,
) -> torch.Tensor:
    """Estimates of ``<O>`` from ``shots`` samples per Pauli term: ``(B, len(observables))``
    (see :func:`estimate`; X is measured via H, Y via S†·H, as hardware would)."""
    state = state.detach()
    out = estimate(
        observables,
        lambda term: probabilities(rotate_to_measurement(state, term, apply),
                                   [w for w, _ in term.paulis]),
        lambda obs: _eigen_distribution(state, obs), shots, generator, with_stderr)
    return out.expand(state.shape[-1], -1).to(device=state.device, dtype=state.real.dtype)


def _eigen_distribution(state: torch.Tensor, obs: AnyObservable) -> torch.Tensor:
    """Outcome probabilities ``(B, K)`` of measuring ``obs`` in its eigenbasis (the order of
    :func:`eigenvalues`): a projector's wires as they are, a Hermitian's rotated by V†."""
    if isinstance(obs, SparseHamiltonian):
        raise QDLError(f"{obs.text} is measured exactly only; shots would need its eigenbasis "
                       "(a dense diagonalisation): use shots=None, or Pauli sums with shots")
    if isinstance(obs, Hermitian):
        state = apply_matrix(state, eigenbasis(obs, state.dtype, state.device).mT.conj(),
                             obs.wires)
    return probabilities(state, list(obs.wires))


@lru_cache(maxsize=64)
def eigenbasis(obs: Hermitian, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The eigenvectors ``V`` (columns) of a Hermitian observable as a tensor."""
    return torch.tensor(obs.eigenvectors, dtype=dtype, device=device)


def eigenvalues(obs: Hermitian | Projector) -> np.ndarray:
    """The value each outcome of :func:`_eigen_distribution` stands for."""
    if isinstance(obs, Hermitian):
        return obs.eigenvalues
    values = np.zeros(2 ** len(obs.wires))
    values[_bits_index(obs.bits)] = 1.0
    return values


def matrix_estimate(p: torch.Tensor, obs: AnyObservable, shots: int,
                    generator: torch.Generator | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Shot estimate of ``<O>`` from its eigenbasis distribution ``p`` ``(B, K)``, and the
    estimated variance of that mean (sample variance over ``shots − 1``).

    Counts are drawn as a chain of binomials (one per outcome), so memory and time do not
    grow with ``shots``; a projector needs a single draw.
    """
    check_shots(shots)
    p = p.detach().to(torch.float64).cpu().clamp_min(0)
    p = p / p.sum(-1, keepdim=True)
    if isinstance(obs, Projector):
        q = p[:, _bits_index(obs.bits)]
        mean = torch.binomial(torch.full_like(q, float(shots)), q, generator=generator) / shots
        var = mean * (1 - mean) / max(shots - 1, 1)
    else:
        values = torch.as_tensor(eigenvalues(obs), dtype=torch.float64)  # type: ignore[arg-type]
        counts = multinomial_counts(p, shots, generator)
        mean = counts @ values / shots
        var = (counts @ values**2 / shots - mean**2).clamp_min(0) / max(shots - 1, 1)
    return mean, var  # on the CPU, in float64: callers move them


def multinomial_counts(p: torch.Tensor, shots: int, generator: torch.Generator | None = None
                       ) -> torch.Tensor:
    """Outcome counts ``(B, K)`` of ``shots`` draws from each row of ``p`` (float64, CPU).

    >>> multinomial_counts(torch.tensor([[0.0, 1.0, 0.0]], dtype=torch.float64), 7).tolist()
    [[0.0, 7.0, 0.0]]
    """
    remaining = torch.full(p.shape[:1], float(shots), dtype=torch.float64)
    rest = torch.ones_like(remaining)
    counts = []
    for k in range(p.shape[-1] - 1):
        q = torch.where(rest > 0, p[:, k] / rest.clamp_min(1e-300), 0.0).clamp(0, 1)
        c = torch.binomial(remaining, q, generator=generator)
        counts.append(c)
        remaining, rest = remaining - c, rest - p[:, k]
    counts.append(remaining)
    return torch.stack(counts, -1)


def rotate_to_measurement(state: torch.Tensor, term: PauliTerm, apply_step: Callable
                          ) -> torch.Tensor:
    """The state with each X (Y) factor of ``term`` rotated to Z by H (S†·H).

    ``apply_step(state, step, matrix)`` applies one gate, so density matrices reuse this.
    """
    for w, p in term.paulis:
        for g in _ROTATE[p]:
            step = compile_ops((Op(g, (w,)),))[0]
            state = apply_step(state, step, GATES[g].fn([]).to(state))  # type: ignore[misc]
    return state
