"""Gradients of expval: every diff method against numpy central differences of the reference."""

from __future__ import annotations

import math

import helpers as ref
import numpy as np
import pytest
import torch
from conftest import BATCHES

import qdl
from qdl import Circuit, QDLError
from qdl.expr import Sym, func
from qdl.grad import Stacked, expval

METHODS = ["backprop", "adjoint", "parameter-shift", "finite-diff", "best"]
# Gradient agreement with the reference in complex128; finite-diff is itself approximate.
GRAD_ATOL = {"finite-diff": 1e-5}
OBS = [
    ("Z0", [(1.0, {0: "Z"})]),
    ("X1 Y2", [(1.0, {1: "X", 2: "Y"})]),
    ("0.5 Z0 Z2 + -1.2 X0", [(0.5, {0: "Z", 2: "Z"}), (-1.2, {0: "X"})]),
]


def _ops(n: int) -> list[np.ndarray]:
    return [ref.pauli_operator(terms, n) for _, terms in OBS]


def _values(c: Circuit, batch: tuple[int, ...], rng: np.random.Generator) -> dict:
    """The first, third... parameters carry the batch; the others are scalars."""
    return {n: rng.uniform(-math.pi, math.pi, batch if i % 2 == 0 else ())
            for i, n in enumerate(c.parameters)}


def _qdl_grads(c, values, weights, method, dtype=torch.complex128, obs=None):
    """Gradients of Σ weights · expval with respect to each parameter tensor."""
    real = torch.float64 if dtype == torch.complex128 else torch.float32
    tensors = {k: torch.tensor(v, dtype=real, requires_grad=True) for k, v in values.items()}
    out = qdl.expval(c, obs or [t for t, _ in OBS], tensors, diff_method=method, dtype=dtype)
    assert out.shape == weights.shape
    (out * torch.tensor(weights, dtype=real)).sum().backward()
    return {k: t.grad.numpy() for k, t in tensors.items()}


def _ref_grads(c, values, weights, ops):
    """Central differences of Σ weights · <O> on the dense reference, one entry at a time."""

    def loss(name, x):
        v = dict(values)
        v[name] = x
        psi = ref.batched_state(c, v)
        return np.sum(np.stack([ref.expectation(psi, o) for o in ops], -1) * weights)

    return {name: ref.central_diff(lambda x, name=name: loss(name, x), np.asarray(val))
            .reshape(np.shape(val)) for name, val in values.items()}


def _check(c, values, method, rng, dtype=torch.complex128, atol=None, obs=OBS):
    shape, _ = ref.batched_envs(values)
    weights = rng.normal(size=(*shape, len(obs)))
    got = _qdl_grads(c, values, weights, method, dtype, [t for t, _ in obs])
    want = _ref_grads(c, values, weights, [ref.pauli_operator(t, c.n_qubits) for _, t in obs])
    tol = atol if atol is not None else GRAD_ATOL.get(method, 1e-6)
    for name in values:
        assert got[name].shape == np.shape(values[name])
        np.testing.assert_allclose(got[name], want[name], atol=tol, err_msg=f"d/d{name}")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("batch", BATCHES, ids=str)
@pytest.mark.parametrize("seed", range(2))
def test_random_circuits(method, batch, seed):
    """Random circuits (expressions, ctrl modifiers, every gate): gradients match the reference."""
    rng = np.random.default_rng(50 + seed)
    c = ref.random_circuit(3, rng, depth=12)
    _check(c, _values(c, batch, rng), method, rng)


@pytest.mark.parametrize("method", METHODS)
def test_complex64_gradients(method, rng):
    """In complex64 every method still matches the reference to single-precision accuracy."""
    c = ref.random_circuit(3, np.random.default_rng(77), depth=10, max_ctrl=0)
    _check(c, _values(c, (3,), rng), method, rng, dtype=torch.complex64, atol=2e-3)


def _shared_and_expressions() -> Circuit:
    t = Sym("t")
    return (Circuit(3).ry(0, t).rx(1, t).crz(0, 1, t).rzz(1, 2, t)
            .ry(2, 2 * t + 0.1).rx(0, func("sin", t)).cry(2, 0, t * Sym("s") - 0.3)
            .rz(1, Sym("s")))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("batch", BATCHES, ids=str)
def test_shared_parameter_and_expressions(method, batch, rng):
    """A parameter used by many gates, inside 2*t+0.1, sin(t) and t*s − 0.3."""
    c = _shared_and_expressions()
    values = {"t": rng.uniform(-3, 3, batch), "s": rng.uniform(-3, 3)}
    _check(c, values, method, rng)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("gate", ["crx", "cry", "crz", "cp"])
def test_controlled_rotations_four_term_rule(method, gate, rng):
    """Named controlled rotations (frequencies 1/2 and 1) differentiate exactly."""
    c = Circuit(3).h(0).ry(1, 0.4).ry(2, 1.1).add(gate, [0, 1], ["a"]).add(gate, [2, 0], ["b"])
    c.add(gate, [1, 2], [2 * Sym("a") - 0.2])
    _check(c, {"a": rng.uniform(-3, 3, (3,)), "b": rng.uniform(-3, 3)}, method, rng)


