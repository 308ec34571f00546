"""Templates against independent constructions: numpy matrices built from each paper's formula.

Expected states are written here with ``np.kron`` and explicit basis-index arithmetic (wire 0
is the most significant bit), never with qdl's builders; qdl simulates the template circuits.
"""

from __future__ import annotations

import doctest
import importlib
import itertools
import math

import numpy as np
import pytest
import torch
from helpers import circuit_unitary, embed

import qdl
from qdl import QDLError
from qdl.nn import QuantumLayer
from qdl.templates import (
    amplitude_angles,
    amplitude_circuit,
    amplitude_embedding,
    amplitude_names,
    angle_embedding,
    basic_entangler_layers,
    data_reuploading,
    entangling_pairs,
    extract_patches,
    hardware_efficient,
    pooled_wires,
    qcnn,
    qcnn_conv,
    qcnn_pool,
    quanvolution_circuit,
    remap,
    strongly_entangling_layers,
    uniformly_controlled,
    zz_feature_map,
)

C128 = torch.complex128
TOL = 1e-6
I2 = np.eye(2, dtype=complex)
XM = np.array([[0, 1], [1, 0]], dtype=complex)
YM = np.array([[0, -1j], [1j, 0]], dtype=complex)
ZM = np.diag([1.0, -1.0]).astype(complex)
HM = np.array([[1, 1], [1, -1]], dtype=complex) / math.sqrt(2)


# ----------------------------------------------------------------- independent numpy pieces


def rx(t: float) -> np.ndarray:
    return math.cos(t / 2) * I2 - 1j * math.sin(t / 2) * XM


def ry(t: float) -> np.ndarray:
    return math.cos(t / 2) * I2 - 1j * math.sin(t / 2) * YM


def rz(t: float) -> np.ndarray:
    return np.diag([np.exp(-0.5j * t), np.exp(0.5j * t)])


def u3(t: float, p: float, lam: float) -> np.ndarray:
    c, s = math.cos(t / 2), math.sin(t / 2)
    return np.array([[c, -np.exp(1j * lam) * s], [np.exp(1j * p) * s, np.exp(1j * (p + lam)) * c]])


def pauli_pair(p: np.ndarray, t: float) -> np.ndarray:
    """``exp(-i t/2 P⊗P) = cos(t/2) I - i sin(t/2) P⊗P`` (``(P⊗P)² = I``)."""
    return math.cos(t / 2) * np.eye(4) - 1j * math.sin(t / 2) * np.kron(p, p)


AXES = {"x": rx, "y": ry, "z": rz}


def kron_all(mats: list[np.ndarray]) -> np.ndarray:
    out = np.eye(1, dtype=complex)
    for m in mats:
        out = np.kron(out, m)
    return out


def bits(n: int) -> np.ndarray:
    """``bits[idx, w]``: the value of wire ``w`` in basis state ``idx`` (wire 0 = MSB)."""
    return (np.arange(2**n)[:, None] >> (n - 1 - np.arange(n))[None, :]) & 1


def cnot(control: int, target: int, n: int) -> np.ndarray:
    b = bits(n)
    flipped = b.copy()
    flipped[:, target] ^= b[:, control]
    idx = flipped @ (1 << (n - 1 - np.arange(n)))
    return np.eye(2**n, dtype=complex)[idx].T


def cz(a: int, b: int, n: int) -> np.ndarray:
    bb = bits(n)
    return np.diag(1 - 2 * (bb[:, a] & bb[:, b])).astype(complex)


def zero(n: int) -> np.ndarray:
    e = np.zeros(2**n, dtype=complex)
    e[0] = 1
    return e


def sim(circuit: qdl.Circuit, params: dict | None = None) -> np.ndarray:
    return qdl.state(circuit, params or {}, dtype=C128).numpy()


def weights(names: tuple[str, ...], rng: np.random.Generator) -> dict[str, float]:
    return {k: float(rng.uniform(-math.pi, math.pi)) for k in names}


# --------------------------------------------------------------------------- angle embedding


@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("axis", ["x", "y", "z"])
def test_angle_embedding_is_product_of_rotations(n, axis, rng):
    """angle_embedding prepares ⊗_i R_axis(x_i)|0>."""
    x = rng.uniform(-3, 3, n)
    expected = kron_all([AXES[axis](t) for t in x]) @ zero(n)
    c = angle_embedding(n, rotation=axis, prefix="feat")
    assert c.parameters == tuple(f"feat{i}" for i in range(n))
    got = sim(c, {f"feat{i}": x[i] for i in range(n)})
    np.testing.assert_allclose(got, expected, atol=TOL)


