"""Batched statevector simulation on torch: a few pure functions over new tensors.

``core`` applies single gates, ``plan`` compiles circuits into fused plans and runs them,
``measure`` turns states into expectations, probabilities and samples. This module holds
the public entry points (``qdl.state``, ``qdl.probs``, ``qdl.sample``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from qdl.circuit import Circuit
from qdl.sim.core import (
    REAL,
    Bound,
    Step,
    angles,
    apply,
    bind,
    check_memory,
    compile_circuit,
    gate_tensor,
    zero_state,
)
from qdl.sim.measure import (
    bits,
    expectation,
    observable_apply,
    probabilities,
    sample_indices,
    shot_expectation,
    weighted_observables,
)
from qdl.sim.plan import (
    FUSE_WIDTH,
    Block,
    Perm,
    PlanItem,
    Prep,
    apply_into,
    final_state,
    fuse,
    item_apply,
    item_grad,
    plan_for,
    plan_tensors,
    run,
)

__all__ = [
    "FUSE_WIDTH", "REAL", "Block", "Bound", "Perm", "PlanItem", "Prep", "Step",
    "angles", "apply", "apply_into", "bind", "bits", "check_memory", "compile_circuit",
    "expectation",
    "final_state", "fuse", "gate_tensor", "item_apply", "item_grad", "observable_apply",
    "plan_for", "plan_tensors", "probabilities", "probs", "run", "sample",
    "sample_indices", "shot_expectation", "state", "weighted_observables", "zero_state",
]


def state(
    circuit: Circuit,
    params: Mapping[str, torch.Tensor | float] | None = None,
    *,
    dtype: torch.dtype = torch.complex64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The circuit's output statevector, shape ``(*batch, 2**n_qubits)``.

    Differentiable by autograd with respect to every parameter tensor.

    >>> state(Circuit(2).h(0).cx(0, 1)).abs().square().round(decimals=6).tolist()
    [0.5, 0.0, 0.0, 0.5]
    """
    bound = bind(circuit, params, dtype, device)
    psi = final_state(circuit, bound).reshape(2**circuit.n_qubits, bound.batch).T
    return psi.reshape(*bound.batch_shape, 2**circuit.n_qubits)


def probs(
    circuit: Circuit,
    params: Mapping[str, torch.Tensor | float] | None = None,
    wires: Sequence[int] | None = None,
    *,
    dtype: torch.dtype = torch.complex64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Probabilities of the basis states of ``wires`` (default all): ``(*batch, 2**k)``.

    >>> probs(Circuit(2).x(1), wires=[1]).tolist()
    [0.0, 1.0]
    """
    bound = bind(circuit, params, dtype, device)
    p = probabilities(final_state(circuit, bound), wires)
    return p.reshape(*bound.batch_shape, p.shape[-1])


def sample(
    circuit: Circuit,
    params: Mapping[str, torch.Tensor | float] | None = None,
    shots: int = 1000,
    wires: Sequence[int] | None = None,
    *,
    seed: int | None = None,
    dtype: torch.dtype = torch.complex64,
) -> torch.Tensor:
    """Measured bits ``(*batch, shots, len(wires))`` (int64, wire order as given).

    >>> sample(Circuit(2).x(0), shots=3, seed=1).tolist()
    [[1, 0], [1, 0], [1, 0]]
    """
    bound = bind(circuit, params, dtype)
    wires = list(range(circuit.n_qubits)) if wires is None else list(wires)
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    with torch.no_grad():
        p = probabilities(final_state(circuit, bound), wires)
    out = bits(sample_indices(p, shots, generator), len(wires))
    return out.reshape(*bound.batch_shape, shots, len(wires))