@pytest.mark.parametrize("method", METHODS)
def test_multi_parameter_gates(method, rng):
    """u, u2 and cu3 depend on several parameters; each gets its own gradient."""
    c = (Circuit(3).h(0).h(2).u(1, "a", "b", "c").u2(0, "b", "a").add("cu3", [1, 2], ["c", "a",
                                                                                        "b"])
         .u(0, Sym("a") * 2, 0.3, Sym("c")))
    values = {"a": rng.uniform(-3, 3, (2, 3)), "b": rng.uniform(-3, 3), "c": rng.uniform(-3, 3)}
    _check(c, values, method, rng)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("gate", "n_wires", "ctrl", "n_params"),
    [("rx", 1, 1, 1), ("ry", 1, 2, 1), ("rz", 1, 1, 1), ("rzz", 2, 1, 1), ("u", 1, 1, 3),
     ("crx", 2, 1, 1), ("p", 1, 1, 1)],
    ids=["c-rx", "cc-ry", "c-rz", "c-rzz", "c-u", "c-crx", "c-p"],
)
def test_ctrl_modified_rotations(method, gate, n_wires, ctrl, n_params, rng):
    """ctrl @ rotation: the control adds frequency 1/2 (the four-term rule is needed)."""
    n = 4
    c = Circuit(n)
    for w in range(n):
        c.h(w).ry(w, 0.3 * (w + 1)).rz(w, 0.5 - 0.4 * w)
    names = ["a", "b", "c"][:n_params]
    wires = [int(w) for w in rng.permutation(n)[: n_wires + ctrl]]
    c.add(gate, wires, names, ctrl=ctrl)
    values = {k: rng.uniform(-3, 3, (3,)) for k in names}
    # X/Y on every wire, so the control's 1/2-frequency cross terms show up in <O>.
    obs = [("X0 Y1 Z2 X3 + 0.5 Y0 + X1 - 0.7 Y2 + X3",
            [(1.0, {0: "X", 1: "Y", 2: "Z", 3: "X"}), (0.5, {0: "Y"}), (1.0, {1: "X"}),
             (-0.7, {2: "Y"}), (1.0, {3: "X"})]),
           ("Y0 X1 Y2 Y3 + Z0 X2", [(1.0, {0: "Y", 1: "X", 2: "Y", 3: "Y"}),
                                    (1.0, {0: "Z", 2: "X"})])]
    _check(c, values, method, rng, obs=obs)


@pytest.mark.parametrize("method", METHODS)
def test_broadcast_batch_gradients(method, rng):
    """Parameters of shapes (2, 1) and (3,) broadcast; each gets a gradient of its own shape."""
    c = Circuit(3).ry(0, "a").rx(1, "b").cx(0, 2).crz(1, 2, "a").ry(2, Sym("a") + Sym("b"))
    values = {"a": rng.uniform(-3, 3, (2, 1)), "b": rng.uniform(-3, 3, (3,))}
    _check(c, values, method, rng)


@pytest.mark.parametrize("method", ["adjoint", "parameter-shift", "backprop"])
def test_gradcheck(method):
    """torch.autograd.gradcheck passes in complex128 (batched and scalar inputs)."""
    c = ref.random_circuit(3, np.random.default_rng(9), depth=10, names=("a", "b"), max_ctrl=0)
    obs = [t for t, _ in OBS]

    def f(a, b):
        return qdl.expval(c, obs, {"a": a, "b": b}, diff_method=method, dtype=torch.complex128)

    a = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64, requires_grad=True)
    b = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(f, (a, b))


@pytest.mark.parametrize("method", METHODS)
def test_gradients_reach_a_linear_layer(method, rng):
    """A quantum step after nn.Linear: gradients reach the Linear weights and bias."""
    torch.manual_seed(0)
    linear = torch.nn.Linear(2, 3, dtype=torch.float64)
    x = torch.tensor(rng.normal(size=(4, 2)))
    c = (Circuit(3).ry(0, "a").rx(1, "b").cx(0, 1).crz(1, 2, "c").u(2, "a", "b", "c")
         .ry(0, 2 * Sym("c") + 0.1))
    weights = rng.normal(size=(4, len(OBS)))
    angles = linear(x)
    out = qdl.expval(c, [t for t, _ in OBS], {"a": angles[:, 0], "b": angles[:, 1],
                                              "c": angles[:, 2]},
                     diff_method=method, dtype=torch.complex128)
    (out * torch.tensor(weights)).sum().backward()

    ops = _ops(3)
    xn = x.numpy()

    def loss(w_flat, b):
        p = xn @ w_flat.reshape(3, 2).T + b
        psi = ref.batched_state(c, {"a": p[:, 0], "b": p[:, 1], "c": p[:, 2]})
        return np.sum(np.stack([ref.expectation(psi, o) for o in ops], -1) * weights)

    w0 = linear.weight.detach().numpy().reshape(-1)
    b0 = linear.bias.detach().numpy()
    gw = ref.central_diff(lambda w: loss(w, b0), w0).reshape(3, 2)
    gb = ref.central_diff(lambda b: loss(w0, b), b0).reshape(3)
    tol = GRAD_ATOL.get(method, 1e-6)
    np.testing.assert_allclose(linear.weight.grad.numpy(), gw, atol=tol)
    np.testing.assert_allclose(linear.bias.grad.numpy(), gb, atol=tol)


