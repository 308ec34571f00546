"""The density-matrix simulator against pure states and an independent dense numpy reference."""

from __future__ import annotations

import math

import helpers as ref
import numpy as np
import pytest
import torch
from conftest import ATOL, BATCHES

import qdl
from qdl import Circuit, QDLError
from qdl.noise import (
    NoiseModel,
    amplitude_damping,
    bit_flip,
    depolarizing,
    depolarizing2,
    phase_damping,
    readout_error,
    thermal_relaxation,
)

REAL = {torch.complex64: torch.float32, torch.complex128: torch.float64}

# ---- an independent dense reference: Kraus matrices from the textbook formulas -------------

I2, X, Y, Z = ref.I2, ref.X, ref.Y, ref.Z


def _kraus_depolarizing(p: float, k: int) -> list[np.ndarray]:
    paulis = [I2, X, Y, Z]
    words = [np.eye(1)]
    for _ in range(k):
        words = [np.kron(w, q) for w in words for q in paulis]
    d2 = 4**k
    return [math.sqrt(1 - p * (d2 - 1) / d2) * words[0]] + [math.sqrt(p / d2) * w
                                                           for w in words[1:]]


def _kraus_amplitude(g: float) -> list[np.ndarray]:
    return [np.array([[1, 0], [0, math.sqrt(1 - g)]]), np.array([[0, math.sqrt(g)], [0, 0]])]


def _kraus_dephasing(g: float) -> list[np.ndarray]:
    return [np.array([[1, 0], [0, math.sqrt(1 - g)]]), np.array([[0, 0], [0, math.sqrt(g)]])]


def _kraus_thermal(t1: float, t2: float, t: float) -> list[np.ndarray]:
    # Same channel written by its action: populations relax with T1, coherences decay with T2.
    # A Kraus set reproducing it: amplitude damping then the remaining dephasing.
    g = 1 - math.exp(-t / t1)
    lam = 1 - math.exp(t / t1 - 2 * t / t2)
    return [d @ a for d in _kraus_dephasing(lam) for a in _kraus_amplitude(g)]


# (gates or None for all, Kraus list, wires filter or None), with the matching qdl rule.
SPECS = [
    (("cx", "cz"), _kraus_depolarizing(0.08, 2), None, depolarizing2(0.08)),
    (None, _kraus_amplitude(0.05), None, amplitude_damping(0.05)),
    (("rx", "ry", "h"), _kraus_depolarizing(0.1, 1), (0, 2), depolarizing(0.1)),
    (("rz",), _kraus_dephasing(0.2), None, phase_damping(0.2)),
    (("u",), [math.sqrt(0.9) * I2, math.sqrt(0.1) * X], None, bit_flip(0.1)),
    (("swap",), _kraus_thermal(40.0, 30.0, 3.0), None, thermal_relaxation(40.0, 30.0, 3.0)),
]
GATES = ["h", "rx", "ry", "rz", "u", "cx", "cz", "swap", "crx", "s", "rzz", "ccx"]


def _model() -> NoiseModel:
    m = NoiseModel()
    for gates, _, wires, channel in SPECS:
        m = m.add("all" if gates is None else list(gates), channel, wires)
    return m


def _apply_kraus(rho: np.ndarray, kraus: list[np.ndarray], wires, n: int) -> np.ndarray:
    full = [ref.embed(k.astype(complex), wires, n) for k in kraus]
    return sum(k @ rho @ k.conj().T for k in full)


def _reference_rho(c: Circuit, env: dict) -> np.ndarray:
    """ρ of a circuit with the SPECS noise after each gate, by dense matrices."""
    n = c.n_qubits
    rho = np.zeros((2**n, 2**n), dtype=complex)
    rho[0, 0] = 1
    for op in c.ops:
        u = ref.full_unitary(op.name, ref.op_params(op, env), op.wires, n, op.ctrl)
        rho = u @ rho @ u.conj().T
        for gates, kraus, wires, _ in SPECS:
            if gates is not None and op.name not in gates:
                continue
            k = round(math.log2(kraus[0].shape[0]))
            targets = [(w,) for w in op.wires] if k == 1 else (
                [op.wires] if len(op.wires) == k else [])
            for t in targets:
                if wires is None or set(t) <= set(wires):
                    rho = _apply_kraus(rho, kraus, t, n)
    return rho


def _values(c: Circuit, batch: tuple[int, ...], rng: np.random.Generator) -> dict:
    return {name: rng.uniform(-math.pi, math.pi, batch if i % 2 == 0 else ())
            for i, name in enumerate(c.parameters)}


def _torch(values: dict, dtype: torch.dtype, grad: bool = False) -> dict:
    return {k: torch.tensor(v, dtype=REAL[dtype], requires_grad=grad) for k, v in values.items()}


def _reference_batch(c: Circuit, values: dict) -> np.ndarray:
    shape, envs = ref.batched_envs(values)
    return np.stack([_reference_rho(c, e) for e in envs]).reshape(*shape, 2**c.n_qubits,
                                                                  2**c.n_qubits)


