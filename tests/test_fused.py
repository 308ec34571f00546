"""Tests for qdl.sim.fused: the fused plan fed by angle vectors, closed-form gradients."""

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

from qdl import Circuit, Stacked, expval
from qdl.expr import Sym
from qdl.sim import dense, fused, tables


@pytest.fixture(autouse=True)
def no_dense(monkeypatch):
    """Small circuits would take the dense path first: keep them on the fused one."""
    monkeypatch.setattr(dense, "DENSE_QUBITS", 0)


def used(circuit: Circuit) -> bool:
    """Whether the fused path ran for ``circuit`` (it built a layout)."""
    prog = fused.program(circuit)
    return prog is not None and bool(prog.layouts)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 6, 7])
@pytest.mark.parametrize("batch", [1, 7])
@pytest.mark.parametrize("reupload", [False, True])
def test_values_match_dense_numpy(n, batch, reupload, dtype, atol, rng):
    """Values of random circuits (with inputs after entanglers too) equal numpy's dense
    matrices, for Z and X·Y terms."""
    c, inputs, weights = closed_form_circuit(n, 30, rng, reupload)
    params = shared_weights(inputs, weights, batch, rng, dtype)
    obs = ["Z0", f"0.5 X0 Y{n - 1}" if n > 1 else "0.5 Y0", f"Z0 Z{n - 1} + 0.3 X{n - 1}"]
    ops = [pauli_operator([(1, {0: "Z"})], n),
           pauli_operator([(0.5, {0: "X", n - 1: "Y"})] if n > 1 else [(0.5, {0: "Y"})], n),
           pauli_operator([(1, {0: "Z", n - 1: "Z"} if n > 1 else {0: "I"}),
                           (0.3, {n - 1: "X"})], n)]
    got = expval(c, obs, params, diff_method="adjoint", dtype=dtype)
    assert used(c)
    want = reference_expectations(c, params, ops)
    np.testing.assert_allclose(got.detach().numpy(), want, atol=atol)


def _grads(c, obs, params, method, dtype, weights):
    out = expval(c, obs, params, diff_method=method, dtype=dtype)
    found = torch.autograd.grad((out * weights).sum(), list(params.values()), allow_unused=True)
    return [torch.zeros_like(p) if g is None else g
            for g, p in zip(found, params.values(), strict=True)]


@pytest.mark.parametrize("n", [2, 4, 6, 7])
@pytest.mark.parametrize("reupload", [False, True])
def test_gradients_match_backprop(n, reupload, dtype, atol, rng):
    """Closed-form gradients equal autograd through the general simulator, inputs and
    weights alike, with Z-only observables (one product) and others."""
    c, inputs, weights = closed_form_circuit(n, 40, rng, reupload)
    params = shared_weights(inputs, weights, 5, rng, dtype)
    for obs in (["Z0", f"Z{n - 1}", f"2 Z0 Z{n - 1} + 1"], ["Z0", f"X{n - 1}", f"Y0 Z{n - 1}"]):
        g = torch.randn(5, 3, dtype=params[inputs[0]].dtype)
        fast = _grads(c, obs, params, "adjoint", dtype, g)
        assert used(c)
        slow = _grads(c, obs, params, "backprop", dtype, g)
        for k, a, b in zip(params, fast, slow, strict=True):
            np.testing.assert_allclose(a.numpy(), b.numpy(), atol=10 * atol, err_msg=k)


def test_gradcheck_complex128(rng):
    """torch.autograd.gradcheck passes for the fused path (finite differences, float64)."""
    c, inputs, weights = closed_form_circuit(6, 24, rng, reupload=True)
    names = inputs + weights
    obs = ["Z0", "X1 X2", "Z5"]

    def f(*values):
        return expval(c, obs, dict(zip(names, values, strict=True)), diff_method="adjoint",
                      dtype=torch.complex128)

    values = [torch.tensor(rng.uniform(-3, 3, 3) if k in inputs else rng.uniform(-3, 3),
                           dtype=torch.float64, requires_grad=True) for k in names]
    assert torch.autograd.gradcheck(f, values)
    assert used(c)