def test_var_gradient_by_backprop(rng):
    """var is differentiable; its gradient matches central differences of the reference."""
    c = Circuit(2).ry(0, "a").rx(1, "b").cx(0, 1).rz(1, Sym("a") * 0.5)
    values = {"a": rng.uniform(-3, 3, (3,)), "b": rng.uniform(-3, 3)}
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in values.items()}
    qdl.var(c, ["X1 + Z0"], tensors, dtype=torch.complex128).sum().backward()
    o = ref.pauli_operator([(1.0, {1: "X"}), (1.0, {0: "Z"})], 2)

    def loss(name, x):
        v = dict(values)
        v[name] = x
        psi = ref.batched_state(c, v)
        return np.sum(ref.expectation(psi, o @ o) - ref.expectation(psi, o) ** 2)

    for name, val in values.items():
        want = ref.central_diff(lambda x, name=name: loss(name, x), np.asarray(val))
        np.testing.assert_allclose(tensors[name].grad.numpy(), want.reshape(np.shape(val)),
                                   atol=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_no_grad_inputs_give_plain_values(method):
    """With float parameters there is nothing to differentiate and the values are exact."""
    c = Circuit(2).ry(0, "a").cx(0, 1)
    out = qdl.expval(c, ["Z1"], {"a": 0.3}, diff_method=method, dtype=torch.complex128)
    assert not out.requires_grad
    assert out.item() == pytest.approx(math.cos(0.3), abs=1e-12)


def test_unknown_diff_method():
    """An unknown diff_method raises QDLError listing the valid names."""
    with pytest.raises(QDLError, match=r"unknown diff_method 'magic'.*adjoint"):
        qdl.expval(Circuit(1).rx(0, "a"), ["Z0"], {"a": 0.1}, diff_method="magic")


@pytest.mark.parametrize("method", ["adjoint", "backprop"])
def test_shots_need_a_sampling_method(method):
    """Shots with adjoint (or backprop) raise QDLError pointing to parameter-shift."""
    with pytest.raises(QDLError, match="parameter-shift"):
        qdl.expval(Circuit(1).rx(0, "a"), ["Z0"], {"a": 0.1}, diff_method=method, shots=100)


@pytest.mark.parametrize("batch", [(), (3,)], ids=str)
def test_shot_parameter_shift_within_five_sigma(batch, rng):
    """Shot-based parameter-shift gradients lie within 5 standard errors of the exact ones."""
    c = Circuit(2).ry(0, "a").rx(1, "b").cx(0, 1).ry(1, "c")
    values = {k: rng.uniform(-2.5, 2.5, batch) for k in "abc"}
    shots = 20000
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in values.items()}
    out = qdl.expval(c, ["Z1"], tensors, diff_method="parameter-shift", shots=shots, seed=11,
                     dtype=torch.complex128)
    out.sum().backward()
    z1 = ref.pauli_operator([(1.0, {1: "Z"})], 2)
    exact = _ref_grads(c, values, np.ones((*batch, 1)), [z1])
    for name in "abc":
        # rule: ½ (f(θ+π/2) − f(θ−π/2)), each f a mean of `shots` ±1 outcomes
        variance = 0.0
        for sign in (1, -1):
            v = dict(values)
            v[name] = values[name] + sign * math.pi / 2
            mean = ref.expectation(ref.batched_state(c, v), z1)
            variance = variance + 0.25 * (1 - mean**2) / shots
        se = np.sqrt(variance)
        err = np.abs(tensors[name].grad.numpy() - exact[name])
        assert np.all(err <= 5 * se + 1e-9), (name, err, se)


def _chunk_circuit() -> Circuit:
    return (Circuit(3).ry(0, "a").rx(1, "b").cx(0, 1).crz(1, 2, "a").h(2)
            .u(2, "b", "a", 0.3).cz(0, 2))


@pytest.mark.parametrize("method", ["adjoint", "backprop", "parameter-shift", "finite-diff"])
def test_chunked_equals_unchunked(method, dtype, atol):
    """chunk_size splits the batch; values and gradients equal one unchunked call."""
    circuit = _chunk_circuit()
    real = torch.float64 if dtype == torch.complex128 else torch.float32
    a = torch.linspace(-2, 2, 7, dtype=real).requires_grad_()
    b = torch.tensor(0.4, dtype=real, requires_grad=True)
    results = []
    for size in (None, 3):
        out = qdl.expval(circuit, ["Z0", "X1 Y2"], {"a": a, "b": b}, diff_method=method,
                         dtype=dtype, chunk_size=size)
        grads = torch.autograd.grad((out * torch.arange(1.0, 3.0, dtype=real)).sum(), [a, b])
        results.append((out.detach(), *grads))
    for full, chunked in zip(results[0], results[1], strict=True):
        torch.testing.assert_close(chunked, full, atol=atol, rtol=0)


def test_batch_that_does_not_fit_runs_in_chunks(monkeypatch):
    """With memory for 3 items only, a batch of 8 runs as chunks of 3 with the same result."""
    import qdl.grad
    import qdl.sim.core

    circuit = _chunk_circuit()
    a = torch.linspace(-1, 1, 8, dtype=torch.float64)
    expected = qdl.expval(circuit, ["Z2"], {"a": a, "b": 0.1}, dtype=torch.complex128)
    per_item = qdl.sim.core.STATE_COPIES * 16 * 2**3
    monkeypatch.setattr(qdl.sim.core, "SMALL_BYTES", 0)  # check even tiny runs
    monkeypatch.setattr(qdl.sim.core, "_free_bytes", lambda device: 3.5 * per_item)
    sizes = []
    evaluate = qdl.grad._evaluate

    def spy(circuit, obs, bound, *args, **kwargs):
        sizes.append(bound.batch)
        return evaluate(circuit, obs, bound, *args, **kwargs)

    monkeypatch.setattr(qdl.grad, "_evaluate", spy)
    got = qdl.expval(circuit, ["Z2"], {"a": a, "b": 0.1}, dtype=torch.complex128)
    assert sizes == [3, 3, 2]
    torch.testing.assert_close(got, expected, atol=1e-12, rtol=0)
    monkeypatch.setattr(qdl.sim.core, "_free_bytes", lambda device: 0.5 * per_item)
    with pytest.raises(QDLError, match=r"needs .* but only"):
        qdl.expval(circuit, ["Z2"], {"a": a, "b": 0.1}, dtype=torch.complex128)