def _node(out: torch.Tensor) -> str:
    """Name of the autograd node below expval's final reshape."""
    return type(out.grad_fn.next_functions[0][0]).__name__


# ---- tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("batch", BATCHES, ids=str)
def test_noiseless_density_is_pure_state_projector(n, batch, dtype):
    """Without noise ρ = |ψ><ψ| of the statevector simulator (all gates, ctrl modifiers)."""
    rng = np.random.default_rng(10 * n + len(batch))
    c = ref.random_circuit(n, rng, depth=16)
    params = _torch(_values(c, batch, rng), dtype)
    rho = qdl.density_matrix(c, params, dtype=dtype)
    psi = qdl.state(c, params, dtype=dtype)
    assert rho.shape == (*batch, 2**n, 2**n) and rho.dtype == dtype
    want = psi[..., :, None] * psi[..., None, :].conj()
    np.testing.assert_allclose(rho.numpy(), want.numpy(), atol=ATOL[dtype])


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("seed", range(2))
def test_noisy_density_matches_dense_reference(n, seed, dtype):
    """With a model of six channel kinds, ρ equals the kron-built Kraus reference."""
    rng = np.random.default_rng(100 + 10 * n + seed)
    c = ref.random_circuit(n, rng, depth=12, gates=GATES, max_ctrl=1)
    values = _values(c, (2,), rng)
    rho = qdl.density_matrix(c, _torch(values, dtype), noise=_model(), dtype=dtype)
    np.testing.assert_allclose(rho.numpy(), _reference_batch(c, values), atol=ATOL[dtype])


def test_noisy_expectations_and_probabilities_match_reference(dtype, atol):
    """Pauli sums and marginals with readout errors equal the reference's tr(ρO) and A·p."""
    rng = np.random.default_rng(7)
    c = ref.random_circuit(3, rng, depth=10, gates=GATES, max_ctrl=0)
    values = _values(c, (3,), rng)
    e0, e1 = 0.03, 0.08
    model = _model().add_readout(readout_error(e0, e1), wires=[0, 2])
    obs = ["Z0", "0.5 X1 Y2 + -1.2 Z0 Z2", "Y0 + 0.3", "X0 X1 X2"]
    got = qdl.expval(c, obs, _torch(values, dtype), noise=model, dtype=dtype)
    rhos = _reference_batch(c, values)
    # Readout error on wire w replaces P_w by a·I + b·P_w with a = e1 − e0, b = 1 − e0 − e1.
    a, b = e1 - e0, 1 - e0 - e1
    noisy_p = {w: {p: (a * I2 + b * ref.PAULIS[p]) if w in (0, 2) else ref.PAULIS[p]
                   for p in "XYZ"} for w in range(3)}

    def op(terms):
        out = np.zeros((8, 8), dtype=complex)
        for coeff, word in terms:
            m = np.eye(1)
            for w in range(3):
                m = np.kron(m, noisy_p[w][word[w]] if w in word else I2)
            out += coeff * m
        return out

    ops = [op([(1, {0: "Z"})]), op([(0.5, {1: "X", 2: "Y"}), (-1.2, {0: "Z", 2: "Z"})]),
           op([(1, {0: "Y"}), (0.3, {})]), op([(1, {0: "X", 1: "X", 2: "X"})])]
    want = np.einsum("bij,oji->bo", rhos, np.stack(ops)).real
    np.testing.assert_allclose(got.numpy(), want, atol=atol)
    p = qdl.probs(c, _torch(values, dtype), wires=[2, 0], noise=model, dtype=dtype)
    true = np.einsum("bii->bi", rhos).real.reshape(3, 2, 2, 2).sum(2).transpose(0, 2, 1)
    assign = np.array([[1 - e0, e1], [e0, 1 - e1]])
    want_p = np.einsum("ma,nb,kab->kmn", assign, assign, true).reshape(3, 4)
    np.testing.assert_allclose(p.numpy(), want_p, atol=atol)


def test_density_is_a_state(rng):
    """Noisy ρ is Hermitian, has unit trace and no negative eigenvalues."""
    c = ref.random_circuit(3, rng, depth=14, gates=GATES)
    rho = qdl.density_matrix(c, _torch(_values(c, (4,), rng), torch.complex128),
                             noise=_model(), dtype=torch.complex128).numpy()
    np.testing.assert_allclose(rho, rho.conj().swapaxes(-1, -2), atol=1e-12)
    np.testing.assert_allclose(np.trace(rho, axis1=-2, axis2=-1), 1, atol=1e-12)
    assert np.linalg.eigvalsh(rho).min() > -1e-12


