"""Batched density-matrix simulation: mixed states, noise channels and readout errors.

Layout: ``ρ`` is stored as a ``2n``-wire tensor in the statevector layout of
:mod:`qdl.sim.core`, shape ``(2,)*n + (2,)*n + (B,)``: the ``n`` ket axes, then the ``n`` bra
axes, then the flattened batch, so ``ρ.reshape(2**n, 2**n, B)[i, j, b] = ρ_b[i, j]``. A gate
``U`` on wires ``W`` is the existing single-gate kernel twice: ``U`` on the ket axes ``W`` and
``conj(U)`` on the bra axes ``W + n``, which is ``ρ → U ρ U†``. A channel on wires ``W`` is one
matrix ``S = Σ_k K_k ⊗ conj(K_k)`` applied to the ket and bra axes of ``W`` together. Every step
is a torch operation, so autograd differentiates through the whole run (backprop).

Memory and time grow as ``4**n`` instead of ``2**n``: meant for the small circuits of
noise studies (up to ~12 qubits), gate by gate and without the statevector's fusion.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import lru_cache

import torch

from qdl.errors import QDLError
from qdl.noise import Channel, NoiseModel
from qdl.observables import (
    AnyObservable,
    Hermitian,
    Observable,
    PauliTerm,
    Projector,
    SparseHamiltonian,
)
from qdl.sim.core import Bound, Step, apply, apply_matrix, check_memory, zero_state
from qdl.sim.measure import (
    eigenbasis,
    eigenvalues,
    estimate,
    marginal,
    parity_signs,
    rotate_to_measurement,
    sparse,
)

Readout = tuple[torch.Tensor | None, ...]


@lru_cache(maxsize=1024)
def _bra(step: Step, n_qubits: int) -> Step:
    """The step moved to the bra axes."""
    return dataclasses.replace(step, wires=tuple(w + n_qubits for w in step.wires),
                               controls=tuple(c + n_qubits for c in step.controls))


def apply_gate(rho: torch.Tensor, step: Step, tensor: torch.Tensor | None) -> torch.Tensor:
    """``U ρ U†`` for one compiled step on ``ρ`` of shape ``(2,)*2n + (B,)``."""
    n = (rho.dim() - 1) // 2
    rho = apply(rho, step, tensor)
    return apply(rho, _bra(step, n), None if tensor is None else tensor.conj())


@lru_cache(maxsize=256)
def _superoperator(channel: Channel, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(channel.superoperator(), dtype=dtype, device=device)


def apply_channel(rho: torch.Tensor, channel: Channel, wires: Sequence[int]) -> torch.Tensor:
    """``Σ_k K_k ρ K_k†`` for a channel on ``wires`` (first wire most significant).

    >>> from qdl.noise import bit_flip
    >>> rho = apply_channel(zero_state(2), bit_flip(0.25), [0])   # |0><0| on one qubit
    >>> as_matrix(rho)[0].real.tolist()
    [[0.75, 0.0], [0.0, 0.25]]
    """
    n = (rho.dim() - 1) // 2
    s = _superoperator(channel, rho.dtype, rho.device)
    return apply_matrix(rho, s, [*wires, *(w + n for w in wires)])


def density_run(steps: Sequence[Step], tensors: Sequence[torch.Tensor | None], n_qubits: int,
                bound: Bound, noise: NoiseModel | None = None) -> torch.Tensor:
    """Run steps from ``|0..0><0..0|``, each followed by its channels: ``(2,)*2n + (B,)``.

    ``tensors`` are the steps' gate tensors (:func:`qdl.sim.core.gate_tensor`).
    """
    check_density_memory(n_qubits, bound)
    if noise is not None:
        noise.check_wires(n_qubits)
    rho = density_start(n_qubits, bound)
    for step, tensor in zip(steps, tensors, strict=True):
        rho = apply_gate(rho, step, tensor)
        if noise is not None:
            for channel, wires in noise.after(step.op.name, step.op.wires):
                rho = apply_channel(rho, channel, wires)
    return rho


def density_start(n_qubits: int, bound: Bound) -> torch.Tensor:
    """``bound.initial`` as a density matrix ``(2,)*2n + (B,)`` (``|ψ><ψ|`` for a
    statevector), or ``|0..0><0..0|``."""
    start = bound.initial
    if start is None:
        return zero_state(2 * n_qubits, bound.batch, bound.dtype, bound.device)
    if start.dim() == 2 * n_qubits + 1:
        return start
    flat = start.reshape(2**n_qubits, -1)
    rho = flat[:, None, :] * flat.conj()[None, :, :]
    return rho.reshape((2,) * (2 * n_qubits) + (flat.shape[-1],))


def check_density_memory(n_qubits: int, bound: Bound) -> None:
    """``QDLError`` before allocating when ``n_qubits``-qubit density matrices cannot fit."""
    try:
        check_memory(2 * n_qubits, bound.batch, bound.dtype, bound.device)
    except QDLError as exc:
        raise QDLError(f"a density matrix of {n_qubits} qubits is as large as a "
                       f"{2 * n_qubits}-qubit state: {exc}") from None


def as_matrix(rho: torch.Tensor) -> torch.Tensor:
    """``(2,)*2n + (B,)`` -> batch-first matrices ``(B, 2**n, 2**n)``.

    >>> as_matrix(zero_state(2, batch=3)).shape
    torch.Size([3, 2, 2])
    """
    dim = round(rho[..., 0].numel() ** 0.5)
    return rho.reshape(dim, dim, -1).permute(2, 0, 1)


def diagonal(rho: torch.Tensor) -> torch.Tensor:
    """Populations ``ρ_ii`` as a batch-last distribution ``(2,)*n + (B,)`` (real)."""
    n = (rho.dim() - 1) // 2
    diag = rho.reshape(2**n, 2**n, -1).diagonal(dim1=0, dim2=1).real  # (B, 2**n)
    return diag.T.reshape((2,) * n + (-1,))


def readout_matrices(noise: NoiseModel | None, n_qubits: int, dtype: torch.dtype,
                     device: torch.device) -> Readout | None:
    """Per wire, the assignment matrix ``P(measured | true)`` as a real tensor, or ``None``."""
    if noise is None or not noise.readout:
        return None
    real = torch.empty((), dtype=dtype).real.dtype
    errors = [noise.readout_error_on(w) for w in range(n_qubits)]
    return tuple(None if e is None else torch.as_tensor(e.matrix, dtype=real, device=device)
                 for e in errors)


def apply_readout(p: torch.Tensor, wires: Sequence[int], readout: Readout | None
                  ) -> torch.Tensor:
    """Measured-outcome distribution ``(B, 2**k)`` from the true one over ``wires``.

    >>> a = torch.tensor([[0.75, 0.5], [0.25, 0.5]])
    >>> apply_readout(torch.tensor([[1.0, 0.0]]), [0], (a,)).tolist()
    [[0.75, 0.25]]
    """
    if readout is None or all(readout[w] is None for w in wires):
        return p
    batch, k = p.shape[0], len(wires)
    p = p.reshape((batch,) + (2,) * k)
    for axis, w in enumerate(wires, start=1):
        a = readout[w]
        if a is not None:
            # (x @ Aᵀ)[.., m] = Σ_t A[m, t] x[.., t] on this wire's axis.
            p = (p.movedim(axis, -1) @ a.T).movedim(-1, axis)
    return p.reshape(batch, -1)


def density_probabilities(rho: torch.Tensor, wires: Sequence[int] | None = None,
                          readout: Readout | None = None) -> torch.Tensor:
    """Outcome probabilities ``(B, 2**k)`` over ``wires`` (default all), readout included."""
    n = (rho.dim() - 1) // 2
    wires = list(range(n)) if wires is None else list(wires)
    return apply_readout(marginal(diagonal(rho), wires), wires, readout)


def _rotate(rho: torch.Tensor, step: Step, matrix: torch.Tensor) -> torch.Tensor:
    return apply_gate(rho, step, matrix)


def term_distribution(rho: torch.Tensor, term: PauliTerm, readout: Readout | None = None
                      ) -> torch.Tensor:
    """Outcomes ``(B, 2**k)`` of measuring ``term``'s wires in its basis, then reading out."""
    wires = [w for w, _ in term.paulis]
    rotated = rotate_to_measurement(rho, term, _rotate)
    return apply_readout(marginal(diagonal(rotated), wires), wires, readout)