@pytest.mark.parametrize("size", [0, -1, 2.5, True])
def test_bad_chunk_size(size):
    """chunk_size must be a positive int."""
    with pytest.raises(QDLError, match="chunk_size"):
        qdl.expval(_chunk_circuit(), ["Z0"], {"a": torch.zeros(3), "b": 0.0}, chunk_size=size)


# Higher-order derivatives: every method differentiates its own gradient correctly.

EXACT = ["backprop", "adjoint", "parameter-shift", "best"]


def _hessian_circuit() -> Circuit:
    """Inputs x (batched) and weights w, v (shared, inside expressions and controlled gates)."""
    x, w, v = Sym("x"), Sym("w"), Sym("v")
    return (Circuit(3).ry(0, x).rx(1, 2 * x + 0.1).h(2).cx(0, 1).crz(1, 2, w).u(0, w, v, x)
            .rzz(0, 2, v * x).cry(2, 0, func("sin", w)).rx(2, v))


def _loss(method, dtype=torch.complex128):
    obs = ["Z0", "X1 Y2 + 0.5 Z2", "-1 Z1 Z2"]
    weights = torch.tensor([0.7, -1.3, 0.4], dtype=torch.float64)

    def loss(x, w, v):
        out = qdl.expval(_hessian_circuit(), obs, {"x": x, "w": w, "v": v},
                         diff_method=method, dtype=dtype)
        return (out * weights).sum()

    return loss


def _hvp(method, point, direction):
    """(H·u) of the loss at ``point`` by two backward passes, the second through the first."""
    args = [p.clone().requires_grad_(True) for p in point]
    grads = torch.autograd.grad(_loss(method)(*args), args, create_graph=True)
    inner = sum((g * u).sum() for g, u in zip(grads, direction, strict=True))
    return torch.autograd.grad(inner, args)


def _point(rng, batch):
    x = torch.tensor(rng.uniform(-2, 2, batch), dtype=torch.float64)
    return [x, torch.tensor(rng.uniform(-2, 2), dtype=torch.float64),
            torch.tensor(rng.uniform(-2, 2), dtype=torch.float64)]


def _ref_loss(point) -> float:
    """The same loss on the dense numpy reference."""
    values = {"x": point[0].numpy(), "w": float(point[1]), "v": float(point[2])}
    psi = ref.batched_state(_hessian_circuit(), values)
    ops = [ref.pauli_operator([(1.0, {0: "Z"})], 3),
           ref.pauli_operator([(1.0, {1: "X", 2: "Y"}), (0.5, {2: "Z"})], 3),
           ref.pauli_operator([(-1.0, {1: "Z", 2: "Z"})], 3)]
    out = np.stack([ref.expectation(psi, o) for o in ops], -1)
    return float(np.sum(out * np.array([0.7, -1.3, 0.4])))


@pytest.mark.parametrize("method", [*EXACT, "finite-diff"])
@pytest.mark.parametrize("batch", [(), (3,)], ids=str)
def test_second_derivatives_match_reference(method, batch, rng):
    """u·H·u (inputs, weights and mixed) equals second differences of the numpy reference."""
    point = _point(rng, batch)
    for _ in range(2):
        u = [torch.tensor(rng.normal(size=p.shape), dtype=torch.float64) for p in point]
        hu = _hvp(method, point, u)
        got = sum(float((a * b).sum()) for a, b in zip(hu, u, strict=True))
        h = 1e-4
        want = (_ref_loss([p + h * d for p, d in zip(point, u, strict=True)]) - 2 * _ref_loss(
            point) + _ref_loss([p - h * d for p, d in zip(point, u, strict=True)])) / h**2
        tol = 1e-3 if method == "finite-diff" else 1e-5
        assert got == pytest.approx(want, abs=tol * max(1.0, abs(want)))


@pytest.mark.parametrize("method", ["adjoint", "parameter-shift", "best", "finite-diff"])
def test_hessian_blocks_agree_with_backprop(method, rng):
    """Every block of the Hessian (x-x, x-w, w-w, batched) equals backprop's."""
    point = _point(rng, (2,))
    want = torch.autograd.functional.hessian(_loss("backprop"), tuple(point))
    got = torch.autograd.functional.hessian(_loss(method), tuple(point))
    tol = 1e-4 if method == "finite-diff" else 1e-9
    for row_got, row_want in zip(got, want, strict=True):
        for a, b in zip(row_got, row_want, strict=True):
            torch.testing.assert_close(a, b, atol=tol, rtol=0)


@pytest.mark.parametrize("method", EXACT)
def test_gradgradcheck(method, rng):
    """torch.autograd.gradgradcheck passes for every exact method (weights and inputs)."""
    point = tuple(p.requires_grad_(True) for p in _point(rng, (2,)))
    assert torch.autograd.gradgradcheck(_loss(method), point, atol=1e-6)


