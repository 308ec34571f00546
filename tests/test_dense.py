"""Tests for qdl.sim.dense: small circuits as dense matrices, closed-form adjoint gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from closed_form import (
    closed_form_circuit,
    matrix_observables,
    reference_expectations,
    shared_weights,
)
from helpers import pauli_operator

from qdl import Circuit, expval
from qdl.expr import Sym
from qdl.sim import dense, tables


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("batch", [1, 7])
def test_values_match_dense_numpy(n, batch, dtype, atol, rng):
    """Values of random small circuits equal numpy's dense matrices, for Z and X·Y terms."""
    c, inputs, weights = closed_form_circuit(n, 25, rng)
    assert dense.program(c) is not None
    params = shared_weights(inputs, weights, batch, rng, dtype)
    obs = ["Z0", f"0.5 X0 Y{n - 1}" if n > 1 else "0.5 Y0", f"Z0 Z{n - 1} + 0.3 X{n - 1}"]
    ops = [pauli_operator([(1, {0: "Z"})], n),
           pauli_operator([(0.5, {0: "X", n - 1: "Y"})] if n > 1 else [(0.5, {0: "Y"})], n),
           pauli_operator([(1, {0: "Z", n - 1: "Z"} if n > 1 else {0: "I"}),
                           (0.3, {n - 1: "X"})], n)]
    got = expval(c, obs, params, diff_method="adjoint", dtype=dtype)
    want = reference_expectations(c, params, ops)
    np.testing.assert_allclose(got.detach().numpy(), want, atol=atol)


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_gradients_match_backprop(n, dtype, atol, rng):
    """Closed-form gradients equal autograd through the general simulator, inputs and
    weights alike."""
    c, inputs, weights = closed_form_circuit(n, 30, rng)
    params = shared_weights(inputs, weights, 5, rng, dtype)
    obs = ["Z0", f"X{n - 1}", "Y0 Z1"]
    g = torch.randn(5, 3, dtype=params[inputs[0]].dtype)
    names = list(params)
    fast = torch.autograd.grad((expval(c, obs, params, diff_method="adjoint", dtype=dtype)
                                * g).sum(), [params[k] for k in names], allow_unused=True)
    slow = torch.autograd.grad((expval(c, obs, params, diff_method="backprop", dtype=dtype)
                                * g).sum(), [params[k] for k in names], allow_unused=True)
    for k, a, b in zip(names, fast, slow, strict=True):
        a = torch.zeros_like(params[k]) if a is None else a
        b = torch.zeros_like(params[k]) if b is None else b
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=10 * atol, err_msg=k)


def test_gradcheck_complex128(rng):
    """torch.autograd.gradcheck passes for the dense path (finite differences, float64)."""
    c, inputs, weights = closed_form_circuit(3, 20, rng)
    names = inputs + weights
    obs = ["Z0", "X1 X2", "Y2"]

    def f(*values):
        return expval(c, obs, dict(zip(names, values, strict=True)), diff_method="adjoint",
                      dtype=torch.complex128)

    values = [torch.tensor(rng.uniform(-3, 3, 4) if k in inputs else rng.uniform(-3, 3),
                           dtype=torch.float64, requires_grad=True) for k in names]
    assert torch.autograd.gradcheck(f, values)


def test_second_derivatives_match_backprop(rng):
    """A backward with create_graph gives the same Hessian as backprop (every order agrees)."""
    c, inputs, weights = closed_form_circuit(3, 20, rng)
    w = torch.tensor(rng.uniform(-3, 3, len(weights)), dtype=torch.float64)
    x = torch.tensor(rng.uniform(-3, 3, (2, 3)), dtype=torch.float64)

    def f(method):
        def g(wv):
            p = dict(zip(weights, wv.unbind(), strict=True))
            p.update(zip(inputs, x.unbind(-1), strict=True))
            return expval(c, ["Z0", "X1"], p, diff_method=method,
                          dtype=torch.complex128).sum()
        return torch.autograd.functional.hessian(g, w)

    np.testing.assert_allclose(f("adjoint").numpy(), f("backprop").numpy(), atol=1e-10)


