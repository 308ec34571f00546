"""Meyer–Wallach measure and entangling capability against states built with numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qdl import Circuit, QDLError, state
from qdl.diagnostics import entangling_capability, meyer_wallach, sim_circuit


def _random_qubit(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=2) + 1j * rng.normal(size=2)
    return v / np.linalg.norm(v)


def _numpy_q(psi: np.ndarray, n: int) -> float:
    """Q = 2(1 - mean purity), each reduced state from an explicit partial trace."""
    purities = []
    for k in range(n):
        m = np.moveaxis(psi.reshape([2] * n), k, 0).reshape(2, -1)
        rho = m @ m.conj().T
        purities.append(np.trace(rho @ rho).real)
    return 2 * (1 - np.mean(purities))


@pytest.mark.parametrize("n", [2, 3, 5])
def test_product_states_have_zero_q(n, rng):
    """Tensor products of random single-qubit states have Q = 0."""
    states = []
    for _ in range(4):
        psi = np.array([1.0 + 0j])
        for _ in range(n):
            psi = np.kron(psi, _random_qubit(rng))
        states.append(psi)
    q = meyer_wallach(torch.tensor(np.array(states)))
    assert q.shape == (4,)
    assert q.abs().max().item() < 1e-12


@pytest.mark.parametrize("n", [2, 3, 4, 6])
def test_ghz_has_q_one(n):
    """(|0…0⟩ + |1…1⟩)/√2 has Q = 1 (for n = 2 the Bell pair)."""
    psi = torch.zeros(2**n, dtype=torch.complex128)
    psi[0] = psi[-1] = 2**-0.5
    assert meyer_wallach(psi).item() == pytest.approx(1.0, abs=1e-12)


def test_random_states_match_numpy_partial_traces(rng):
    """Q of random (unnormalized) states agrees with explicit numpy partial traces."""
    n = 4
    raw = rng.normal(size=(6, 2**n)) + 1j * rng.normal(size=(6, 2**n))
    expected = [_numpy_q(v / np.linalg.norm(v), n) for v in raw]
    got = meyer_wallach(torch.tensor(raw).reshape(2, 3, 2**n))
    assert got.shape == (2, 3)
    np.testing.assert_allclose(got.reshape(-1).numpy(), expected, atol=1e-12)


def _cross_product_q(psi: np.ndarray, n: int) -> float:
    """Meyer & Wallach's own form (Sim et al., Eq. 3): (4/n) Σ_j D(ι_j(0)ψ, ι_j(1)ψ).

    ``ι_j(b)`` keeps the amplitudes whose bit ``j`` is ``b`` and ``D(u, v) = ½ Σ_{i,l}
    |u_i v_l − u_l v_i|²`` is the norm of the generalized cross product.
    """
    total = 0.0
    for j in range(n):
        split = np.moveaxis(psi.reshape([2] * n), j, 0).reshape(2, -1)
        u, v = split[0], split[1]
        wedge = np.outer(u, v) - np.outer(v, u)
        total += 0.5 * np.sum(np.abs(wedge) ** 2)
    return 4 * total / n


def test_brennen_form_equals_meyer_wallach_cross_product_form(rng):
    """Our purity form of Q agrees with the cross-product form the paper writes down."""
    n = 4
    raw = rng.normal(size=(5, 2**n)) + 1j * rng.normal(size=(5, 2**n))
    states = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    expected = [_cross_product_q(v, n) for v in states]
    np.testing.assert_allclose(meyer_wallach(torch.tensor(states)).numpy(), expected, atol=1e-12)


def _numpy_sim2_state(angles: np.ndarray) -> np.ndarray:
    """Circuit 2 on four qubits from scratch: RX then RZ on each qubit, CNOT (3→2), (2→1), (1→0)."""
    psi = np.array([1.0 + 0j])
    for a, b in angles.reshape(4, 2):
        qubit = np.array([np.cos(a / 2), -1j * np.sin(a / 2)])
        psi = np.kron(psi, qubit * np.exp([-0.5j * b, 0.5j * b]))
    psi = psi.reshape([2] * 4)
    for control, target in [(3, 2), (2, 1), (1, 0)]:
        index = [slice(None)] * 4
        index[control] = 1
        sub = psi[tuple(index)]
        psi[tuple(index)] = np.flip(sub, axis=target - (target > control))
    return psi.reshape(-1)


def test_sim2_states_and_capability_match_an_independent_numpy_build(rng):
    """Circuit 2's states equal a from-scratch build, and its Ent is ≈ 0.62, not 0.81.

    Pins the value disputed in experiments/sim2019.py: the qml-essentials suite quotes 0.8104,
    which no sequence of three CNOTs after this rotation layer reaches under Eq. 3.
    """
    c = sim_circuit(2, 4)
    angles = rng.uniform(0, 2 * np.pi, size=(2000, 8))
    params = {name: torch.tensor(angles[:, k]) for k, name in enumerate(c.parameters)}
    ours = state(c, params, dtype=torch.complex128).numpy()
    built = np.array([_numpy_sim2_state(a) for a in angles])
    np.testing.assert_allclose(ours, built, atol=1e-12)
    mean_q = np.mean([_numpy_q(v, 4) for v in built])
    assert mean_q == pytest.approx(0.625, abs=0.02)
    assert entangling_capability(c, 2000, seed=0) == pytest.approx(mean_q, abs=0.02)


def test_linear_cluster_state_circuit_has_capability_one():
    """Sim et al.'s circuit 9 (H, CZ ladder, RX) makes cluster states: every marginal mixed."""
    assert entangling_capability(sim_circuit(9, 4), samples=50, seed=0) == pytest.approx(1.0,
                                                                                           abs=1e-5)


def test_unentangling_circuit_has_capability_zero():
    """Circuit 1 (single-qubit rotations only) never entangles."""
    assert entangling_capability(sim_circuit(1, 3), samples=50, seed=0) == pytest.approx(0.0,
                                                                                           abs=1e-5)


def test_bad_inputs_raise_qdlerror():
    """Non-power-of-two states and single-qubit circuits are refused with QDLError."""
    with pytest.raises(QDLError, match="2\\*\\*n"):
        meyer_wallach(torch.ones(3, dtype=torch.complex64))
    with pytest.raises(QDLError, match="at least 2 qubits"):
        entangling_capability(Circuit(1).rx(0, "a"), samples=5)
    with pytest.raises(QDLError, match=r"dtype must be torch\.complex64 or torch\.complex128"):
        entangling_capability(sim_circuit(2, 2), samples=5, dtype=torch.float64)