@pytest.mark.parametrize("method", EXACT)
def test_third_derivative_is_exact(method):
    """d³<Z>/dθ³ of RX(θ)|0> is sin θ: differentiable to every order, not only the second."""
    theta = torch.tensor(0.83, dtype=torch.float64, requires_grad=True)
    f = qdl.expval(Circuit(1).rx(0, "t"), "Z0", {"t": theta}, diff_method=method,
                   dtype=torch.complex128).sum()
    d1 = torch.autograd.grad(f, theta, create_graph=True)[0]
    d2 = torch.autograd.grad(d1, theta, create_graph=True)[0]
    (d3,) = torch.autograd.grad(d2, theta)
    assert [d1.item(), d2.item(), d3.item()] == pytest.approx(
        [-math.sin(0.83), -math.cos(0.83), math.sin(0.83)], abs=1e-10)


# torch.func transforms and torch.compile.

ALL = ["backprop", "adjoint", "parameter-shift", "finite-diff", "best"]


def _func_circuit() -> Circuit:
    return (Circuit(3).ry(0, "a").rx(1, 2 * Sym("b") - 0.3).cx(0, 1).crz(1, 2, "a")
            .u(2, "b", 0.2, Sym("a") * Sym("b")).cx(2, 0))


def _f(method, noise=None):
    def f(ab):
        out = qdl.expval(_func_circuit(), ["Z0", "X1 Z2"], {"a": ab[0], "b": ab[1]},
                         diff_method=method, dtype=torch.complex128, noise=noise)
        return out
    return f


@pytest.mark.parametrize("method", ALL)
def test_vmap_equals_loop(method, rng):
    """torch.func.vmap over expval gives the values of a loop over the batch, every method."""
    points = torch.tensor(rng.uniform(-2, 2, (4, 2)))
    got = torch.func.vmap(_f(method))(points)
    want = torch.stack([_f(method)(p) for p in points])
    torch.testing.assert_close(got, want, atol=1e-12, rtol=0)


@pytest.mark.parametrize("method", ALL)
@pytest.mark.parametrize("transform", ["grad", "jacrev", "jacfwd", "vmap-grad"])
def test_func_transforms_equal_autograd(method, transform, rng):
    """grad, jacrev, jacfwd and vmap(grad) equal autograd's derivatives, every method."""
    points = torch.tensor(rng.uniform(-2, 2, (3, 2)))

    def scalar(ab):
        return (_f(method)(ab) * torch.tensor([0.6, -1.1], dtype=torch.float64)).sum()

    want_grad = torch.stack([torch.autograd.functional.jacobian(scalar, p) for p in points])
    want_jac = torch.stack([torch.autograd.functional.jacobian(_f("backprop"), p)
                            for p in points])
    if transform == "vmap-grad":
        torch.testing.assert_close(torch.func.vmap(torch.func.grad(scalar))(points), want_grad)
    elif transform == "grad":
        torch.testing.assert_close(torch.func.grad(scalar)(points[0]), want_grad[0])
    else:
        jac = getattr(torch.func, transform)(_f(method))(points[0])
        torch.testing.assert_close(jac, want_jac[0])


def test_vmap_with_noise_and_refusal_of_shots():
    """vmap runs density matrices too; shots inside a transform are a QDLError."""
    from qdl.noise import NoiseModel, depolarizing

    noise = NoiseModel().add("cx", depolarizing(0.1))
    points = torch.tensor([[0.3, -0.2], [1.1, 0.7]], dtype=torch.float64)
    got = torch.func.vmap(_f("best", noise))(points)
    torch.testing.assert_close(got, torch.stack([_f("best", noise)(p) for p in points]))

    def sampled(ab):
        return qdl.expval(_func_circuit(), "Z0", {"a": ab[0], "b": ab[1]}, shots=100)

    with pytest.raises(QDLError, match="shots cannot be drawn inside torch"):
        torch.func.vmap(sampled)(points)


def test_compile_fullgraph_without_graph_breaks():
    """torch.compile(fullgraph=True) traces expval with no graph break; values and gradients
    equal eager mode."""
    ab = torch.tensor([0.4, -1.2], dtype=torch.float64, requires_grad=True)
    compiled = torch.compile(_f("best"), fullgraph=True, backend="eager")
    out = compiled(ab)
    (g,) = torch.autograd.grad(out.sum(), ab)
    want = _f("best")(ab)
    (g_want,) = torch.autograd.grad(want.sum(), ab)
    torch.testing.assert_close(out, want)
    torch.testing.assert_close(g, g_want)


def test_var_with_shots_near_exact_for_words_and_sums(rng):
    """var(shots=N) estimates <O²> − <O>² from shots (O² by Pauli algebra) for words and
    sums of words, near the exact variance."""
    c = Circuit(2).ry(0, "a").cx(0, 1).rx(1, "b")
    params = {"a": torch.tensor(rng.uniform(-2, 2, 4)), "b": 0.4}
    exact = qdl.var(c, ["Z0", "0.5 X1 + 2", "Y0 Z1"], params, dtype=torch.complex128)
    est = qdl.var(c, ["Z0", "0.5 X1 + 2", "Y0 Z1"], params, shots=200_000, seed=3,
                  dtype=torch.complex128)
    torch.testing.assert_close(est, exact, atol=0.01, rtol=0)
    sums = ["Z0 + X1", "0.5 Z0 Z1 + -1 Y1 + 0.3"]
    exact = qdl.var(c, sums, params, dtype=torch.complex128)
    est = qdl.var(c, sums, params, shots=200_000, seed=4, dtype=torch.complex128)
    torch.testing.assert_close(est, exact, atol=0.02, rtol=0)