def test_zero_factors_have_gradients():
    """Angles that zero matrix entries (ry(π)) still get exact gradients: no division."""
    c = Circuit(2).ry(0, "a").ry(1, "b").cx(0, 1).ry(0, "c").rx(1, "d")
    pi = torch.tensor(np.pi, dtype=torch.float64, requires_grad=True)
    params = {k: pi if k in "ac" else torch.tensor(0.4, dtype=torch.float64,
                                                    requires_grad=True) for k in "abcd"}
    out = {m: torch.autograd.grad(expval(c, ["Z0", "Z1 X0"], params, diff_method=m,
                                         dtype=torch.complex128).sum(), list(params.values()))
           for m in ("adjoint", "backprop")}
    for a, b in zip(out["adjoint"], out["backprop"], strict=True):
        assert abs(float(a) - float(b)) < 1e-12


def test_matrix_observables(rng):
    """Hermitian and Projector observables (non-diagonal, diagonal) match numpy."""
    c, inputs, weights = closed_form_circuit(3, 15, rng)
    params = shared_weights(inputs, weights, 4, rng, torch.complex128)
    obs, ops = matrix_observables(rng)
    got = expval(c, obs, params, diff_method="adjoint", dtype=torch.complex128)
    want = reference_expectations(c, params, ops)
    np.testing.assert_allclose(got.detach().numpy(), want, atol=1e-10)


@pytest.mark.parametrize("circuit", [
    Circuit(2).ry(0, "a").crx(0, 1, "b"),  # a multi-qubit gate with a free parameter
    Circuit(2).ry(0, "a").u(1, "a", "b", 0.3).cx(0, 1),  # several free parameters
    Circuit(dense.DENSE_QUBITS + 1).ry(0, "a"),  # too many qubits
])
def test_program_refuses_what_it_cannot_take(circuit):
    """Circuits outside the dense path give no program (and run on the general path)."""
    assert dense.program(circuit) is None


def test_per_row_layers_run_on_the_general_path(rng):
    """Data re-uploading (per-row gates after an entangler) has no dense layout, and its
    values and gradients still match numpy and backprop."""
    c, inputs, weights = closed_form_circuit(3, 30, rng, reupload=True)
    c.cx(0, 1).ry(1, inputs[0])
    prog = dense.program(c)
    flags = tuple(bool(set(s.op.params[0].symbols()) & set(inputs)) for s in prog.steps)
    assert dense.layout(prog, flags, torch.complex128, torch.device("cpu")) is None
    params = shared_weights(inputs, weights, 3, rng, torch.complex128)
    got = expval(c, ["Z1"], params, dtype=torch.complex128)
    ref = reference_expectations(c, params, [pauli_operator([(1, {1: "Z"})], 3)])
    np.testing.assert_allclose(got.detach().numpy(), ref, atol=1e-10)


def test_unused_batch_rows_repeat():
    """A batch that reaches no gate (all angles shared) still gives one row per item."""
    c = Circuit(2).ry(0, "w").cx(0, 1).rz(1, 0 * Sym("x") + 0.2)
    x = torch.zeros(3, dtype=torch.float64)
    w = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    out = expval(c, ["Z1"], {"w": w, "x": x}, dtype=torch.complex128)
    assert out.shape == (3, 1)
    (gw,) = torch.autograd.grad(out.sum(), w)
    assert abs(float(gw) - 3 * -np.sin(0.3)) < 1e-12


def test_multiplied_products_match_gathered_ones(rng, monkeypatch):
    """Without leave-one-out indices (large layers) gradients are the same: the products of
    all factors but one from the products before and after each factor."""
    c, inputs, weights = closed_form_circuit(4, 30, rng)
    params = shared_weights(inputs, weights, 3, rng, torch.complex128)
    names = list(params)

    def grads():
        out = expval(c, ["Z0", "X2"], params, dtype=torch.complex128)
        return torch.autograd.grad(out.sum(), [params[k] for k in names], allow_unused=True)

    gathered = grads()
    monkeypatch.setattr(tables, "OTHERS_INDEX", 0)
    c = c.copy()  # a new circuit object: a new program and layout, built without them
    multiplied = grads()
    assert all(lay.tensors["kron_others"] is None
               for lay in dense.program(c).layouts.values() if lay is not None)
    for a, b in zip(gathered, multiplied, strict=True):
        if a is not None:
            assert torch.allclose(a, b, atol=1e-12)