def test_gradcheck_through_noisy_density():
    """torch.autograd.gradcheck passes for noisy expectations (backprop, complex128)."""
    c = Circuit(2).ry(0, "a").rx(1, 2 * qdl.expr.Sym("b") + 0.1).cx(0, 1).crz(1, 0, "a").u(
        0, "b", 0.3, "a")
    model = _model().add_readout(readout_error(0.05, 0.02))
    a = torch.tensor([0.3, -1.2], dtype=torch.float64, requires_grad=True)
    b = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)

    def f(a, b):
        return qdl.expval(c, ["Z0", "X0 Y1 + 0.5 Z1"], {"a": a, "b": b}, noise=model,
                          dtype=torch.complex128)

    assert torch.autograd.gradcheck(f, (a, b))


@pytest.mark.parametrize("method", ["parameter-shift", "finite-diff"])
def test_noisy_gradient_methods_agree_with_backprop(method, rng):
    """Parameter-shift and finite differences give backprop's gradient under noise."""
    c = ref.random_circuit(2, rng, depth=8, gates=["rx", "ry", "crx", "cx", "u", "rzz"],
                           max_ctrl=0)
    values = _values(c, (3,), rng)
    grads = {}
    for m in ["backprop", method]:
        params = _torch(values, torch.complex128, grad=True)
        qdl.expval(c, ["Z0", "X1", "Y0 Z1"], params, noise=_model(), diff_method=m,
                   dtype=torch.complex128).sum().backward()
        grads[m] = [params[k].grad.numpy() for k in sorted(params)]
    tol = 1e-6 if method == "finite-diff" else 1e-10
    for g, want in zip(grads[method], grads["backprop"], strict=True):
        np.testing.assert_allclose(g, want, atol=tol)


def test_best_with_noise_is_backprop_and_adjoint_refused():
    """diff_method best uses backprop under noise; adjoint with noise raises QDLError."""
    c, model = Circuit(1).rx(0, "a"), NoiseModel().add("rx", amplitude_damping(0.1))
    a = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    out = qdl.expval(c, ["Z0"], {"a": a}, noise=model, dtype=torch.complex128)
    assert _node(out) == "StackBackward0"  # plain autograd, not a custom Function
    with pytest.raises(QDLError, match="'adjoint' needs pure states"):
        qdl.expval(c, ["Z0"], {"a": a}, noise=model, diff_method="adjoint")


def test_noise_none_is_the_statevector_path(rng):
    """noise=None leaves expval exactly as before (adjoint, same numbers)."""
    c = ref.random_circuit(3, rng, depth=10)
    params = _torch(_values(c, (2,), rng), torch.complex128, grad=True)
    a = qdl.expval(c, ["Z0", "X1"], params, dtype=torch.complex128)
    b = qdl.expval(c, ["Z0", "X1"], params, noise=None, dtype=torch.complex128)
    assert torch.equal(a, b) and _node(a) == "AdjointExpvalBackward"


def test_empty_model_equals_pure_expectations(dtype, atol, rng):
    """An empty NoiseModel gives the pure-state expectation values through the density path."""
    c = ref.random_circuit(3, rng, depth=10)
    params = _torch(_values(c, (2,), rng), dtype)
    obs = ["Z0 Z1", "X2", "0.5 Y0 + 1"]
    np.testing.assert_allclose(
        qdl.expval(c, obs, params, noise=NoiseModel(), dtype=dtype).numpy(),
        qdl.expval(c, obs, params, dtype=dtype).numpy(), atol=atol)


def test_quantum_layer_with_noise_trains():
    """QuantumLayer(noise=...) runs forward/backward by backprop and its loss decreases."""
    torch.manual_seed(0)
    c = Circuit(1).ry(0, "x").ry(0, "w")
    model = NoiseModel().add("ry", depolarizing(0.05))
    layer = qdl.nn.QuantumLayer(c, ["Z0"], inputs=["x"], noise=model, init="zeros",
                                dtype=torch.complex128)
    assert "noise" in repr(layer)
    x = torch.linspace(-1, 1, 16, dtype=torch.float64)[:, None]
    # Two depolarizing steps shrink <Z> by 0.95²: the best reachable fit of cos(x + 0.8).
    y = 0.95**2 * torch.cos(x + 0.8)
    losses = ref.fit_mse(layer, x, y, steps=40)
    assert losses[-1] < 1e-3 < losses[0]


def test_density_memory_guard():
    """A density matrix too large for memory is refused before allocation, saying so."""
    with pytest.raises(QDLError, match="density matrix of 24 qubits"):
        qdl.density_matrix(Circuit(24).h(0), noise=NoiseModel())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu(rng):
    """On CUDA the noisy density matrix and its gradient equal the CPU ones."""
    c = ref.random_circuit(3, rng, depth=12, gates=GATES)
    values = _values(c, (4,), rng)
    out = {}
    for device in ["cpu", "cuda"]:
        params = {k: v.to(device).detach().requires_grad_() for k, v in
                  _torch(values, torch.complex128).items()}
        e = qdl.expval(c, ["Z0", "X1 Y2"], params, noise=_model(), dtype=torch.complex128)
        e.sum().backward()
        assert e.device.type == device
        out[device] = [e.detach().cpu()] + [params[k].grad.cpu() for k in sorted(params)]
    for a, b in zip(out["cpu"], out["cuda"], strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)