def test_noisy_hessian_parameter_shift_equals_backprop(rng):
    """With a noise model, the shift rule's Hessian equals backprop's through density
    matrices."""
    from qdl.noise import NoiseModel, amplitude_damping, depolarizing

    noise = NoiseModel().add("cx", depolarizing(0.05)).add(None, amplitude_damping(0.1))

    def loss(method):
        def f(ab):
            out = qdl.expval(_func_circuit(), ["Z0", "X1 Z2"], {"a": ab[0], "b": ab[1]},
                             diff_method=method, dtype=torch.complex128, noise=noise)
            return (out * torch.tensor([0.6, -1.1], dtype=torch.float64)).sum()
        return f

    point = torch.tensor(rng.uniform(-2, 2, 2))
    want = torch.autograd.functional.hessian(loss("backprop"), point)
    got = torch.autograd.functional.hessian(loss("parameter-shift"), point)
    torch.testing.assert_close(got, want, atol=1e-10, rtol=0)


def test_finite_diff_refuses_third_order():
    """Third differences are rounding noise: finite-diff refuses a third order, by name."""
    theta = torch.tensor(0.83, dtype=torch.float64, requires_grad=True)
    f = qdl.expval(Circuit(1).rx(0, "t"), "Z0", {"t": theta}, diff_method="finite-diff",
                   dtype=torch.complex128).sum()
    d1 = torch.autograd.grad(f, theta, create_graph=True)[0]
    d2 = torch.autograd.grad(d1, theta, retain_graph=True)[0]
    assert d2.item() == pytest.approx(-math.cos(0.83), abs=1e-4)
    with pytest.raises(QDLError, match="first and second derivatives only"):
        torch.autograd.grad(d1, theta, create_graph=True)  # the way to a third order


# States as inputs.

def _psi(rng, shape, n):
    psi = rng.normal(size=(*shape, 2**n)) + 1j * rng.normal(size=(*shape, 2**n))
    return psi / np.linalg.norm(psi, axis=-1, keepdims=True)


def _ref_expvals(c, a, psi, ops):
    """<O> for U(a)·ψ, per batch row, from dense matrices."""
    out = []
    for ai, p in zip(a, psi, strict=True):
        phi = ref.circuit_unitary(c, {"a": ai, "b": 0.3}) @ p
        out.append([ref.expectation(phi, o) for o in ops])
    return np.array(out)


@pytest.mark.parametrize("method", METHODS)
def test_expval_from_initial_state_values_and_angle_gradients(method, rng):
    """Values and d/d(angle) with an initial state match the numpy reference, every method."""
    c = Circuit(3).ry(0, "a").crx(0, 1, Sym("a") * 2).rz(2, "b").cx(2, 0).u(1, "a", "b", 0.1)
    psi = _psi(rng, (4,), 3)
    a = rng.uniform(-2, 2, 4)
    ops = _ops(3)
    at = torch.tensor(a, requires_grad=True)
    out = qdl.expval(c, [t for t, _ in OBS], {"a": at, "b": 0.3}, diff_method=method,
                     dtype=torch.complex128, initial_state=torch.tensor(psi))
    np.testing.assert_allclose(out.detach().numpy(), _ref_expvals(c, a, psi, ops), atol=1e-10)
    out.sum().backward()
    want = ref.central_diff(lambda x: _ref_expvals(c, x, psi, ops).sum(), a).reshape(a.shape)
    np.testing.assert_allclose(at.grad.numpy(), want, atol=GRAD_ATOL.get(method, 1e-6))


@pytest.mark.parametrize("method", ["backprop", "adjoint", "best"])
def test_gradient_reaches_the_initial_state(method, rng):
    """dL/dψ (real and imaginary parts) equals central differences of the numpy reference."""
    c = Circuit(2).ry(0, "a").cx(0, 1).rx(1, "b")
    psi = _psi(rng, (3,), 2)
    a = rng.uniform(-2, 2, 3)
    ops = [ref.pauli_operator([(1.0, {0: "Z"})], 2),
           ref.pauli_operator([(0.7, {0: "X", 1: "Y"})], 2)]
    weights = rng.normal(size=(3, 2))
    p = torch.tensor(psi, requires_grad=True)
    out = qdl.expval(c, ["Z0", "0.7 X0 Y1"], {"a": torch.tensor(a), "b": 0.3},
                     diff_method=method, dtype=torch.complex128, initial_state=p)
    (out * torch.tensor(weights)).sum().backward()

    def loss(flat):  # unnormalised ψ is fine for the reference's bilinear form
        z = flat[: psi.size].reshape(psi.shape) + 1j * flat[psi.size:].reshape(psi.shape)
        return (_ref_expvals(c, a, z, ops) * weights).sum()

    g = ref.central_diff(loss, np.concatenate([psi.real.ravel(), psi.imag.ravel()])).ravel()
    want = g[: psi.size].reshape(psi.shape) + 1j * g[psi.size:].reshape(psi.shape)
    np.testing.assert_allclose(p.grad.numpy(), want, atol=1e-6)


def test_shift_rules_refuse_a_state_that_requires_grad():
    """parameter-shift and finite-diff cannot differentiate ψ: a QDLError, not a zero."""
    psi = torch.tensor([0.6, 0.8], dtype=torch.complex64, requires_grad=True)
    for method in ("parameter-shift", "finite-diff"):
        with pytest.raises(QDLError, match="not the initial state"):
            qdl.expval(Circuit(1).rx(0, "a"), "Z0", {"a": 0.2}, diff_method=method,
                       initial_state=psi)


