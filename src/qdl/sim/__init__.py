"""Batched statevector simulation on torch: a few pure functions over new tensors.

``core`` applies single gates, ``plan`` compiles circuits into fused plans and runs them,
``measure`` turns states into expectations, probabilities and samples, ``density`` runs
density matrices with noise channels. This module holds the public entry points
(``qdl.state``, ``qdl.density_matrix``, ``qdl.probs``, ``qdl.sample``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from qdl.circuit import Circuit
from qdl.noise import NoiseModel
from qdl.sim.core import (
    REAL,
    Bound,
    Step,
    adapt_threads,
    angles,
    apply,
    bind,
    check_dtype,
    check_memory,
    compile_circuit,
    fitting_chunk,
    free_memory,
    gate_tensor,
    tracing,
)
from qdl.sim.density import (
    as_matrix,
    density_expectation,
    density_probabilities,
    density_run,
    density_shot_expectation,
    readout_matrices,
)
from qdl.sim.measure import (
    bits,
    check_shots,
    expectation,
    make_generator,
    observable_apply,
    probabilities,
    sample_indices,
    shot_expectation,
    weighted_observables,
)
from qdl.sim.plan import (
    PlanItem,
    Prep,
    final_state,
    plan_for,
    plan_tensors,
    run,
    sweep,
)

__all__ = [
    "REAL",
    "Bound",
    "PlanItem",
    "Prep",
    "Step",
    "adapt_threads",
    "angles",
    "apply",
    "bind",
    "bits",
    "check_dtype",
    "check_memory",
    "check_shots",
    "compile_circuit",
    "density_expectation",
    "density_matrix",
    "density_run",
    "density_shot_expectation",
    "expectation",
    "final_state",
    "fitting_chunk",
    "free_memory",
    "gate_tensor",
    "make_generator",
    "observable_apply",
    "plan_for",
    "plan_tensors",
    "probabilities",
    "probs",
    "readout_matrices",
    "run",
    "sample",
    "shot_expectation",
    "state",
    "sweep",
    "tracing",
    "weighted_observables",
]


def state(
    circuit: Circuit,
    params: Mapping[str, torch.Tensor | float] | None = None,
    *,
    dtype: torch.dtype = torch.complex64,
    device: torch.device | str | None = None,
    initial_state: torch.Tensor | None = None,
) -> torch.Tensor:
    """The circuit's output statevector, shape ``(*batch, 2**n_qubits)``.

    ``initial_state`` (``(*batch, 2**n)``, normalised) is the state the circuit acts on
    instead of ``|0...0>``; its batch dimensions broadcast with the parameters'.
    Differentiable by autograd with respect to every parameter tensor and the initial state.

    >>> state(Circuit(2).h(0).cx(0, 1)).abs().square().round(decimals=6).tolist()
    [0.5, 0.0, 0.0, 0.5]
    >>> state(Circuit(1).x(0), initial_state=torch.tensor([0.6, 0.8])).real.tolist()
    [0.800000011920929, 0.6000000238418579]
    """
    bound = bind(circuit, params, dtype, device, initial_state=initial_state)
    psi = final_state(circuit, bound).reshape(2**circuit.n_qubits, bound.batch).T
    return psi.reshape(*bound.batch_shape, 2**circuit.n_qubits)


def noisy_state(circuit: Circuit, bound: Bound, noise: NoiseModel | None) -> torch.Tensor:
    """The circuit's density matrix ``(2,)*2n + (B,)`` under ``noise``, gate by gate."""
    steps = compile_circuit(circuit)
    tensors = [gate_tensor(s, bound) for s in steps]
    return density_run(steps, tensors, circuit.n_qubits, bound, noise)


def density_matrix(
    circuit: Circuit,
    params: Mapping[str, torch.Tensor | float] | None = None,
    noise: NoiseModel | None = None,
    *,
    dtype: torch.dtype = torch.complex64,
    device: torch.device | str | None = None,
    initial_state: torch.Tensor | None = None,
) -> torch.Tensor:
    """The output density matrix, shape ``(*batch, 2**n, 2**n)``, with ``noise`` channels.

    Differentiable by autograd (backprop) with respect to every parameter tensor and the
    ``initial_state`` (statevectors ``(*batch, 2**n)`` or density matrices
    ``(*batch, 2**n, 2**n)``). Readout errors do not change the state; they act on
    :func:`probs`, :func:`sample` and :func:`qdl.expval`.

    >>> from qdl.noise import NoiseModel, depolarizing
    >>> density_matrix(Circuit(1).x(0), noise=NoiseModel().add("x", depolarizing(0.5))
    ...                ).real.tolist()
    [[0.25, 0.0], [0.0, 0.75]]
    """
    bound = bind(circuit, params, dtype, device, initial_state=initial_state, density=True)
    rho = as_matrix(noisy_state(circuit, bound, noise))
    return rho.reshape(*bound.batch_shape, *rho.shape[1:])


def probs(
    circuit: Circuit,
    params: Mapping[str, torch.Tensor | float] | None = None,
    wires: Sequence[int] | None = None,
    *,
    dtype: torch.dtype = torch.complex64,
    device: torch.device | str | None = None,
    noise: NoiseModel | None = None,
    initial_state: torch.Tensor | None = None,
) -> torch.Tensor:
    """Probabilities of the basis states of ``wires`` (default all): ``(*batch, 2**k)``.

    With ``noise`` the circuit runs as a density matrix and readout errors apply; then
    ``initial_state`` may also be density matrices (see :func:`state` for statevectors).

    >>> probs(Circuit(2).x(1), wires=[1]).tolist()
    [0.0, 1.0]
    """
    bound = bind(circuit, params, dtype, device, initial_state=initial_state,
                 density=noise is not None)
    p = _probabilities(circuit, bound, wires, noise)
    return p.reshape(*bound.batch_shape, p.shape[-1])


def _probabilities(circuit: Circuit, bound: Bound, wires: Sequence[int] | None,
                   noise: NoiseModel | None) -> torch.Tensor:
    if noise is None:
        return probabilities(final_state(circuit, bound), wires)
    readout = readout_matrices(noise, circuit.n_qubits, bound.dtype, bound.device)
    return density_probabilities(noisy_state(circuit, bound, noise), wires, readout)


def sample(
    circuit: Circuit,
    params: Mapping[str, torch.Tensor | float] | None = None,
    shots: int = 1000,
    wires: Sequence[int] | None = None,
    *,
    seed: int | None = None,
    dtype: torch.dtype = torch.complex64,
    noise: NoiseModel | None = None,
    initial_state: torch.Tensor | None = None,
) -> torch.Tensor:
    """Measured bits ``(*batch, shots, len(wires))`` (int64, wire order as given).

    With ``noise`` the samples come from the noisy distribution, readout errors included.
    ``initial_state`` as in :func:`probs`.

    >>> sample(Circuit(2).x(0), shots=3, seed=1).tolist()
    [[1, 0], [1, 0], [1, 0]]
    """
    bound = bind(circuit, params, dtype, initial_state=initial_state, density=noise is not None)
    wires = list(range(circuit.n_qubits)) if wires is None else list(wires)
    generator = make_generator(seed)
    with torch.no_grad():
        p = _probabilities(circuit, bound, wires, noise)
    out = bits(sample_indices(p, shots, generator), len(wires))
    return out.reshape(*bound.batch_shape, shots, len(wires))
