"""QuantumKernel: Gram matrices against independent numpy states, tiling, symmetry, errors."""

import itertools
import math

import numpy as np
import pytest
import torch

import qdl
from qdl.models import QuantumKernel


def _zz_state(x: np.ndarray, reps: int, pairs: list[tuple[int, int]], alpha: float = 2.0
              ) -> np.ndarray:
    """Havlíček's ZZ feature-map state, written from the formula (no qdl code).

    ``(D(x) H^{⊗n})^reps |0>``, ``D = exp(-i/2 [Σ_i α x_i Z_i + Σ_(i,j) α(π-x_i)(π-x_j) Z_i Z_j])``
    (``rz(θ) = exp(-iθZ/2)``, ``rzz(θ) = exp(-iθ Z⊗Z/2)``); wire 0 is the most significant bit.
    """
    n = len(x)
    z = np.array([[1 - 2 * ((k >> (n - 1 - w)) & 1) for w in range(n)] for k in range(2**n)])
    phase = alpha * z @ x
    for i, j in pairs:
        phase = phase + alpha * (math.pi - x[i]) * (math.pi - x[j]) * z[:, i] * z[:, j]
    diag = np.exp(-0.5j * phase)
    h1 = np.array([[1, 1], [1, -1]]) / math.sqrt(2)
    hn = h1
    for _ in range(n - 1):
        hn = np.kron(hn, h1)
    psi = np.zeros(2**n, complex)
    psi[0] = 1
    for _ in range(reps):
        psi = diag * (hn @ psi)
    return psi


def _reference_gram(a: np.ndarray, b: np.ndarray, reps: int, pairs, bandwidth: float
                    ) -> np.ndarray:
    sa = np.stack([_zz_state(bandwidth * x, reps, pairs) for x in a])
    sb = np.stack([_zz_state(bandwidth * x, reps, pairs) for x in b])
    return np.abs(sa.conj() @ sb.T) ** 2


PAIRS = {"linear": [(0, 1), (1, 2)], "full": [(0, 1), (0, 2), (1, 2)],
         "ring": [(0, 1), (1, 2), (2, 0)]}