def test_second_derivatives_match_backprop(rng):
    """A backward with create_graph gives the same Hessian as backprop (every order agrees)."""
    c, inputs, weights = closed_form_circuit(6, 24, rng, reupload=True)
    w = torch.tensor(rng.uniform(-3, 3, len(weights)), dtype=torch.float64)
    x = torch.tensor(rng.uniform(-3, 3, (2, 6)), dtype=torch.float64)

    def f(method):
        def g(wv):
            p = dict(zip(weights, wv.unbind(), strict=True))
            p.update(zip(inputs, x.unbind(-1), strict=True))
            return expval(c, ["Z0", "X1"], p, diff_method=method,
                          dtype=torch.complex128).sum()
        return torch.autograd.functional.hessian(g, w)

    np.testing.assert_allclose(f("adjoint").numpy(), f("backprop").numpy(), atol=1e-10)
    assert used(c)


def test_zero_factors_have_gradients():
    """Angles that zero matrix entries (ry(π)) still get exact gradients: no division."""
    c = Circuit(3).ry(0, "a").ry(1, "b").cx(0, 1).ry(0, "c").rx(1, "d").ry(2, "a")
    pi = torch.tensor(np.pi, dtype=torch.float64, requires_grad=True)
    params = {k: pi if k in "ac" else torch.tensor(0.4, dtype=torch.float64,
                                                    requires_grad=True) for k in "abcd"}
    out = {m: torch.autograd.grad(expval(c, ["Z0", "Z1 X0"], params, diff_method=m,
                                         dtype=torch.complex128).sum(), list(params.values()))
           for m in ("adjoint", "backprop")}
    assert used(c)
    for a, b in zip(out["adjoint"], out["backprop"], strict=True):
        assert abs(float(a) - float(b)) < 1e-12


def test_matrix_observables(rng):
    """Hermitian and Projector observables match numpy."""
    c, inputs, weights = closed_form_circuit(3, 15, rng)
    params = shared_weights(inputs, weights, 4, rng, torch.complex128)
    obs, ops = matrix_observables(rng)
    got = expval(c, obs, params, diff_method="adjoint", dtype=torch.complex128)
    assert used(c)
    want = reference_expectations(c, params, ops)
    np.testing.assert_allclose(got.detach().numpy(), want, atol=1e-10)


@pytest.mark.parametrize("circuit", [
    # wires 1 and 4 see no gate before the first entangler: |0> factors between the blocks
    Circuit(6).ry(0, "a").rx(2, "b").ry(3, "b").ry(5, "c").cx(0, 4).rz(4, "d").cz(1, 5),
    # an entangler first: no product-state preparation at all
    Circuit(5).cx(0, 1).ry(0, "a").ch(1, 2).rz(2, "b").crx(3, 4, 0.3).ry(4, "a"),
    # one wire only, and a constant single-qubit gate between parameterized ones
    Circuit(1).h(0).ry(0, "a").t(0).rz(0, "b"),
])
def test_preparations_of_every_shape(circuit, rng):
    """Product states with uncovered wires, none at all, one wire: values and gradients
    match numpy and backprop."""
    params = {k: torch.tensor(rng.uniform(-3, 3, 4), dtype=torch.float64, requires_grad=True)
              for k in circuit.parameters}
    n = circuit.n_qubits
    obs = ["Z0", f"X{n - 1}"]
    got = expval(circuit, obs, params, dtype=torch.complex128)
    assert used(circuit)
    ops = [pauli_operator([(1, {0: "Z"})], n), pauli_operator([(1, {n - 1: "X"})], n)]
    want = reference_expectations(circuit, params, ops)
    np.testing.assert_allclose(got.detach().numpy(), want, atol=1e-10)
    g = torch.randn(4, 2, dtype=torch.float64)
    fast = _grads(circuit, obs, params, "adjoint", torch.complex128, g)
    slow = _grads(circuit, obs, params, "backprop", torch.complex128, g)
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-10)


@pytest.mark.parametrize("circuit", [
    Circuit(2).ry(0, "a").crx(0, 1, "b"),  # a multi-qubit gate with a free parameter
    Circuit(2).ry(0, "a").u(1, "a", "b", 0.3).cx(0, 1),  # several free parameters
    Circuit(fused.FUSED_QUBITS + 1).ry(0, "a"),  # too many qubits
    Circuit(2).h(0).cx(0, 1),  # nothing to differentiate
])
def test_program_refuses_what_it_cannot_take(circuit):
    """Circuits outside the fused path give no program (and run on the general path)."""
    assert fused.program(circuit) is None


