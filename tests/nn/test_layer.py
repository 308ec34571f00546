"""QuantumLayer: a circuit inside ordinary torch models."""

import math

import numpy as np
import pytest
import torch
from torch import nn

import qdl
from qdl.nn import QuantumLayer

METHODS = ["backprop", "adjoint", "parameter-shift", "finite-diff"]


def _circuit(n=2):
    c = qdl.Circuit(n)
    for i in range(n):
        c.ry(i, f"x{i}")
    for i in range(n):
        c.rx(i, f"a{i}").rz(i, f"b{i}")
    for i in range(n - 1):
        c.cx(i, i + 1)
    c.ry(0, "a0")
    return c


def _model(method, dtype=torch.float64):
    torch.manual_seed(0)
    layer = QuantumLayer(_circuit(), ["Z0", "Z1", "X0 X1"], inputs=["x0", "x1"],
                         diff_method=method, dtype=torch.complex128)
    return nn.Sequential(nn.Linear(3, 2), layer, nn.Linear(3, 1)).to(dtype)


@pytest.mark.parametrize("method", METHODS)
def test_gradients_reach_first_linear_and_match_finite_differences(method):
    """d loss / d (first Linear weight) equals a central finite difference, every method."""
    model = _model(method)
    x = torch.randn(4, 3, dtype=torch.float64)
    model(x).sum().backward()
    grad = model[0].weight.grad.clone()
    h = 1e-6
    w = model[0].weight
    fd = torch.zeros_like(w)
    with torch.no_grad():
        for idx in np.ndindex(*w.shape):
            w[idx] += h
            up = model(x).sum()
            w[idx] -= 2 * h
            down = model(x).sum()
            w[idx] += h
            fd[idx] = (up - down) / (2 * h)
    tol = 1e-4 if method == "finite-diff" else 1e-7
    assert torch.allclose(grad, fd, atol=tol), (grad, fd)
    assert model[1].weights.grad is not None and model[1].weights.grad.abs().sum() > 0


def test_layer_output_matches_closed_form():
    """One qubit, ry(x) then rx(a): <Z> = cos(x)·cos(a) (independent closed form)."""
    c = qdl.Circuit(1).ry(0, "x").rx(0, "a")
    layer = QuantumLayer(c, ["Z0"], inputs=["x"], dtype=torch.complex128)
    with torch.no_grad():
        layer.weights.fill_(0.7)
    x = torch.tensor([[0.1], [1.3], [2.9]], dtype=torch.float64)
    want = torch.cos(x[:, 0]) * math.cos(0.7)
    assert torch.allclose(layer(x)[:, 0], want, atol=1e-12)


def test_state_dict_round_trip_gives_identical_outputs():
    """Saving and loading the state_dict reproduces the outputs exactly."""
    model = _model("adjoint")
    x = torch.randn(5, 3, dtype=torch.float64)
    other = _model("adjoint")
    torch.manual_seed(123)
    nn.init.normal_(other[1].weights)
    other.load_state_dict(model.state_dict())
    assert torch.equal(model(x), other(x))


def test_float32_and_double_switch_precision():
    """A complex64 layer gives float32 outputs; .double() makes it complex128/float64."""
    layer = QuantumLayer(_circuit(), ["Z0"], inputs=["x0", "x1"])
    x = torch.rand(3, 2)
    assert layer(x).dtype == torch.float32
    layer = layer.double()
    assert layer(x.double()).dtype == torch.float64


def test_real_dtype_is_refused():
    """The layer's dtype is the circuit's amplitude dtype: a real dtype is a QDLError."""
    with pytest.raises(qdl.QDLError, match=r"dtype must be torch\.complex64 or "
                       r"torch\.complex128, got torch\.float64"):
        QuantumLayer(_circuit(), ["Z0"], inputs=["x0", "x1"], dtype=torch.float64)


def test_no_grad_inference_and_batch_shapes():
    """Under no_grad the layer runs; leading dims of the features are kept."""
    layer = QuantumLayer(_circuit(), ["Z0", "Z1"], inputs=["x0", "x1"])
    with torch.no_grad():
        out = layer(torch.rand(2, 3, 2))
    assert out.shape == (2, 3, 2) and not out.requires_grad


@pytest.mark.parametrize("bad", [torch.rand(3, 3), torch.rand(3), None])
def test_wrong_feature_count_is_a_clear_error(bad):
    """Features with the wrong last dimension raise QDLError naming the expected shape."""
    layer = QuantumLayer(_circuit(), ["Z0"], inputs=["x0", "x1"])
    with pytest.raises(qdl.QDLError, match=r"\(\.\.\., 2\)"):
        layer(bad)


def test_nan_features_are_rejected():
    """NaN in the features is a QDLError, not a silent NaN output."""
    layer = QuantumLayer(_circuit(), ["Z0"], inputs=["x0", "x1"])
    with pytest.raises(qdl.QDLError, match="NaN"):
        layer(torch.tensor([[0.1, float("nan")]]))