@pytest.mark.parametrize("entanglement", ["linear", "full", "ring"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gram_matches_independent_states(entanglement, dtype, rng):
    """K(X, Y) equals |<ψ(x)|ψ(y)>|² of numpy states built from the ZZ formula."""
    a, b = rng.uniform(-2, 2, (7, 3)), rng.uniform(-2, 2, (5, 3))
    kernel = QuantumKernel("zz", 3, reps=2, entanglement=entanglement, bandwidth=0.7,
                           tile_size=3, dtype=dtype)
    got = kernel(torch.tensor(a), torch.tensor(b))
    assert got.dtype == dtype and got.shape == (7, 5)
    want = _reference_gram(a, b, 2, PAIRS[entanglement], 0.7)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    np.testing.assert_allclose(got.numpy(), want, atol=tol)


def test_gram_matches_pairwise_qdl_states(rng):
    """Batched tiles agree with qdl.state computed one sample at a time, pair by pair."""
    x = rng.uniform(0, math.pi, (6, 4))
    kernel = QuantumKernel("zz", 4, reps=1, entanglement="full", tile_size=4,
                           dtype=torch.float64)
    gram = kernel(torch.tensor(x)).numpy()
    circuit = kernel.circuit
    for i, j in itertools.combinations_with_replacement(range(6), 2):
        si = qdl.state(circuit, {f"x{k}": float(x[i, k]) for k in range(4)},
                       dtype=torch.complex128).numpy()
        sj = qdl.state(circuit, {f"x{k}": float(x[j, k]) for k in range(4)},
                       dtype=torch.complex128).numpy()
        assert gram[i, j] == pytest.approx(abs(np.vdot(si, sj)) ** 2, abs=1e-12)


def test_angle_kernel_closed_form(rng):
    """The ry angle-embedding kernel is Π cos²(b(x_i - y_i)/2)."""
    a, b = rng.normal(size=(4, 3)), rng.normal(size=(6, 3))
    got = QuantumKernel("angle", 3, bandwidth=0.5, dtype=torch.float64)(torch.tensor(a),
                                                                      torch.tensor(b))
    want = np.prod(np.cos(0.5 * (a[:, None] - b[None]) / 2) ** 2, -1)
    np.testing.assert_allclose(got.numpy(), want, atol=1e-12)


def test_symmetric_psd_unit_diagonal(rng):
    """K(X) is exactly symmetric, positive semidefinite and has a unit diagonal."""
    x = torch.tensor(rng.uniform(-1, 1, (40, 4)))
    gram = QuantumKernel("zz", 4, tile_size=16, dtype=torch.float64)(x)
    assert torch.equal(gram, gram.T)
    assert torch.allclose(gram.diagonal(), torch.ones(40, dtype=torch.float64), atol=1e-12)
    assert torch.linalg.eigvalsh(gram).min() > -1e-10
    assert bool(((gram >= 0) & (gram <= 1 + 1e-12)).all())


@pytest.mark.parametrize("tile_size", [1, 3, 7, 16, 1000])
def test_tiling_gives_identical_results(tile_size, rng):
    """Every tile size (and with or without cached states) gives the untiled matrices."""
    x = torch.tensor(rng.uniform(-1, 1, (17, 3)))
    y = torch.tensor(rng.uniform(-1, 1, (9, 3)))
    untiled = QuantumKernel("zz", 3, tile_size=10_000, dtype=torch.float64)
    tiled = QuantumKernel("zz", 3, tile_size=tile_size, dtype=torch.float64)
    uncached = QuantumKernel("zz", 3, tile_size=tile_size, cache_mib=0, dtype=torch.float64)
    for kernel in (tiled, uncached):
        torch.testing.assert_close(kernel(x), untiled(x), rtol=0, atol=1e-14)
        torch.testing.assert_close(kernel(x, y), untiled(x, y), rtol=0, atol=1e-14)
    torch.testing.assert_close(untiled(x, y), untiled(torch.cat([x, y]))[:17, 17:], rtol=0,
                               atol=1e-14)


@pytest.mark.parametrize("cache_mib", [0, 256])
def test_symmetric_case_computes_each_tile_once(cache_mib, monkeypatch):
    """K(X) with T tiles runs T(T+1)/2 tile products; K(X, Y) runs T·T'."""
    calls = []
    original = QuantumKernel.fidelities
    monkeypatch.setattr(QuantumKernel, "fidelities",
                        staticmethod(lambda a, b: calls.append(1) or original(a, b)))
    kernel = QuantumKernel("zz", 2, tile_size=4, cache_mib=cache_mib)
    kernel(torch.rand(10, 2))  # 3 tiles
    assert len(calls) == 6
    calls.clear()
    kernel(torch.rand(10, 2), torch.rand(5, 2))  # 3 x 2 tiles
    assert len(calls) == 6


def test_states_cached_only_within_budget(monkeypatch):
    """Column states are computed once when they fit the cache, per row tile otherwise."""
    counts = []
    original = QuantumKernel.states
    monkeypatch.setattr(QuantumKernel, "states",
                        lambda self, x: counts.append(len(x)) or original(self, x))
    x, y = torch.rand(8, 2), torch.rand(8, 2)
    QuantumKernel("zz", 2, tile_size=4)(x, y)
    assert sum(counts) == 16  # every row and every column once
    counts.clear()
    QuantumKernel("zz", 2, tile_size=4, cache_mib=0)(x, y)
    assert sum(counts) == 8 + 2 * 8  # columns recomputed for each of the 2 row tiles


def test_custom_circuit_feature_map_and_gradient():
    """A user circuit works as the feature map; the Gram matrix is differentiable."""
    c = qdl.Circuit(2).ry(0, "a").ry(1, "b").cx(0, 1).rz(1, "a")
    kernel = QuantumKernel(c, dtype=torch.float64)
    assert kernel.n_features == 2
    x = torch.tensor([[0.3, -0.2], [1.1, 0.4]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: kernel(t[:1], t[1:]), (x,))


def test_double_and_state_dict_round_trip(rng):
    """``.double()`` switches to complex128 states; a state_dict restores the bandwidth."""
    x = torch.tensor(rng.uniform(-1, 1, (5, 3)), dtype=torch.float32)
    k32 = QuantumKernel("zz", 3, bandwidth=0.3)
    k64 = QuantumKernel("zz", 3, bandwidth=0.3).double()
    assert k64(x).dtype == torch.float64 and k64.states(x).dtype == torch.complex128
    torch.testing.assert_close(k32(x).double(), k64(x), atol=1e-5, rtol=0)
    other = QuantumKernel("zz", 3, bandwidth=0.9)
    other.load_state_dict(k32.state_dict())
    assert torch.equal(other(x), k32(x))


@pytest.mark.parametrize(("args", "x", "match"), [
    ((), torch.zeros(4, 2), r"shape \(batch, 3\)"),
    ((), torch.tensor([[0.0, float("nan"), 1.0]]), "NaN"),
    ((), torch.zeros(2, 2, 3), "feature matrices"),
])
def test_bad_input_raises(args, x, match):
    """Wrong feature count, NaN and non-matrix input raise QDLError."""
    with pytest.raises(qdl.QDLError, match=match):
        QuantumKernel("zz", 3)(x)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"feature_map": "rbf", "n_features": 2}, "unknown feature_map"),
    ({"feature_map": "zz", "n_features": 2, "bandwidth": 0.0}, "bandwidth"),
    ({"feature_map": "zz", "n_features": 2, "tile_size": 0}, "tile_size"),
    ({"feature_map": qdl.Circuit(1).rx(0, "t"), "n_features": 2}, "takes 1 features"),
    ({"feature_map": "zz"}, "n_features"),
    ({"feature_map": "zz", "n_features": 2, "executor": "dask"}, "executor must be"),
])
def test_bad_arguments_raise(kwargs, match):
    """Unknown maps, bad bandwidth/tile size, inconsistent n_features raise QDLError."""
    with pytest.raises(qdl.QDLError, match=match):
        QuantumKernel(**kwargs)


