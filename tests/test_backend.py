"""External backends for expval: parameter-shift gradients through any object with expval."""

from __future__ import annotations

import helpers as ref
import numpy as np
import pytest
import torch

import qdl
from qdl import Circuit, QDLError
from qdl.expr import Sym
from qdl.noise import NoiseModel


class CountingBackend:
    """A backend that evaluates with QDL's own simulator and counts its requests."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def expval(self, circuit, observables, params):
        batch = {v.shape[0] for v in params.values()}
        self.calls.append(batch.pop() if batch else 1)
        with torch.no_grad():
            return qdl.expval(circuit, observables, params, dtype=torch.complex128)


def _circuit() -> Circuit:
    return (Circuit(3).ry(0, "x").rx(1, 2 * Sym("w") + 0.1).crz(0, 2, "w").u(2, "x", "v", 0.3)
            .cx(1, 2).rzz(0, 1, Sym("v") * Sym("x")))


@pytest.mark.parametrize("batch", [(), (4,), (2, 3)], ids=str)
def test_backend_values_and_gradients_match_adjoint(batch, rng):
    """Through a backend, values and shift-rule gradients equal the adjoint's (shared and
    expression parameters, three- and four-term rules, batched and scalar inputs)."""
    values = {"x": rng.uniform(-2, 2, batch), "w": rng.uniform(-2, 2, batch), "v": 0.7}
    obs = ["Z0", "X1 Y2 + 0.5", "-1 Z1 Z2"]
    results = []
    for backend in [None, CountingBackend()]:
        params = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
                  for k, v in values.items()}
        out = qdl.expval(_circuit(), obs, params, backend=backend, dtype=torch.complex128)
        (out * torch.arange(1.0, 4.0, dtype=torch.float64)).sum().backward()
        results.append([out.detach()] + [params[k].grad for k in sorted(params)])
    for got, want in zip(results[1], results[0], strict=True):
        torch.testing.assert_close(got, want, atol=1e-10, rtol=0)


def test_one_backend_request_per_pass():
    """The forward pass is one request; the backward pass is one more holding every shift."""
    backend = CountingBackend()
    x = torch.tensor([0.1, 0.2], dtype=torch.float64, requires_grad=True)
    out = qdl.expval(_circuit(), ["Z0"], {"x": x, "w": 0.3, "v": 0.4}, backend=backend)
    assert backend.calls == [2]
    out.sum().backward()
    # x feeds ry (2 shifts), u (2 shifts) and rzz (2 shifts): 6 copies of the batch of 2.
    assert backend.calls == [2, 12]


def test_backend_layer_trains():
    """A QuantumLayer on a backend trains by parameter shift (loss goes down)."""
    torch.manual_seed(0)
    layer = qdl.nn.QuantumLayer(Circuit(1).ry(0, "x").ry(0, "w"), ["Z0"], inputs=["x"],
                                init="zeros", backend=CountingBackend(), dtype=torch.complex128)
    x = torch.linspace(-1, 1, 8, dtype=torch.float64)[:, None]
    y = torch.cos(x + 0.7)
    losses = ref.fit_mse(layer, x, y, steps=60)
    assert losses[-1] < 1e-3 < losses[0]


def test_backend_without_parameters():
    """A circuit without free parameters runs once on the backend."""
    out = qdl.expval(Circuit(1).x(0), ["Z0", "X0"], backend=CountingBackend())
    np.testing.assert_allclose(out.numpy(), [-1, 0], atol=1e-7)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"diff_method": "adjoint"}, "cannot differentiate through an external backend"),
    ({"diff_method": "backprop"}, "cannot differentiate through an external backend"),
    ({"shots": 10}, "shots and noise belong to the backend"),
    ({"noise": NoiseModel()}, "shots and noise belong to the backend"),
])
def test_backend_errors(kwargs, message):
    """Methods that need the simulator, or shots/noise next to a backend, raise QDLError."""
    with pytest.raises(QDLError, match=message):
        qdl.expval(Circuit(1).rx(0, "a"), ["Z0"], {"a": 0.1}, backend=CountingBackend(),
                   **kwargs)
    with pytest.raises(QDLError, match="backend must have an expval"):
        qdl.expval(Circuit(1).rx(0, "a"), ["Z0"], {"a": 0.1}, backend=object())


def test_backend_skips_the_memory_guard():
    """A 40-qubit circuit is not refused for memory when a backend evaluates it."""
    out = qdl.expval(Circuit(40).x(39), ["Z39"], backend=_Constant())
    assert out.tolist() == [0.5]


class _Constant:
    def expval(self, circuit, observables, params):
        return [[0.5] * len(observables)]


def test_backend_second_derivatives_match_backprop(rng):
    """Shift rules of shift rules through a backend give backprop's Hessian (x, w, v)."""
    def loss(backend, method):
        def f(x, w, v):
            out = qdl.expval(_circuit(), ["Z0", "X1 Y2"], {"x": x, "w": w, "v": v},
                             backend=backend, diff_method=method, dtype=torch.complex128)
            return (out * torch.tensor([1.0, -0.5], dtype=torch.float64)).sum()
        return f

    point = (torch.tensor(rng.uniform(-2, 2, 2)), torch.tensor(0.4, dtype=torch.float64),
             torch.tensor(-0.9, dtype=torch.float64))
    want = torch.autograd.functional.hessian(loss(None, "backprop"), point)
    got = torch.autograd.functional.hessian(loss(CountingBackend(), "parameter-shift"), point)
    for row_got, row_want in zip(got, want, strict=True):
        for a, b in zip(row_got, row_want, strict=True):
            torch.testing.assert_close(a, b, atol=1e-9, rtol=0)
