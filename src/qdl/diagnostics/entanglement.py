"""Entangling capability: the mean Meyer–Wallach measure of a circuit's output states.

Meyer & Wallach, J. Math. Phys. 43, 4273 (2002), in Brennen's form (Quantum Inf. Comput.
3, 619 (2003)) as used by Sim, Johnson & Aspuru-Guzik (arXiv:1905.10876, Eq. (3)-(4)):
``Q(|ψ⟩) = 2 (1 − (1/n) Σ_k tr ρ_k²)`` with ``ρ_k`` the reduced state of qubit ``k``;
the entangling capability is the mean of ``Q`` over uniformly random parameters. ``Q`` is 0
for product states and 1 for GHZ states.
"""

from __future__ import annotations

import math

import torch

from qdl.circuit import Circuit
from qdl.diagnostics._common import check_count, make_generator, uniform_params
from qdl.errors import QDLError
from qdl.sim import check_dtype, state

ENT_SAMPLES = 5000
# Amplitudes held at once per state batch; bounds memory for wide circuits.
_CHUNK_AMPLITUDES = 2**22


def meyer_wallach(states: torch.Tensor) -> torch.Tensor:
    """Meyer–Wallach ``Q`` of statevectors ``(..., 2**n)``: a real tensor of shape ``(...)``.

    The purity of qubit ``k`` is ``Σ_ij |ρ_ij|²`` with ``ρ_ij = Σ_{a,c} ψ_{a i c} ψ*_{a j c}``,
    ``a`` running over the qubits before ``k`` and ``c`` over those after it (wire 0 is the
    most significant bit). States need not be normalized to unit length beforehand; they are.

    >>> bell = torch.tensor([1, 0, 0, 1], dtype=torch.complex128) / 2**0.5
    >>> round(meyer_wallach(bell).item(), 6)
    1.0
    """
    if not isinstance(states, torch.Tensor) or states.dim() < 1:
        raise QDLError("meyer_wallach takes a tensor of statevectors (..., 2**n)")
    dim = states.shape[-1]
    n = round(math.log2(dim)) if dim > 0 else -1
    if n < 1 or 2**n != dim:
        raise QDLError(f"the last dimension of the states must be 2**n with n >= 1, got {dim}")
    psi = states if states.is_complex() else states.to(torch.complex128)
    psi = psi / psi.norm(dim=-1, keepdim=True)
    batch = psi.shape[:-1]
    purity = torch.zeros(batch, dtype=psi.real.dtype, device=psi.device)
    for k in range(n):
        split = psi.reshape(*batch, 2**k, 2, 2 ** (n - k - 1))
        rho = torch.einsum("...aic,...ajc->...ij", split, split.conj())
        purity = purity + rho.abs().square().sum((-2, -1))
    # Q >= 0 exactly; rounding can leave a purity a hair above 1.
    return (2 * (1 - purity / n)).clamp_min(0)


def entangling_capability(
    circuit: Circuit,
    samples: int = ENT_SAMPLES,
    seed: int | None = None,
    dtype: torch.dtype = torch.complex64,
) -> float:
    """Mean Meyer–Wallach ``Q`` over ``samples`` uniform random parameter vectors.

    The states come from one batched :func:`qdl.sim.state` call.

    Args:
        circuit: the circuit; every parameter is drawn from ``[0, 2π)``.
        samples: number of parameter vectors.
        seed: seed of the draws.
        dtype: simulation dtype.

    Returns:
        ``Ent`` between 0 (never entangles) and 1.

    >>> round(entangling_capability(Circuit(2).h(0).cx(0, 1).ry(0, "a"), 10, seed=0), 6)
    1.0
    """
    samples = check_count(samples, "samples")
    if circuit.n_qubits < 2:
        raise QDLError("entangling capability needs at least 2 qubits, got "
                       f"{circuit.n_qubits}")
    dtype, generator = check_dtype(dtype), make_generator(seed)
    chunk = max(1, _CHUNK_AMPLITUDES // 2**circuit.n_qubits)
    total = 0.0
    with torch.no_grad():
        for start in range(0, samples, chunk):
            size = min(chunk, samples - start)
            params = uniform_params(circuit.parameters, (size,), generator, dtype)
            q = meyer_wallach(state(circuit, params, dtype=dtype)).double().reshape(-1)
            # A circuit without free parameters gives one unbatched state for all samples.
            total += float(q.sum()) * (size / q.numel())
    return total / samples