@pytest.mark.parametrize("symmetric", [True, False])
def test_ray_tiles_equal_local_tiles(ray_local, symmetric, rng, one_torch_thread):
    """Gram tiles computed as Ray tasks give exactly the local matrix."""
    x1 = torch.as_tensor(rng.normal(size=(23, 3)), dtype=torch.float64)
    x2 = None if symmetric else torch.as_tensor(rng.normal(size=(9, 3)), dtype=torch.float64)
    local = QuantumKernel("zz", n_features=3, tile_size=8, dtype=torch.float64)
    remote = QuantumKernel("zz", n_features=3, tile_size=8, dtype=torch.float64,
                           executor="ray")
    with torch.no_grad():
        expected, got = local(x1, x2), remote(x1, x2)
    assert torch.equal(got, expected)


def test_ray_executor_refuses_gradients(ray_local):
    """The Ray path says it gives no gradients instead of silently detaching."""
    kernel = QuantumKernel("angle", n_features=2, executor="ray")
    x = torch.zeros(3, 2, requires_grad=True)
    with pytest.raises(qdl.QDLError, match="no gradients"):
        kernel(x)


@pytest.mark.parametrize("tile_size", [5, 16, 40])
def test_gram_symmetric_even_when_tiles_round_asymmetrically(tile_size, monkeypatch, rng):
    """K(X) stays exactly symmetric when a tile product rounds <a|b> and <b|a> differently."""
    original = QuantumKernel.fidelities

    def skewed(a, b):
        tile = original(a, b)
        return tile + 1e-15 * torch.triu(torch.ones_like(tile), 1)

    monkeypatch.setattr(QuantumKernel, "fidelities", staticmethod(skewed))
    x = torch.tensor(rng.uniform(-1, 1, (40, 3)))
    gram = QuantumKernel("zz", 3, tile_size=tile_size, dtype=torch.float64)(x)
    assert torch.equal(gram, gram.T)