def density_expectation(rho: torch.Tensor, observables: Sequence[AnyObservable],
                        readout: Readout | None = None) -> torch.Tensor:
    """Exact ``tr(ρ O)`` per observable (readout errors included): ``(B, len(observables))``.

    >>> density_expectation(zero_state(2), [Observable.parse("Z0 + 0.5")]).tolist()
    [[1.5]]
    """
    cols = []
    for obs in observables:
        if isinstance(obs, SparseHamiltonian):
            cols.append(_sparse_trace(rho, obs, readout))
            continue
        if not isinstance(obs, Observable):
            values = torch.as_tensor(eigenvalues(obs), dtype=rho.real.dtype, device=rho.device)
            cols.append(_eigen_distribution(rho, obs, readout) @ values)
            continue
        total = 0.0
        for term in obs.terms:
            p = term_distribution(rho, term, readout)
            signs = parity_signs(len(term.paulis), p.dtype, p.device)
            total = total + term.coeff * (p @ signs)
        cols.append(total)
    return torch.stack(cols, -1)


def _eigen_distribution(rho: torch.Tensor, obs: Hermitian | Projector,
                        readout: Readout | None) -> torch.Tensor:
    """Outcomes ``(B, K)`` of measuring ``obs`` in its eigenbasis, then reading out."""
    wires = list(obs.wires)
    if isinstance(obs, Hermitian):
        n = (rho.dim() - 1) // 2
        w = eigenbasis(obs, rho.dtype, rho.device).mT.conj()  # V† ρ V: V† on kets, Vᵀ on bras
        rho = apply_matrix(apply_matrix(rho, w, wires), w.conj(), [q + n for q in wires])
    return apply_readout(marginal(diagonal(rho), wires), wires, readout)