def test_density_matrices_as_initial_states_on_the_noisy_path(rng):
    """With a noise model, ρ inputs (and ψ inputs as |ψ><ψ|) match Kraus maps in numpy."""
    from qdl.noise import NoiseModel, amplitude_damping

    c = Circuit(2).ry(0, "a").cx(0, 1)
    psi = _psi(rng, (2,), 2)
    rho = np.einsum("bi,bj->bij", psi, psi.conj()) * 0.5 + 0.5 * np.eye(4) / 4
    g = 0.3
    k0, k1 = np.array([[1, 0], [0, np.sqrt(1 - g)]]), np.array([[0, np.sqrt(g)], [0, 0]])
    noise = NoiseModel().add("cx", amplitude_damping(g))
    u = ref.circuit_unitary(c, {"a": 0.4})
    z0 = ref.pauli_operator([(1.0, {0: "Z"})], 2)
    for start in (rho, np.einsum("bi,bj->bij", psi, psi.conj())):
        out = start
        out = np.einsum("ij,bjk,lk->bil", u, out, u.conj())
        for k in range(2):  # amplitude damping on each wire of the cx, after it
            ka = [np.kron(m, np.eye(2)) if k == 0 else np.kron(np.eye(2), m) for m in (k0, k1)]
            out = sum(np.einsum("ij,bjk,lk->bil", m, out, m.conj()) for m in ka)
        want = np.einsum("bij,ji->b", out, z0).real
        got_rho = qdl.expval(c, "Z0", {"a": 0.4}, noise=noise, dtype=torch.complex128,
                             initial_state=torch.tensor(start))[:, 0]
        np.testing.assert_allclose(got_rho.numpy(), want, atol=1e-12)
    got_psi = qdl.expval(c, "Z0", {"a": 0.4}, noise=noise, dtype=torch.complex128,
                         initial_state=torch.tensor(psi))[:, 0]
    np.testing.assert_allclose(got_psi.numpy(), want, atol=1e-12)


def test_var_from_initial_state(rng):
    """var(initial_state=ψ) is <O²> − <O>² of U·ψ."""
    c = Circuit(2).ry(0, "a").cx(0, 1)
    psi = _psi(rng, (3,), 2)
    phi = psi @ ref.circuit_unitary(c, {"a": 0.5}).T
    o = ref.pauli_operator([(0.5, {0: "X"}), (1.0, {1: "Z"})], 2)
    want = ref.expectation(phi, o @ o) - ref.expectation(phi, o) ** 2
    got = qdl.var(c, "0.5 X0 + Z1", {"a": 0.5}, dtype=torch.complex128,
                  initial_state=torch.tensor(psi))[:, 0]
    np.testing.assert_allclose(got.numpy(), want, atol=1e-12)


# Observable kinds beyond Pauli strings.

def _kinds_circuit() -> Circuit:
    return (Circuit(3).ry(0, "a").crx(0, 1, Sym("a") * 2).rz(2, "b").h(2).cx(2, 0)
            .u(1, "a", "b", 0.1))


def _kinds(rng):
    """Each kind with its dense 8x8 matrix (built here with numpy)."""
    h2 = ref.random_hermitian(4, rng)
    h1 = ref.random_hermitian(2, rng)
    proj = np.zeros((8, 8))
    proj[0b101, 0b101] = 1
    sparse_m = ref.random_hermitian(8, rng) * (rng.random((8, 8)) < 0.4)
    sparse_m = (sparse_m + sparse_m.conj().T) / 2
    rows, cols = np.nonzero(sparse_m)
    z0 = ref.pauli_operator([(1.0, {0: "Z"})], 3)
    kinds = [
        (qdl.Hermitian(h2, [2, 0]), ref.embed(h2, [2, 0], 3)),
        (qdl.Projector([1, 0, 1], [0, 1, 2]), proj),
        (qdl.SparseHamiltonian((rows, cols, sparse_m[rows, cols], 3)), sparse_m),
        (qdl.Observable.parse("0.5j X0 Y0 + Z2 Z2 + X1"),
         ref.pauli_operator([(-0.5, {0: "Z"}), (1.0, {}), (1.0, {1: "X"})], 3)),
        (qdl.Hermitian(h1, [1]) @ qdl.Observable.parse("Z0"), ref.embed(h1, [1], 3) @ z0),
    ]
    return kinds


def _kind_values(c, a, b, mats):
    out = []
    for ai in np.atleast_1d(a):
        psi = ref.circuit_state(c, {"a": ai, "b": b})
        out.append([ref.expectation(psi, m) for m in mats])
    return np.array(out)


@pytest.mark.parametrize("method", METHODS)
def test_every_observable_kind_values_and_gradients(method, rng):
    """Hermitian, Projector, SparseHamiltonian, complex-coefficient words and products:
    values and gradients of every method match dense numpy matrices."""
    c = _kinds_circuit()
    kinds = _kinds(rng)
    obs, mats = [k for k, _ in kinds], [m for _, m in kinds]
    a = rng.uniform(-2, 2, 3)
    at = torch.tensor(a, requires_grad=True)
    out = qdl.expval(c, obs, {"a": at, "b": 0.7}, diff_method=method, dtype=torch.complex128)
    np.testing.assert_allclose(out.detach().numpy(), _kind_values(c, a, 0.7, mats), atol=1e-10)
    weights = rng.normal(size=out.shape)
    (out * torch.tensor(weights)).sum().backward()
    want = ref.central_diff(lambda x: (_kind_values(c, x, 0.7, mats) * weights).sum(), a)
    np.testing.assert_allclose(at.grad.numpy(), want.reshape(a.shape),
                               atol=GRAD_ATOL.get(method, 1e-6))


