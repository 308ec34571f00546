"""Shots: estimates and their standard errors, shot gradients, noisy sampling, training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import qdl
from qdl import Circuit, QDLError
from qdl.noise import NoiseModel, amplitude_damping, depolarizing, readout_error

NOISE = (NoiseModel().add("cx", depolarizing(0.1)).add("ry", amplitude_damping(0.1))
         .add_readout(readout_error(0.05, 0.1)))
CIRCUIT = Circuit(2).ry(0, "a").rx(1, "b").cx(0, 1).ry(1, "c")
OBS = ["Z1", "0.5 X0 + -2 Z0 Z1", "Y1 + 1"]
# Per observable, its Pauli terms as (coeff, word) for the exact standard error.
TERMS = [[(1.0, "Z1")], [(0.5, "X0"), (-2.0, "Z0 Z1")], [(1.0, "Y1")]]


def _exact_sigma(params: dict, noise: NoiseModel | None, shots: int) -> np.ndarray:
    """√(Σ_t c_t² (1 − <P_t>²)/shots) per observable from exact (noisy) term expectations."""
    words = [w for terms in TERMS for _, w in terms]
    exact = qdl.expval(CIRCUIT, words, params, noise=noise, dtype=torch.complex128).numpy()
    out, i = [], 0
    for terms in TERMS:
        var = 0.0
        for coeff, _ in terms:
            var = var + coeff**2 * (1 - exact[..., i] ** 2) / shots
            i += 1
        out.append(np.sqrt(var))
    return np.stack(out, -1)


@pytest.mark.parametrize("noise", [None, NOISE], ids=["pure", "noisy"])
def test_estimates_within_five_standard_errors_across_seeds(noise):
    """Over 30 seeds every estimate lies within 5σ of the exact value, and the reported
    standard error is close to the exact σ."""
    params = {"a": torch.tensor([0.3, 2.0], dtype=torch.float64), "b": 0.9, "c": -0.4}
    shots = 2000
    exact = qdl.expval(CIRCUIT, OBS, params, noise=noise, dtype=torch.complex128).numpy()
    sigma = _exact_sigma(params, noise, shots)
    errs = []
    for seed in range(30):
        est, se = qdl.expval_with_stderr(CIRCUIT, OBS, params, shots=shots, seed=seed,
                                         noise=noise, dtype=torch.complex128)
        assert est.shape == se.shape == (2, 3)
        assert np.all(np.abs(est.numpy() - exact) <= 5 * sigma + 1e-12), seed
        np.testing.assert_allclose(se.numpy(), sigma, rtol=0.2, atol=1e-3)
        errs.append((est.numpy() - exact) / np.maximum(sigma, 1e-12))
    # The z-scores are spread like a standard normal (loose bounds: 60 samples per cell).
    z = np.stack(errs)[..., :2]
    assert 0.6 < z.std() < 1.4 and abs(z.mean()) < 0.5


def test_stderr_estimates_match_expval_samples():
    """expval_with_stderr returns the same estimates as expval with the same seed."""
    params = {"a": 0.3, "b": 0.9, "c": -0.4}
    est, _ = qdl.expval_with_stderr(CIRCUIT, OBS, params, shots=300, seed=5)
    np.testing.assert_array_equal(est.numpy(), qdl.expval(CIRCUIT, OBS, params, shots=300,
                                                          seed=5).numpy())


def test_stderr_edge_cases():
    """Constant terms and deterministic outcomes have zero error; shots are required."""
    est, se = qdl.expval_with_stderr(Circuit(1).x(0), ["Z0", "Z0 + 3", "X0"], shots=50, seed=0)
    np.testing.assert_allclose(est[:2].numpy(), [-1, 2])
    np.testing.assert_allclose(se[:2].numpy(), [0, 0])
    assert se[2] > 0.1
    with pytest.raises(QDLError, match="needs shots=N"):
        qdl.expval_with_stderr(Circuit(1).x(0), ["Z0"], shots=None)  # type: ignore[arg-type]
    with pytest.raises(QDLError, match="shots must be a positive int"):
        qdl.expval_with_stderr(Circuit(1).x(0), ["Z0"], shots=0)


@pytest.mark.parametrize("noise", [None, NOISE], ids=["pure", "noisy"])
def test_shot_parameter_shift_gradients_within_five_sigma(noise):
    """Shot gradients (two-term rule) lie within 5σ of the exact gradient over many seeds."""
    values = {"a": 0.7, "b": -1.1, "c": 2.0}
    shots = 4000
    params = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
              for k, v in values.items()}
    qdl.expval(CIRCUIT, ["Z1"], params, noise=noise, dtype=torch.complex128).sum().backward()
    exact = {k: p.grad.item() for k, p in params.items()}
    sigma = {}
    for name in values:
        # ½(f(θ+π/2) − f(θ−π/2)): variance ¼(σ₊² + σ₋²), each σ² = (1 − <Z1>²)/shots.
        var = 0.0
        for sign in (1, -1):
            shifted = dict(values, **{name: values[name] + sign * math.pi / 2})
            m = qdl.expval(CIRCUIT, ["Z1"], shifted, noise=noise, dtype=torch.complex128).item()
            var += 0.25 * (1 - m**2) / shots
        sigma[name] = math.sqrt(var)
    for seed in range(8):
        params = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
                  for k, v in values.items()}
        qdl.expval(CIRCUIT, ["Z1"], params, noise=noise, shots=shots, seed=seed,
                   dtype=torch.complex128).sum().backward()
        for name, p in params.items():
            assert abs(p.grad.item() - exact[name]) <= 5 * sigma[name], (seed, name)


def test_noisy_samples_follow_noisy_probabilities():
    """qdl.sample with noise draws from qdl.probs with noise (readout included), within 5σ."""
    params = {"a": 0.3, "b": 0.9, "c": -0.4}
    p = qdl.probs(CIRCUIT, params, noise=NOISE, dtype=torch.complex128).numpy()
    shots = 20000
    bits = qdl.sample(CIRCUIT, params, shots=shots, seed=3, noise=NOISE).numpy()
    freq = np.bincount(bits[:, 0] * 2 + bits[:, 1], minlength=4) / shots
    assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / shots))
    assert not np.allclose(p, qdl.probs(CIRCUIT, params, dtype=torch.complex128).numpy(),
                           atol=1e-3)


@pytest.mark.parametrize("noise", [None, NoiseModel().add("ry", depolarizing(0.02))],
                         ids=["pure", "noisy"])
def test_quantum_layer_trains_with_shots(noise):
    """A 1-qubit regression layer trained on 200-shot estimates gets its loss down."""
    torch.manual_seed(0)
    layer = qdl.nn.QuantumLayer(Circuit(1).ry(0, "x").ry(0, "w"), ["Z0"], inputs=["x"],
                                init="zeros", shots=200, noise=noise, dtype=torch.complex128)
    x = torch.linspace(-1, 1, 16, dtype=torch.float64)[:, None]
    y = torch.cos(x + 1.0)
    opt = torch.optim.Adam(layer.parameters(), lr=0.1)
    for _ in range(40):
        opt.zero_grad()
        loss = ((layer(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
    with torch.no_grad():
        exact = qdl.expval(layer.circuit, ["Z0"], {"x": x[:, 0], "w": layer.weights[0]},
                           noise=noise, dtype=torch.complex128)
        start = qdl.expval(layer.circuit, ["Z0"], {"x": x[:, 0], "w": 0.0}, noise=noise,
                           dtype=torch.complex128)
    assert ((exact - y) ** 2).mean() < 0.01 < ((start - y) ** 2).mean()
    assert abs(layer.weights.item() - 1.0) < 0.25