def _sparse_trace(rho: torch.Tensor, obs: SparseHamiltonian, readout: Readout | None
                  ) -> torch.Tensor:
    if readout is not None and any(r is not None for r in readout):
        raise QDLError(f"{obs.text}: readout errors act on measured bits, which a sparse "
                       "Hamiltonian is not measured by; drop the readout errors or use Pauli "
                       "sums")
    dim = 2**obs.n_qubits
    flat = rho.reshape(dim, dim, -1)
    product = sparse(obs, rho.dtype, rho.device) @ flat.reshape(dim, -1)  # S ρ, per batch
    return product.reshape(dim, dim, -1).diagonal(dim1=0, dim2=1).sum(-1).real


def density_shot_expectation(rho: torch.Tensor, observables: Sequence[Observable], shots: int,
                             generator: torch.Generator | None = None,
                             readout: Readout | None = None, with_stderr: bool = False
                             ) -> torch.Tensor:
    """Shot estimates of ``<O>`` sampled from the noisy outcome distributions.

    As :func:`qdl.sim.measure.shot_expectation`, with readout errors applied to each sample.
    """
    rho = rho.detach()

    def eigen_distribution(obs: AnyObservable) -> torch.Tensor:
        if isinstance(obs, SparseHamiltonian):
            raise QDLError(f"{obs.text} is measured exactly only; use shots=None")
        return _eigen_distribution(rho, obs, readout)  # type: ignore[arg-type]

    out = estimate(observables, lambda term: term_distribution(rho, term, readout),
                   eigen_distribution, shots, generator, with_stderr)
    return out.expand(rho.shape[-1], -1).to(device=rho.device, dtype=rho.real.dtype)