def test_observable_kinds_with_shots_noise_and_var(rng):
    """Shot estimates lie within 5σ; the density path and var equal numpy's tr(ρO) and
    <O²> − <O>²; sparse Hamiltonians refuse shots."""
    from qdl.noise import NoiseModel

    c = _kinds_circuit()
    kinds = [k for k in _kinds(rng) if not isinstance(k[0], qdl.SparseHamiltonian)]
    obs, mats = [k for k, _ in kinds], [m for _, m in kinds]
    params = {"a": torch.tensor([0.4, -1.1]), "b": 0.7}
    exact = _kind_values(c, np.array([0.4, -1.1]), 0.7, mats)
    est, err = qdl.expval_with_stderr(c, obs, params, shots=20000, seed=4,
                                      dtype=torch.complex128)
    assert bool((err > 0).all())
    np.testing.assert_array_less(np.abs(est.numpy() - exact), 5 * err.numpy() + 1e-12)
    dens = qdl.expval(c, obs, params, noise=NoiseModel(), dtype=torch.complex128)
    np.testing.assert_allclose(dens.numpy(), exact, atol=1e-10)
    psi = [ref.circuit_state(c, {"a": x, "b": 0.7}) for x in (0.4, -1.1)]
    var = np.array([[ref.expectation(p, m @ m) - ref.expectation(p, m) ** 2 for m in mats]
                    for p in psi])
    np.testing.assert_allclose(qdl.var(c, obs, params, dtype=torch.complex128).numpy(), var,
                               atol=1e-10)
    shot_var = qdl.var(c, obs, params, shots=200_000, seed=5, dtype=torch.complex128)
    np.testing.assert_allclose(shot_var.numpy(), var, atol=0.05 * max(1.0, np.abs(var).max()))
    with pytest.raises(QDLError, match="measured exactly only"):
        qdl.expval(c, _kinds(rng)[2][0], params, shots=100)


def test_shift_jobs_split_into_groups_when_memory_is_short(monkeypatch, rng):
    """Shifted copies run in one batch, or in groups when memory is short: same gradients."""
    import qdl.sim.core

    c = _shared_and_expressions()
    values = {"t": torch.tensor(rng.uniform(-2, 2, 3)), "s": torch.tensor(0.4)}

    def grads():
        params = {k: v.clone().requires_grad_(True) for k, v in values.items()}
        qdl.expval(c, ["Z0", "X1 Y2"], params, diff_method="parameter-shift",
                   dtype=torch.complex128).sum().backward()
        return [params[k].grad for k in sorted(params)]

    whole = grads()
    per_item = qdl.sim.core.STATE_COPIES * 16 * 2**3
    monkeypatch.setattr(qdl.sim.core, "SMALL_BYTES", 0)
    monkeypatch.setattr(qdl.sim.core, "_free_bytes", lambda device: 7.5 * per_item)
    for a, b in zip(grads(), whole, strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


def _stacked_case():
    """A 3-qubit layer circuit (embedding, rotations, ring) with weights and inputs."""
    c = Circuit(3)
    for i in range(3):
        c.ry(i, f"x{i}")
    for i in range(3):
        c.rx(i, f"w{i}").rz(i, f"w{i + 3}")
    c.cx(0, 1).cx(1, 2).cx(2, 0).ry(1, "w0")
    return c, [f"w{i}" for i in range(6)], [f"x{i}" for i in range(3)]


@pytest.mark.parametrize("batch_shape", [(), (4,), (2, 3)])
def test_stacked_params_match_named_params(batch_shape):
    """Stacked tensors give the values and gradients of the same parameters given by name."""
    c, wn, xn = _stacked_case()
    w = torch.randn(6, dtype=torch.float64, requires_grad=True)
    x = torch.randn(*batch_shape, 3, dtype=torch.float64, requires_grad=True)
    obs = ["Z0", "X1 Y2"]
    fast = expval(c, obs, Stacked((wn, w), (xn, x)), dtype=torch.complex128)
    named = {**dict(zip(wn, w.unbind(), strict=True)), **dict(zip(xn, x.unbind(-1), strict=True))}
    slow = expval(c, obs, named, dtype=torch.complex128, diff_method="backprop")
    assert fast.shape == slow.shape == (*batch_shape, 2)
    g = torch.randn_like(slow)
    got = torch.autograd.grad((fast * g).sum(), (w, x))
    want = torch.autograd.grad((slow * g).sum(), (w, x))
    for a, b in zip(got, want, strict=True):
        assert torch.allclose(a, b, atol=1e-10)
    assert torch.allclose(fast, slow, atol=1e-12)


def test_stacked_refuses_bad_shapes_and_repeats():
    """A tensor whose last axis does not match its names, or a repeated name, is a QDLError."""
    with pytest.raises(QDLError, match=r"\(\.\.\., 2\)"):
        Stacked((["a", "b"], torch.zeros(3)))
    with pytest.raises(QDLError, match="given twice"):
        Stacked((["a"], torch.zeros(1)), (["a"], torch.zeros(1)))


def test_stacked_errors_name_the_parameter():
    """Non-finite or unknown stacked parameters get the general path's clear errors."""
    c, wn, xn = _stacked_case()
    w = torch.zeros(6, dtype=torch.float64)
    x = torch.zeros(2, 3, dtype=torch.float64)
    x[1, 2] = float("nan")
    with pytest.raises(QDLError, match="x2"):
        expval(c, ["Z0"], Stacked((wn, w), (xn, x)))
    with pytest.raises(QDLError, match="x2"):
        expval(c, ["Z0"], Stacked((wn, w), ([*xn[:2], "nope"], x.nan_to_num())))