def test_angle_embedding_batched(rng):
    """A batch of feature rows gives one state per row."""
    x = rng.uniform(-3, 3, (5, 3))
    got = qdl.state(angle_embedding(3), {f"x{i}": torch.tensor(x[:, i]) for i in range(3)},
                    dtype=C128).numpy()
    for row, psi in zip(x, got, strict=True):
        np.testing.assert_allclose(psi, kron_all([ry(t) for t in row]) @ zero(3), atol=TOL)


# ----------------------------------------------------------------------- amplitude embedding


def _vector(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    d = 2**n
    v = rng.normal(size=d)
    if kind == "nonneg":
        v = np.abs(v)
    elif kind == "negative":
        v = -np.abs(v)
    elif kind == "zeros":
        v[rng.permutation(d)[: d // 2]] = 0.0
        v[0] = v[0] or 1.0
    elif kind == "zero_half":
        v[: d // 2] = 0.0
    elif kind == "one_hot":
        v = np.zeros(d)
        v[rng.integers(d)] = -2.5
    elif kind == "padded":
        v = v[: max(1, d - 1 - int(rng.integers(d // 2 + 1)))]
    return v


def _expected(v: np.ndarray, n: int) -> np.ndarray:
    return np.pad(v, (0, 2**n - len(v))).astype(complex) / np.linalg.norm(v)


KINDS = ["signed", "nonneg", "negative", "zeros", "zero_half", "one_hot", "padded"]


@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("kind", KINDS)
def test_amplitude_circuit_reproduces_vector(n, kind, rng):
    """amplitude_circuit prepares v/|v| zero-padded to 2**n exactly (signs and zeros too)."""
    v = _vector(kind, n, rng)
    c = amplitude_circuit(v, n)
    assert c.n_qubits == n and c.parameters == ()
    np.testing.assert_allclose(sim(c), _expected(v, n), atol=TOL)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_amplitude_embedding_with_batched_angles(n, rng):
    """amplitude_embedding fed by amplitude_angles prepares every row of a batch, any scale."""
    rows = np.stack([_vector(k, n, rng) * rng.uniform(0.1, 10)
                     for k in KINDS if k != "padded"])
    angles = amplitude_angles(torch.tensor(rows))
    c = amplitude_embedding(n)
    assert list(angles) == list(c.parameters) == amplitude_names(n)
    got = qdl.state(c, angles, dtype=C128).numpy()
    for v, psi in zip(rows, got, strict=True):
        np.testing.assert_allclose(psi, _expected(v, n), atol=TOL)


def test_amplitude_default_width_and_padding():
    """Five features need 3 qubits and are zero-padded to 8 amplitudes."""
    v = np.array([1.0, -2.0, 0.0, 3.0, 0.5])
    c = amplitude_circuit(v)
    assert c.n_qubits == 3
    np.testing.assert_allclose(sim(c), _expected(v, 3), atol=TOL)
    assert len(amplitude_angles(torch.tensor(v))) == 7


@pytest.mark.parametrize("n", [1, 2, 3])
def test_amplitude_circuit_complex_vector(n, rng):
    """Complex vectors get their phases from uniformly controlled rz and a global phase."""
    v = rng.normal(size=2**n) + 1j * rng.normal(size=2**n)
    v[-1] = 0.0
    np.testing.assert_allclose(sim(amplitude_circuit(v)), _expected(v, n), atol=TOL)


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("gate", ["ry", "rz"])
def test_uniformly_controlled_rotation(k, gate, rng):
    """Control value m turns the target by Σ_i (-1)^{popcount(m & gray(i))} θ_i."""
    theta = rng.uniform(-2, 2, 2**k)
    n = k + 1
    c = uniformly_controlled(qdl.Circuit(n), gate, k, list(range(k)), list(theta))
    u = circuit_unitary(c)
    for m in range(2**k):
        alpha = sum((-1) ** bin(m & (i ^ (i >> 1))).count("1") * t for i, t in enumerate(theta))
        expected = np.kron(np.eye(2**k)[m][:, None] * np.eye(2**k)[m][None, :],
                           {"ry": ry, "rz": rz}[gate](alpha))
        block = u[2 * m: 2 * m + 2, 2 * m: 2 * m + 2]
        np.testing.assert_allclose(block, expected[2 * m: 2 * m + 2, 2 * m: 2 * m + 2],
                                   atol=1e-12)


def _stacked(n: int):
    return lambda x: torch.stack(list(amplitude_angles(x, n).values()), -1)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_amplitude_angles_gradcheck(n, rng):
    """The angle map is differentiable: gradcheck on random vectors away from zero."""
    for _ in range(3):
        v = rng.uniform(0.3, 1.5, 2**n) * rng.choice([-1.0, 1.0], 2**n)
        x = torch.tensor(v, requires_grad=True)
        assert torch.autograd.gradcheck(_stacked(n), (x,))


def test_amplitude_state_gradcheck_through_simulator(rng):
    """features -> angles -> qdl.state is differentiable end to end (real and imaginary)."""
    c = amplitude_embedding(2)
    x = torch.tensor(rng.uniform(0.3, 1.5, (2, 4)), requires_grad=True)

    def f(x: torch.Tensor) -> torch.Tensor:
        return torch.view_as_real(qdl.state(c, amplitude_angles(x), dtype=C128))

    assert torch.autograd.gradcheck(f, (x,))


def test_amplitude_state_gradient_is_projection(rng):
    """d psi/d v equals the Jacobian of v/|v|: (I - psi psi^T)/|v| (real vectors)."""
    v = torch.tensor(rng.normal(size=8), requires_grad=True)
    c = amplitude_embedding(3)
    jac = torch.autograd.functional.jacobian(
        lambda x: qdl.state(c, amplitude_angles(x), dtype=C128).real, v)
    u = v.detach().numpy() / np.linalg.norm(v.detach().numpy())
    expected = (np.eye(8) - np.outer(u, u)) / np.linalg.norm(v.detach().numpy())
    np.testing.assert_allclose(jac.numpy(), expected, atol=1e-8)


@pytest.mark.parametrize("v", [[0.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                               [1.0, 0.0, 0.0, -1.0], [0.0, 0.0, 0.5, 0.0]])
def test_amplitude_angles_zero_blocks_give_finite_gradients(v):
    """Zero entries and all-zero sub-blocks give finite gradients, never NaN."""
    x = torch.tensor(v, dtype=torch.float64, requires_grad=True)
    psi = qdl.state(amplitude_embedding(round(math.log2(len(v)))), amplitude_angles(x),
                    dtype=C128)
    (psi.real * torch.arange(len(v))).sum().backward()
    assert torch.isfinite(x.grad).all()
    np.testing.assert_allclose(psi.detach().numpy(), _expected(np.array(v), psi.shape[-1]
                                                               .bit_length() - 1), atol=TOL)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: amplitude_angles(torch.ones(5), 2), "do not fit"),
    (lambda: amplitude_circuit(np.ones(9), 3), "do not fit"),
    (lambda: amplitude_angles(torch.zeros(2, 4)), "zero norm"),
    (lambda: amplitude_circuit([0.0, 0.0, 0.0]), "zero norm"),
    (lambda: amplitude_angles(torch.ones(4, dtype=torch.complex128)), "complex"),
    (lambda: amplitude_angles(torch.tensor([1.0, float("nan")])), "NaN"),
    (lambda: amplitude_angles(torch.ones(0)), "at least one feature"),
    (lambda: amplitude_circuit(np.ones((2, 2))), "1-D"),
    (lambda: amplitude_embedding(0), "n_qubits"),
    (lambda: amplitude_angles(torch.ones(4), prefix="1a"), "prefix"),
])
def test_amplitude_errors(call, match):
    """Features that do not fit, zero norm, complex/NaN input and bad sizes raise QDLError."""
    with pytest.raises(QDLError, match=match):
        call()


def test_amplitude_zero_norm_error_names_the_row():
    """The zero-norm error names the offending batch row."""
    x = torch.ones(3, 4)
    x[1] = 0
    with pytest.raises(QDLError, match=r"batch index \(1,\)"):
        amplitude_angles(x)


def test_amplitude_features_in_a_quantum_layer(rng):
    """amplitude_angles works as a feature transform in front of a QuantumLayer."""
    c = amplitude_embedding(2).extend(basic_entangler_layers(2, prefix="w"))
    names = amplitude_names(2)
    layer = QuantumLayer(c, ["Z0", "Z1"], inputs=names, dtype=C128)
    x = torch.tensor(rng.normal(size=(6, 4)), requires_grad=True)
    out = layer(torch.stack(list(amplitude_angles(x).values()), -1))
    out.sum().backward()
    assert out.shape == (6, 2) and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


# --------------------------------------------------------------------------- ZZ feature map

PAIRS = {
    "full": lambda n: list(itertools.combinations(range(n), 2)),
    "linear": lambda n: [(i, i + 1) for i in range(n - 1)],
    "ring": lambda n: [(i, (i + 1) % n) for i in range(n)] if n > 2 else
    [(i, i + 1) for i in range(n - 1)],
    "none": lambda n: [],
}


def zz_expected(x: np.ndarray, reps: int, pairs: list[tuple[int, int]]) -> np.ndarray:
    """(U_Φ(x) H^n)^reps |0>, U_Φ = exp(-i Σ_S φ_S Z_S), φ_i = x_i, φ_ij = (π-x_i)(π-x_j)."""
    n = len(x)
    z = 1 - 2 * bits(n)
    phase = z @ x + sum((math.pi - x[i]) * (math.pi - x[j]) * z[:, i] * z[:, j]
                        for i, j in pairs)
    psi = zero(n)
    for _ in range(reps):
        psi = np.exp(-1j * phase) * (kron_all([HM] * n) @ psi)
    return psi


@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("reps", [1, 2, 3])
@pytest.mark.parametrize("pattern", ["full", "linear", "ring", "none"])
def test_zz_feature_map_matches_havlicek_formula(n, reps, pattern, rng):
    """zz_feature_map equals the paper's (U_Φ(x) H^n)^reps |0> built from the diagonal."""
    x = rng.uniform(0, 2 * math.pi, n)
    c = zz_feature_map(n, reps=reps, entanglement=pattern)
    assert c.parameters == tuple(f"x{i}" for i in range(n))
    got = sim(c, {f"x{i}": x[i] for i in range(n)})
    np.testing.assert_allclose(got, zz_expected(x, reps, PAIRS[pattern](n)), atol=TOL)


def _qiskit_zz(n: int, reps: int, entanglement: str):
    library = pytest.importorskip("qiskit.circuit.library")
    if hasattr(library, "zz_feature_map"):
        return library.zz_feature_map(n, reps=reps, entanglement=entanglement)
    return library.ZZFeatureMap(n, reps=reps, entanglement=entanglement)


@pytest.mark.parametrize("n", [2, 3, 4])
@pytest.mark.parametrize("reps", [1, 2])
@pytest.mark.parametrize(("ours", "theirs"),
                         [("full", "full"), ("linear", "linear"), ("ring", "circular")])
def test_zz_feature_map_matches_qiskit(n, reps, ours, theirs, rng):
    """Same state as Qiskit's ZZFeatureMap up to a global phase (qubit order reversed)."""
    if ours == "ring" and n == 2:
        pytest.skip("qiskit's circular pattern repeats the pair (1, 0) for two qubits")
    quantum_info = pytest.importorskip("qiskit.quantum_info")
    x = rng.uniform(0, 2 * math.pi, n)
    fm = _qiskit_zz(n, reps, theirs)
    ref = quantum_info.Statevector(fm.assign_parameters(list(x))).reverse_qargs().data
    got = sim(zz_feature_map(n, reps=reps, entanglement=ours), {f"x{i}": x[i] for i in range(n)})
    overlap = np.vdot(ref, got)
    assert abs(abs(overlap) - 1) < TOL
    np.testing.assert_allclose(got, ref * overlap, atol=TOL)


# --------------------------------------------------------------------------- entangling layers


def _rot(phi: float, theta: float, omega: float) -> np.ndarray:
    """PennyLane's Rot(φ, θ, ω) = RZ(ω) RY(θ) RZ(φ)."""
    return rz(omega) @ ry(theta) @ rz(phi)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("axis", ["x", "y"])
def test_basic_entangler_layers(n, layers, axis, rng):
    """Rotation per wire, then CNOT ring (one CNOT for 2 wires), as PennyLane's template."""
    w = rng.uniform(-3, 3, (layers, n))
    psi = zero(n)
    for layer in range(layers):
        psi = kron_all([AXES[axis](t) for t in w[layer]]) @ psi
        ring = [(0, 1)] if n == 2 else [(i, (i + 1) % n) for i in range(n)] if n > 2 else []
        for a, b in ring:
            psi = cnot(a, b, n) @ psi
    c = basic_entangler_layers(n, layers, rotation=axis, prefix="v")
    got = sim(c, {f"v{ly}_{i}": w[ly, i] for ly in range(layers) for i in range(n)})
    np.testing.assert_allclose(got, psi, atol=TOL)


def _strongly_expected(w: np.ndarray, ranges: list[int]) -> np.ndarray:
    layers, n, _ = w.shape
    psi = zero(n)
    for layer in range(layers):
        psi = kron_all([_rot(*w[layer, i]) for i in range(n)]) @ psi
        for i in range(n if n > 1 else 0):
            psi = cnot(i, (i + ranges[layer]) % n, n) @ psi
    return psi


@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("layers", [1, 2, 3, 4])
def test_strongly_entangling_layers(n, layers, rng):
    """Rot on every wire, then CNOT(i, i+r) with r = (l mod (n-1)) + 1 (Schuld et al. 2020)."""
    w = rng.uniform(-3, 3, (layers, n, 3))
    ranges = [(layer % (n - 1)) + 1 if n > 1 else 0 for layer in range(layers)]
    c = strongly_entangling_layers(n, layers)
    assert len(c.parameters) == 3 * n * layers
    got = sim(c, {f"w{ly}_{i}_{k}": w[ly, i, k]
                  for ly in range(layers) for i in range(n) for k in range(3)})
    np.testing.assert_allclose(got, _strongly_expected(w, ranges), atol=TOL)


def test_strongly_entangling_custom_ranges(rng):
    """Explicit ranges replace the default schedule."""
    w = rng.uniform(-3, 3, (2, 4, 3))
    c = strongly_entangling_layers(4, 2, ranges=[3, 2])
    got = sim(c, {f"w{ly}_{i}_{k}": w[ly, i, k]
                  for ly in range(2) for i in range(4) for k in range(3)})
    np.testing.assert_allclose(got, _strongly_expected(w, [3, 2]), atol=TOL)


HEA_PAIRS = {
    "linear": lambda n: [(i, i + 1) for i in range(n - 1)],
    "ring": lambda n: [(i, i + 1) for i in range(n - 1)] + ([(n - 1, 0)] if n > 2 else []),
    "full": lambda n: [(i, j) for i in range(n) for j in range(n) if i < j],
    "none": lambda n: [],
}
ENTANGLERS = {"cx": cnot, "cz": cz}


@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("pattern", ["linear", "ring", "full", "none"])
@pytest.mark.parametrize(("rotations", "entangler", "final"),
                         [(("y", "z"), "cx", True), (("x",), "cz", False)])
def test_hardware_efficient(n, layers, pattern, rotations, entangler, final, rng):
    """Rotation layers (w_{l,i,k}) alternating with the entangler on the pattern's pairs."""
    w = rng.uniform(-3, 3, (layers + 1, n, len(rotations)))
    psi = zero(n)
    for layer in range(layers + final):
        per_wire = []
        for i in range(n):
            m = I2
            for k, axis in enumerate(rotations):
                m = AXES[axis](w[layer, i, k]) @ m
            per_wire.append(m)
        psi = kron_all(per_wire) @ psi
        if layer < layers:
            for a, b in HEA_PAIRS[pattern](n):
                psi = ENTANGLERS[entangler](a, b, n) @ psi
    c = hardware_efficient(n, layers, rotations, pattern, entangler, final)
    got = sim(c, {name: w[tuple(int(s) for s in name[1:].split("_"))] for name in c.parameters})
    np.testing.assert_allclose(got, psi, atol=TOL)


# --------------------------------------------------------------------------- data re-uploading


def _paper_u(a: float, b: float, d: float) -> np.ndarray:
    """U(φ1, φ2, φ3) = RZ(φ2) RY(φ1) RZ(φ3) (Pérez-Salinas et al., OpenQASM signs)."""
    return rz(b) @ ry(a) @ rz(d)


@pytest.mark.parametrize("n_features", [1, 2, 3, 4])
@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("n_qubits", [1, 2])
@pytest.mark.parametrize("scaling", [False, True])
def test_data_reuploading(n_features, layers, n_qubits, scaling, rng):
    """Each layer: U(s∘x) per 3-feature chunk (zero-padded), then U(w_l); CZ chain between."""
    x = rng.uniform(-2, 2, n_features)
    w = rng.uniform(-3, 3, (layers, n_qubits, 3))
    s = rng.uniform(0.5, 2, (layers, n_qubits, n_features)) if scaling else np.ones(
        (layers, n_qubits, n_features))
    padded = 3 * math.ceil(n_features / 3)
    psi = zero(n_qubits)
    for layer in range(layers):
        per_wire = []
        for q in range(n_qubits):
            sx = np.pad(s[layer, q] * x, (0, padded - n_features))
            m = I2
            for start in range(0, padded, 3):
                m = _paper_u(*sx[start: start + 3]) @ m
            per_wire.append(_paper_u(*w[layer, q]) @ m)
        psi = kron_all(per_wire) @ psi
        if layer < layers - 1:
            for q in range(n_qubits - 1):
                psi = cz(q, q + 1, n_qubits) @ psi
    c = data_reuploading(n_features, layers, n_qubits, scaling=scaling)
    params = {f"x{j}": x[j] for j in range(n_features)}
    params |= {f"w{ly}_{q}_{k}": w[ly, q, k]
               for ly in range(layers) for q in range(n_qubits) for k in range(3)}
    if scaling:
        params |= {f"s{ly}_{q}_{j}": s[ly, q, j] for ly in range(layers)
                   for q in range(n_qubits) for j in range(n_features)}
    assert set(c.parameters) == set(params)
    assert c.parameters[:n_features] == tuple(f"x{j}" for j in range(n_features))
    np.testing.assert_allclose(sim(c, params), psi, atol=TOL)


# --------------------------------------------------------------------------------------- QCNN


def _conv_matrix(t: np.ndarray) -> np.ndarray:
    """KAK form: (U⊗U) RZZ RYY RXX (U⊗U) with 15 angles."""
    return (np.kron(u3(*t[9:12]), u3(*t[12:15])) @ pauli_pair(ZM, t[8]) @ pauli_pair(YM, t[7])
            @ pauli_pair(XM, t[6]) @ np.kron(u3(*t[0:3]), u3(*t[3:6])))


def _pool_matrix(p: np.ndarray) -> np.ndarray:
    """Discarded wire first: |0><0| ⊗ RX(p1) + |1><1| ⊗ RZ(p0)."""
    return np.kron(np.diag([1, 0]), rx(p[1])) + np.kron(np.diag([0, 1]), rz(p[0]))


def _qcnn_expected(n: int, conv: np.ndarray, pool: np.ndarray, final: np.ndarray) -> np.ndarray:
    psi, active, layer = zero(n), list(range(n)), 0
    while len(active) > 1:
        m = len(active)
        pairs = [(active[i], active[i + 1]) for i in [*range(0, m - 1, 2), *range(1, m - 1, 2)]]
        for a, b in pairs:
            psi = embed(_conv_matrix(conv[layer]), [a, b], n) @ psi
        for i in range(0, m - 1, 2):
            psi = embed(_pool_matrix(pool[layer]), [active[i], active[i + 1]], n) @ psi
        active = [active[i + 1] for i in range(0, m - 1, 2)] + ([active[-1]] if m % 2 else [])
        layer += 1
    return embed(u3(*final), [active[0]], n) @ psi


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_qcnn_matches_conv_pool_formula(n, rng):
    """qcnn equals brick-wall KAK convolutions and controlled-rotation pooling, layer by layer."""
    conv, pool, final = rng.uniform(-3, 3, (4, 15)), rng.uniform(-3, 3, (4, 2)), rng.uniform(
        -3, 3, 3)
    net = qcnn(n)
    params = {f"f{k}": final[k] for k in range(3)}
    params |= {f"c{ly}_{k}": conv[ly, k] for ly in range(4) for k in range(15)}
    params |= {f"p{ly}_{k}": pool[ly, k] for ly in range(4) for k in range(2)}
    params = {k: v for k, v in params.items() if k in net.circuit.parameters}
    np.testing.assert_allclose(sim(net.circuit, params), _qcnn_expected(n, conv, pool, final),
                               atol=TOL)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 8])
def test_qcnn_reduces_to_readout_wire(n):
    """Active wires halve to the readout n-1; pooled wires stay idle; the light cone is full."""
    net = qcnn(n)
    assert net.readout == n - 1 and net.observable == f"Z{n - 1}"
    assert net.active[0] == tuple(range(n)) and net.active[-1] == (n - 1,)
    for before, after in itertools.pairwise(net.active):
        assert len(after) == math.ceil(len(before) / 2) and set(after) < set(before)
    ops = net.circuit.ops
    for before, after in itertools.pairwise(net.active):
        for w in set(before) - set(after):
            last = max(i for i, op in enumerate(ops) if w in op.wires)
            assert ops[last].name == "x" and ops[last].wires == (w,)
            assert ops[last - 1].name == "crx" and ops[last - 1].wires[0] == w
            assert ops[last - 1].wires[1] in after
    cone = {net.readout}
    for op in reversed(net.circuit.ops):
        if cone & set(op.wires):
            cone |= set(op.wires)
    assert cone == set(range(n))


def test_qcnn_blocks_and_pooled_wires():
    """qcnn_conv shares 15 angles over brick-wall pairs; qcnn_pool keeps the second wire."""
    conv = qcnn_conv(6, [5, 1, 3, 0], layer=2, prefix="k")
    assert conv.parameters == tuple(f"k2_{i}" for i in range(15))
    assert [op.wires for op in conv.ops if op.name == "rzz"] == [(5, 1), (3, 0), (1, 3)]
    pool = qcnn_pool(6, [5, 1, 3], layer=1)
    assert [op.wires for op in pool.ops if op.name.startswith("cr")] == [(5, 1), (5, 1)]
    assert pool.parameters == ("p1_0", "p1_1")
    assert pooled_wires([5, 1, 3]) == [1, 3] and pooled_wires([2]) == [2]


# ------------------------------------------------------------------------------ quanvolution


@pytest.mark.parametrize("kernel", [1, 2, 3])
@pytest.mark.parametrize("layers", [0, 1, 2])
def test_quanvolution_circuit_is_encoding_then_fixed_unitary(kernel, layers, rng):
    """State = V · ⊗_i RY(π x_i)|0>, with V the parameter-free random part (fixed by seed)."""
    c = quanvolution_circuit(kernel, layers, seed=7)
    n = kernel * kernel
    assert c.n_qubits == n and c.parameters == tuple(f"x{i}" for i in range(n))
    assert c == quanvolution_circuit(kernel, layers, seed=7)
    v = circuit_unitary(c, dict.fromkeys(c.parameters, 0.0))  # encoding is identity at x = 0
    if layers == 0:
        np.testing.assert_allclose(v, np.eye(2**n), atol=1e-12)
    x = rng.uniform(0, 1, n)
    expected = v @ kron_all([ry(math.pi * t) for t in x]) @ zero(n)
    np.testing.assert_allclose(sim(c, {f"x{i}": x[i] for i in range(n)}), expected, atol=TOL)


def test_quanvolution_seed_and_trainable():
    """Different seeds give different circuits; trainable=True names the random angles."""
    assert quanvolution_circuit(2, 2, seed=1) != quanvolution_circuit(2, 2, seed=2)
    c = quanvolution_circuit(2, 2, seed=1, trainable=True)
    assert c.parameters == tuple(f"x{i}" for i in range(4)) + tuple(
        f"w{ly}_{i}" for ly in range(2) for i in range(4))


def _patches_loop(images: torch.Tensor, k: int, s: int) -> torch.Tensor:
    b, h, w = images.shape
    hh, ww = (h - k) // s + 1, (w - k) // s + 1
    out = torch.empty(b, hh, ww, k * k, dtype=images.dtype)
    for n, r, c, di, dj in itertools.product(range(b), range(hh), range(ww), range(k), range(k)):
        out[n, r, c, di * k + dj] = images[n, r * s + di, c * s + dj]
    return out


@pytest.mark.parametrize(("shape", "kernel", "stride"), [
    ((2, 4, 4), 2, 2), ((3, 5, 6), 2, 2), ((1, 5, 5), 3, 1), ((2, 6, 4), 2, 1),
    ((1, 3, 3), 3, 3), ((2, 7, 5), 3, 2), ((1, 4, 4), 1, 1)])
def test_extract_patches_matches_loop(shape, kernel, stride):
    """extract_patches equals a hand-written loop over batch, rows, columns and offsets."""
    images = torch.randn(*shape, dtype=torch.float64)
    got = extract_patches(images, kernel, stride)
    torch.testing.assert_close(got, _patches_loop(images, kernel, stride), rtol=0, atol=0)


def test_extract_patches_default_stride_and_grad():
    """Default stride is the kernel; gradients flow back to the pixels."""
    images = torch.randn(2, 4, 6, requires_grad=True)
    patches = extract_patches(images, 2)
    assert patches.shape == (2, 2, 3, 4)
    patches.sum().backward()
    assert torch.equal(images.grad, torch.ones_like(images))


def test_quanvolution_patches_in_one_layer_call():
    """All patches of a batch run through one QuantumLayer call and reshape back."""
    c = quanvolution_circuit(2, 1, seed=3)
    layer = QuantumLayer(c, [f"Z{i}" for i in range(4)], inputs=list(c.parameters), dtype=C128)
    images = torch.rand(3, 6, 4, dtype=torch.float64)
    patches = extract_patches(images, 2)
    out = layer(patches)
    assert out.shape == (3, 3, 2, 4)
    one = layer(patches[1, 2, 0])
    torch.testing.assert_close(out[1, 2, 0], one)


# ------------------------------------------------------------------------------- generic


@pytest.mark.parametrize(("call", "match"), [
    (lambda: angle_embedding(0), "n_qubits"),
    (lambda: angle_embedding(2, rotation="w"), "unknown rotation"),
    (lambda: angle_embedding(2, prefix="x-"), "prefix"),
    (lambda: zz_feature_map(2, reps=0), "reps"),
    (lambda: zz_feature_map(3, entanglement="star"), "unknown entangling pattern"),
    (lambda: zz_feature_map(2, alpha=float("inf")), "alpha"),
    (lambda: basic_entangler_layers(2, layers=0), "layers"),
    (lambda: strongly_entangling_layers(3, 2, ranges=[1]), "ranges"),
    (lambda: strongly_entangling_layers(3, 1, ranges=[3]), "ranges"),
    (lambda: hardware_efficient(3, entanglement="star"), "unknown entangling pattern"),
    (lambda: hardware_efficient(3, rotations=()), "at least one"),
    (lambda: hardware_efficient(3, entangler="crx"), "parameter-free two-qubit"),
    (lambda: hardware_efficient(3, entangler="nope"), "unknown gate"),
    (lambda: data_reuploading(0), "n_features"),
    (lambda: data_reuploading(2, weight_prefix="x"), "collide"),
    (lambda: qcnn(0), "n_qubits"),
    (lambda: qcnn(4, conv_prefix="p"), "collide"),
    (lambda: qcnn_conv(3, [0, 0]), "distinct"),
    (lambda: qcnn_pool(3, [0, 5]), "distinct"),
    (lambda: quanvolution_circuit(0), "kernel"),
    (lambda: quanvolution_circuit(2, layers=-1), "layers"),
    (lambda: quanvolution_circuit(2, seed=1.5), "seed"),
    (lambda: extract_patches(torch.ones(4), 2), "shape"),
    (lambda: extract_patches(torch.ones(1, 2, 2), 3), "larger"),
    (lambda: extract_patches(torch.ones(1, 4, 4), 2, 0), "stride"),
    (lambda: remap(angle_embedding(2), [1]), "distinct"),
    (lambda: remap(angle_embedding(2), [0, 3], 3), "out of range"),
])
def test_bad_arguments_raise_qdlerror(call, match):
    """Bad sizes, patterns, rotations, prefixes and wires raise QDLError naming the problem."""
    with pytest.raises(QDLError, match=match):
        call()


def test_entangling_pairs_patterns():
    """The documented pair lists of each pattern."""
    assert entangling_pairs(4, "linear") == [(0, 1), (1, 2), (2, 3)]
    assert entangling_pairs(4, "ring") == [(0, 1), (1, 2), (2, 3), (3, 0)]
    assert entangling_pairs(2, "ring") == [(0, 1)]
    assert entangling_pairs(3, "full") == [(0, 1), (0, 2), (1, 2)]
    assert entangling_pairs(1, "full") == entangling_pairs(3, "none") == []


def test_remap_moves_a_template(rng):
    """remap places a template on other wires: state equals the kron with the idle wire."""
    x = rng.uniform(-2, 2, 2)
    c = remap(angle_embedding(2), [2, 0], 3)
    expected = kron_all([ry(x[1]), I2, ry(x[0])]) @ zero(3)
    np.testing.assert_allclose(sim(c, {"x0": x[0], "x1": x[1]}), expected, atol=TOL)


TEMPLATES = {
    "angle": lambda: angle_embedding(3, "x"),
    "amplitude": lambda: amplitude_embedding(3),
    "amplitude_complex": lambda: amplitude_circuit([1, 1j, -1, 0.5 - 0.5j]),
    "zz": lambda: zz_feature_map(3),
    "basic": lambda: basic_entangler_layers(3, 2),
    "strong": lambda: strongly_entangling_layers(3, 2),
    "hea": lambda: hardware_efficient(3, 2, ("x", "y", "z"), "full", "cz"),
    "reupload": lambda: data_reuploading(4, 2, 2, scaling=True),
    "qcnn": lambda: qcnn(4).circuit,
    "quanv": lambda: quanvolution_circuit(2, 2, seed=5),
}


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_templates_round_trip_through_qasm(name, rng):
    """Every template exports to OpenQASM 3 and reads back to the same state."""
    c = TEMPLATES[name]()
    params = weights(c.parameters, rng)
    back = qdl.Circuit.from_qasm(c.to_qasm())
    np.testing.assert_allclose(sim(back, params), sim(c, params), atol=TOL)


@pytest.mark.parametrize("module", ["qdl.templates", "qdl.templates._common",
                                    "qdl.templates.embeddings", "qdl.templates.layers",
                                    "qdl.templates.qcnn", "qdl.templates.quanvolution"])
def test_doctests(module):
    """The docstring examples of the templates run and print what they show."""
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(importlib.import_module(module), optionflags=flags)
    assert result.failed == 0 and result.attempted > 0