def test_stacked_tensors_match_named_parameters(rng):
    """Stacked inputs and weights (as QuantumLayer passes them) give the named path's values
    and gradients."""
    inputs, weights = [f"x{i}" for i in range(6)], [f"w{i}" for i in range(12)]
    c = Circuit(6)
    for layer in range(2):  # re-uploading with bare names: the Stacked fast path takes it
        for i in range(6):
            c.ry(i, inputs[i]).rz(i, weights[6 * layer + i])
        for i in range(6):
            c.cx(i, (i + 1) % 6)
    x = torch.tensor(rng.uniform(-3, 3, (2, 3, 6)), dtype=torch.float64, requires_grad=True)
    w = torch.tensor(rng.uniform(-3, 3, len(weights)), dtype=torch.float64,
                     requires_grad=True)
    named = dict(zip(inputs, x.unbind(-1), strict=True)) | dict(
        zip(weights, w.unbind(), strict=True))
    outs = [expval(c, ["Z0", "X3"], p, dtype=torch.complex128)
            for p in (Stacked((inputs, x), (weights, w)), named)]
    assert used(c)
    assert outs[0].shape == outs[1].shape == (2, 3, 2)
    grads = [torch.autograd.grad(o.sum(), [x, w]) for o in outs]
    torch.testing.assert_close(outs[0], outs[1], atol=1e-12, rtol=0)
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


def test_unused_batch_rows_repeat():
    """A batch that reaches no gate (all angles shared) still gives one row per item."""
    c = Circuit(2).ry(0, "w").cx(0, 1).rz(1, 0 * Sym("x") + 0.2)
    x = torch.zeros(3, dtype=torch.float64)
    w = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    out = expval(c, ["Z1"], {"w": w, "x": x}, dtype=torch.complex128)
    assert used(c)
    assert out.shape == (3, 1)
    (gw,) = torch.autograd.grad(out.sum(), w)
    assert abs(float(gw) - 3 * -np.sin(0.3)) < 1e-12


def test_multiplied_products_match_gathered_ones(rng, monkeypatch):
    """Without leave-one-out indices the gradients are the same: the products of all
    factors but one from the products before and after each factor."""
    c, inputs, weights = closed_form_circuit(6, 30, rng)
    # Shared inputs: the preparation's blocks are then shared, the ones with a gathered index.
    params = {name: torch.tensor(0.3 * i - 0.7, dtype=torch.float64, requires_grad=True)
              for i, name in enumerate(inputs + weights)}

    def grads(circuit):
        out = expval(circuit, ["Z0", "X2"], params, dtype=torch.complex128)
        return torch.autograd.grad(out.sum(), list(params.values()), allow_unused=True)

    gathered = grads(c)
    assert any(g.kron_others is not None for lay in fused.program(c).layouts.values()
               for g in lay.groups)
    monkeypatch.setattr(tables, "OTHERS_INDEX", 0)
    c = c.copy()  # a new circuit object: a new program and layout, built without them
    multiplied = grads(c)
    assert all(g.kron_others is None for lay in fused.program(c).layouts.values()
               for g in lay.groups if g.width > 1)
    for a, b in zip(gathered, multiplied, strict=True):
        if a is not None:
            assert torch.allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_trace_pattern_sums_to_partial_traces(width, rng):
    """The trace pattern's entries of a random K×K matrix sum to numpy's partial trace down to
    each wire (the block gradients rest on it)."""
    k = 2**width
    m = rng.normal(size=(k, k)) + 1j * rng.normal(size=(k, k))
    picked = m.reshape(-1)[fused._trace_pattern(width)].sum(-1)
    letters = "abcdefgh"
    for w in range(width):
        rows = letters[:width]
        cols = rows[:w] + "z" + rows[w + 1:]
        expected = np.einsum(f"{rows}{cols}->{rows[w]}z", m.reshape((2,) * (2 * width)))
        np.testing.assert_allclose(picked[w], expected, atol=1e-12)


def test_no_warnings(rng):
    """A QuantumLayer step on the fused path warns about nothing (its checks read detached
    values)."""
    import warnings

    from qdl.nn import QuantumLayer

    c, inputs, _ = closed_form_circuit(6, 20, rng)  # bare names: the Stacked fast path
    layer = QuantumLayer(c, ["Z0", "Z3"], inputs=inputs)
    always = torch.is_warn_always_enabled()
    torch.set_warn_always(True)  # torch warns once per process: an earlier test may have
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            layer(torch.randn(4, 6)).sum().backward()
    finally:
        torch.set_warn_always(always)
    assert used(c)