def test_unknown_input_name_and_init():
    """Inputs that are not circuit parameters, and unknown inits, are QDLErrors."""
    with pytest.raises(qdl.QDLError, match="not parameters"):
        QuantumLayer(_circuit(), ["Z0"], inputs=["nope"])
    with pytest.raises(qdl.QDLError, match="unknown init"):
        QuantumLayer(_circuit(), ["Z0"], inputs=["x0", "x1"], init="bogus")


def test_small_init_is_small_and_repr_counts():
    """init='small' gives angles near 0; the repr shows qubits and the weight count."""
    torch.manual_seed(0)
    layer = QuantumLayer(_circuit(), ["Z0"], inputs=["x0", "x1"], init="small")
    assert layer.weights.abs().max() < 0.5
    assert "n_qubits=2" in repr(layer) and "weights=4" in repr(layer)


def test_trains_xor_like_task():
    """A hybrid model learns a small separable task: loss drops below half its start."""
    torch.manual_seed(1)
    x = torch.rand(64, 2) * math.pi
    y = (torch.cos(x[:, 0]) * torch.cos(x[:, 1]) > 0).float()
    layer = QuantumLayer(_circuit(), ["Z0 Z1"], inputs=["x0", "x1"], init="small")
    head = nn.Linear(1, 1)
    opt = torch.optim.Adam([*layer.parameters(), *head.parameters()], lr=0.1)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(head(layer(x))[:, 0], y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("method", [*METHODS, "best"])
def test_input_hessian_matches_finite_differences_of_the_gradient(method):
    """∂²/∂x² through a layer (the issue's physics-informed loss) equals differences of ∂/∂x."""
    torch.manual_seed(1)
    layer = QuantumLayer(_circuit(), ["Z0", "Z1", "X0 X1"], inputs=["x0", "x1"],
                         diff_method=method, dtype=torch.complex128).double()
    x = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(layer(x).sum(), x, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), x)

    def grad_sum(xv):
        xv = xv.clone().requires_grad_(True)
        ref = QuantumLayer(_circuit(), ["Z0", "Z1", "X0 X1"], inputs=["x0", "x1"],
                           diff_method="backprop", dtype=torch.complex128).double()
        ref.load_state_dict(layer.state_dict())
        return torch.autograd.grad(ref(xv).sum(), xv)[0].sum()

    eps = 1e-5
    want = torch.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        d = torch.zeros_like(x)
        d[idx] = eps
        want[idx] = (grad_sum(x.detach() + d) - grad_sum(x.detach() - d)) / (2 * eps)
    tol = 1e-4 if method == "finite-diff" else 1e-7
    torch.testing.assert_close(h, want, atol=tol, rtol=0)


@pytest.mark.parametrize("method", ["backprop", "adjoint", "parameter-shift"])
def test_state_input_layer_matches_numpy_and_trains(method):
    """layer(ψ) is <O> of U(w)·ψ (numpy), and the weights get the reference's gradients."""
    rng = np.random.default_rng(3)
    c = qdl.Circuit(2).ry(0, "w0").cx(0, 1).rx(1, "w1")
    layer = QuantumLayer(c, ["Z0", "X1"], state_input=True, diff_method=method,
                         dtype=torch.complex128).double()
    psi = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    psi /= np.linalg.norm(psi, axis=-1, keepdims=True)
    out = layer(torch.tensor(psi))
    w = layer.weights.detach().numpy()
    z0 = np.kron(np.diag([1.0, -1.0]), np.eye(2))
    x1 = np.kron(np.eye(2), np.array([[0.0, 1.0], [1.0, 0.0]]))

    def ref(wv):
        u = np.kron(np.eye(2), np.array([[np.cos(wv[1] / 2), -1j * np.sin(wv[1] / 2)],
                                         [-1j * np.sin(wv[1] / 2), np.cos(wv[1] / 2)]]))
        u = u @ np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]])
        u = u @ np.kron(np.array([[np.cos(wv[0] / 2), -np.sin(wv[0] / 2)],
                                  [np.sin(wv[0] / 2), np.cos(wv[0] / 2)]]), np.eye(2))
        phi = psi @ u.T
        return np.stack([np.einsum("bi,ij,bj->b", phi.conj(), o, phi).real for o in (z0, x1)],
                        -1)

    np.testing.assert_allclose(out.detach().numpy(), ref(w), atol=1e-12)
    out.sum().backward()
    eps = 1e-6
    want = [(ref(w + eps * np.eye(2)[i]).sum() - ref(w - eps * np.eye(2)[i]).sum()) / (2 * eps)
            for i in range(2)]
    np.testing.assert_allclose(layer.weights.grad.numpy(), want, atol=1e-6)


def test_state_input_layer_refuses_feature_inputs():
    """state_input with inputs=[...] is a QDLError (states replace features)."""
    with pytest.raises(qdl.QDLError, match="reads states"):
        QuantumLayer(_circuit(), ["Z0"], inputs=["x0"], state_input=True)
