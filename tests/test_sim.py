"""The simulator against the dense numpy reference: states, probabilities, samples, variances."""

from __future__ import annotations

import math

import helpers as ref
import numpy as np
import pytest
import torch
from conftest import ATOL, BATCHES

import qdl
from qdl import Circuit, QDLError
from qdl.gates import GATES

REAL = {torch.complex64: torch.float32, torch.complex128: torch.float64}


def _params(c: Circuit, batch: tuple[int, ...], rng: np.random.Generator) -> dict:
    """Numpy values: the first parameter carries the batch, others alternate batch/scalar."""
    out = {}
    for i, name in enumerate(c.parameters):
        shape = batch if i % 2 == 0 else ()
        out[name] = rng.uniform(-math.pi, math.pi, shape)
    return out


def _torch(values: dict, dtype: torch.dtype) -> dict:
    return {k: torch.tensor(v, dtype=REAL[dtype]) if np.ndim(v) else float(v)
            for k, v in values.items()}


def _prep(n: int, rng: np.random.Generator) -> Circuit:
    """A fixed-angle layer that makes a generic entangled state."""
    c = Circuit(n)
    for w in range(n):
        c.ry(w, float(rng.uniform(0.2, 3.0))).rz(w, float(rng.uniform(-3, 3)))
    for w in range(n - 1):
        c.cx(w, w + 1)
    for w in range(n):
        c.rx(w, float(rng.uniform(0.2, 3.0)))
    return c


@pytest.mark.parametrize("n", [1, 2, 4, 6])
@pytest.mark.parametrize("batch", BATCHES, ids=str)
@pytest.mark.parametrize("seed", range(2))
def test_random_circuits_match_reference(n, batch, seed, dtype):
    """Random circuits (every gate kind, ctrl modifiers, expressions) give the reference state."""
    rng = np.random.default_rng(1000 * n + seed)
    c = ref.random_circuit(n, rng, depth=14 if n < 6 else 10)
    values = _params(c, batch, rng)
    psi = qdl.state(c, _torch(values, dtype), dtype=dtype)
    want = ref.batched_state(c, values)
    assert psi.shape == (*batch, 2**n) and psi.dtype == dtype
    np.testing.assert_allclose(psi.numpy(), want, atol=ATOL[dtype])


@pytest.mark.parametrize("name", sorted(GATES))
@pytest.mark.parametrize("ctrl", [0, 1, 2])
def test_each_gate_on_a_generic_state(name, ctrl, dtype):
    """Each gate (and its ctrl-modified forms) acts on an entangled state as the reference."""
    k = GATES[name].num_wires + ctrl
    if k > 5:
        pytest.skip("more than 5 wires")
    rng = np.random.default_rng(sum(map(ord, name)) + 7 * ctrl)
    n = min(k + 1, 5)
    c = _prep(n, rng)
    names = [f"t{i}" for i in range(GATES[name].num_params)]
    wires = [int(w) for w in rng.permutation(n)[:k]]
    c.add(name, wires, names, ctrl=ctrl)
    values = {p: rng.uniform(-4, 4, (3,)) for p in names}
    psi = qdl.state(c, _torch(values, dtype), dtype=dtype)
    want = ref.batched_state(c, values) if names else ref.circuit_state(c)
    np.testing.assert_allclose(psi.numpy(), want, atol=ATOL[dtype])


def test_gphase_on_zero_qubits():
    """A 0-qubit circuit with a global phase is the 1-vector e^{iθ}."""
    psi = qdl.state(Circuit(0).add("gphase", [], ["g"]), {"g": 0.3}, dtype=torch.complex128)
    np.testing.assert_allclose(psi.numpy(), [np.exp(0.3j)], atol=1e-12)


def test_wire_zero_is_most_significant():
    """X on wire 0 of 3 gives index 4; X on wire 2 gives index 1."""
    assert qdl.state(Circuit(3).x(0)).abs().argmax().item() == 4
    assert qdl.state(Circuit(3).x(2)).abs().argmax().item() == 1


@pytest.mark.parametrize("batch", BATCHES, ids=str)
@pytest.mark.parametrize("wires", [None, [2, 0], [3], [1, 3, 0], [3, 2, 1, 0]], ids=str)
def test_probs_on_wire_subsets(batch, wires, dtype):
    """probs over wires in the given order equals the reference marginal."""
    rng = np.random.default_rng(3)
    c = ref.random_circuit(4, rng, depth=12)
    values = _params(c, batch, rng)
    p = qdl.probs(c, _torch(values, dtype), wires, dtype=dtype)
    psi = ref.batched_state(c, values).reshape(-1, 16)
    order = list(range(4)) if wires is None else wires
    want = np.stack([ref.marginal(s, order, 4) for s in psi]).reshape(*batch, 2 ** len(order))
    assert p.shape == (*batch, 2 ** len(order))
    np.testing.assert_allclose(p.numpy(), want, atol=ATOL[dtype])


@pytest.mark.parametrize("wires", [[0, 0], [4], [-1]], ids=str)
def test_probs_bad_wires(wires):
    """Repeated or out-of-range wires raise QDLError."""
    with pytest.raises(QDLError):
        qdl.probs(Circuit(2).h(0), wires=wires)


@pytest.mark.parametrize("batch", [(), (2,)], ids=str)
def test_sample_statistics(batch):
    """Sampled bitstring frequencies agree with the reference within 5 sigma."""
    rng = np.random.default_rng(8)
    c = ref.random_circuit(3, rng, depth=10)
    values = _params(c, batch, rng)
    shots, wires = 4000, [2, 0]
    bits = qdl.sample(c, _torch(values, torch.complex128), shots, wires, seed=7)
    assert bits.shape == (*batch, shots, 2)
    assert set(bits.unique().tolist()) <= {0, 1}
    idx = (bits[..., 0] * 2 + bits[..., 1]).reshape(-1, shots).numpy()
    psi = ref.batched_state(c, values).reshape(-1, 8)
    for row, s in zip(idx, psi, strict=True):
        p = ref.marginal(s, wires, 3)
        freq = np.bincount(row, minlength=4) / shots
        sigma = np.sqrt(p * (1 - p) / shots) + 1e-12
        assert np.all(np.abs(freq - p) <= 5 * sigma + 1e-3), (freq, p)


def test_sample_seed_reproducible_and_deterministic_states():
    """The same seed gives the same samples; basis states sample exactly."""
    c = Circuit(2).h(0).ry(1, "a")
    s1 = qdl.sample(c, {"a": 0.4}, 50, seed=3)
    s2 = qdl.sample(c, {"a": 0.4}, 50, seed=3)
    assert torch.equal(s1, s2)
    assert qdl.sample(Circuit(3).x(0).x(2), shots=5, seed=0).tolist() == [[1, 0, 1]] * 5
    assert qdl.sample(Circuit(3).x(0), shots=2, wires=[2, 0], seed=0).tolist() == [[0, 1]] * 2
    with pytest.raises(QDLError, match="shots"):
        qdl.sample(c, {"a": 0.4}, 0)


@pytest.mark.parametrize("batch", BATCHES, ids=str)
def test_var_matches_reference(batch, dtype):
    """var = <O²> − <O>² for Pauli sums, against dense operators."""
    rng = np.random.default_rng(4)
    c = ref.random_circuit(3, rng, depth=10)
    values = _params(c, batch, rng)
    cases = [("Z0", [(1.0, {0: "Z"})]), ("0.5 X0 Y1 + -1.2 Z2", [(0.5, {0: "X", 1: "Y"}),
                                                                 (-1.2, {2: "Z"})]),
             ("Y2 - X1", [(1.0, {2: "Y"}), (-1.0, {1: "X"})])]
    got = qdl.var(c, [t for t, _ in cases], _torch(values, dtype), dtype=dtype)
    psi = ref.batched_state(c, values)
    want = []
    for _, terms in cases:
        o = ref.pauli_operator(terms, 3)
        want.append(ref.expectation(psi, o @ o) - ref.expectation(psi, o) ** 2)
    assert got.shape == (*batch, 3)
    np.testing.assert_allclose(got.detach().numpy(), np.stack(want, -1), atol=10 * ATOL[dtype])


@pytest.mark.parametrize("batch", BATCHES, ids=str)
def test_expval_matches_reference(batch, dtype):
    """Exact expectations of several observables match the dense reference."""
    rng = np.random.default_rng(12)
    c = ref.random_circuit(4, rng, depth=14)
    values = _params(c, batch, rng)
    cases = [("Z0", [(1.0, {0: "Z"})]), ("X1 X3", [(1.0, {1: "X", 3: "X"})]),
             ("Z0 Z1 + 0.3 Y2", [(1.0, {0: "Z", 1: "Z"}), (0.3, {2: "Y"})])]
    got = qdl.expval(c, [t for t, _ in cases], _torch(values, dtype), dtype=dtype)
    psi = ref.batched_state(c, values)
    want = np.stack([ref.expectation(psi, ref.pauli_operator(t, 4)) for _, t in cases], -1)
    assert got.shape == (*batch, 3) and got.dtype == REAL[dtype]
    np.testing.assert_allclose(got.detach().numpy(), want, atol=10 * ATOL[dtype])


def test_shot_expectations_within_five_sigma():
    """Shot-based expectations land within 5 standard errors of the exact values."""
    rng = np.random.default_rng(21)
    c = ref.random_circuit(3, rng, depth=10)
    values = _params(c, (3,), rng)
    cases = [("Z0", [(1.0, {0: "Z"})]), ("X1 Y2", [(1.0, {1: "X", 2: "Y"})]),
             ("0.5 Z0 Z2 - X0", [(0.5, {0: "Z", 2: "Z"}), (-1.0, {0: "X"})])]
    shots = 5000
    got = qdl.expval(c, [t for t, _ in cases], _torch(values, torch.complex128),
                     dtype=torch.complex128, shots=shots, seed=5, diff_method="parameter-shift")
    psi = ref.batched_state(c, values)
    for k, (_, terms) in enumerate(cases):
        exact = ref.expectation(psi, ref.pauli_operator(terms, 3))
        # independent estimates per term: variance Σ c² (1 − <P>²) / shots
        variance = sum(coeff**2 * (1 - ref.expectation(psi, ref.pauli_operator([(1, w)], 3))
                                   ** 2) for coeff, w in terms) / shots
        err = np.abs(got[:, k].numpy() - exact)
        assert np.all(err <= 5 * np.sqrt(variance) + 1e-9), (err, np.sqrt(variance))


@pytest.mark.parametrize("n", [2, 3])
def test_batch_shapes_broadcast(n, dtype):
    """Parameter batch shapes (2, 1) and (3,) broadcast to states of shape (2, 3, 2**n)."""
    rng = np.random.default_rng(n)
    c = Circuit(n).ry(0, "a").rx(n - 1, "b").cx(0, n - 1).rz(0, "c")
    values = {"a": rng.uniform(-3, 3, (2, 1)), "b": rng.uniform(-3, 3, (3,)), "c": 0.4}
    psi = qdl.state(c, _torch(values, dtype), dtype=dtype)
    assert psi.shape == (2, 3, 2**n)
    np.testing.assert_allclose(psi.numpy(), ref.batched_state(c, values), atol=ATOL[dtype])
    ev = qdl.expval(c, ["Z0", "X1"], _torch(values, dtype), dtype=dtype)
    assert ev.shape == (2, 3, 2)
    assert qdl.probs(c, _torch(values, dtype), [1], dtype=dtype).shape == (2, 3, 2)


def test_scalars_give_no_batch_dimension():
    """Floats, ints and 0-d tensors give unbatched results."""
    c = Circuit(2).rx(0, "a").ry(1, "b")
    assert qdl.state(c, {"a": 0.1, "b": 1}).shape == (4,)
    assert qdl.state(c, {"a": torch.tensor(0.1), "b": 2.0}).shape == (4,)
    assert qdl.expval(c, ["Z0"], {"a": 0.1, "b": 1}).shape == (1,)
    assert qdl.state(Circuit(1).h(0)).shape == (2,)


def test_default_dtype_is_complex64():
    """Without dtype the state is complex64 and expectations float32."""
    c = Circuit(1).rx(0, "a")
    assert qdl.state(c, {"a": 0.3}).dtype == torch.complex64
    assert qdl.expval(c, ["Z0"], {"a": 0.3}).dtype == torch.float32


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({}, "missing.*a"),
        ({"a": 0.1, "zz": 0.2}, "unknown parameter.*zz"),
        ({"a": float("nan")}, "NaN"),
        ({"a": torch.tensor([0.1, float("inf")])}, "NaN or inf"),
        ({"a": torch.tensor(0.1 + 0.2j)}, "real"),
        ({"a": "0.1"}, "float or a real tensor"),
        ({"a": True}, "float or a real tensor"),
    ],
    ids=["missing", "extra", "nan", "inf", "complex", "string", "bool"],
)
def test_bad_parameters(params, match):
    """Missing, unknown, non-finite and non-real parameters raise QDLError naming them."""
    with pytest.raises(QDLError, match=match):
        qdl.state(Circuit(1).rx(0, "a"), params)
    with pytest.raises(QDLError, match=match):
        qdl.expval(Circuit(1).rx(0, "a"), ["Z0"], params)


def test_non_broadcasting_batches_and_bad_dtype():
    """Incompatible batch shapes and non-complex dtypes raise QDLError."""
    c = Circuit(1).rx(0, "a").ry(0, "b")
    with pytest.raises(QDLError, match="broadcast"):
        qdl.state(c, {"a": torch.zeros(2), "b": torch.zeros(3)})
    with pytest.raises(QDLError, match="dtype"):
        qdl.state(c, {"a": 0.0, "b": 0.0}, dtype=torch.float32)


def test_check_dtype_takes_the_two_complex_dtypes_only():
    """check_dtype returns complex64/complex128 and refuses anything else with one message."""
    from qdl.sim import check_dtype
    assert check_dtype(torch.complex64) is torch.complex64
    assert check_dtype(torch.complex128) is torch.complex128
    for bad in (torch.float64, torch.float32, torch.complex32, torch.int64, np.complex128,
                "complex64", None, [torch.complex64]):
        with pytest.raises(QDLError, match=r"^dtype must be torch\.complex64 or "
                           r"torch\.complex128, got "):
            check_dtype(bad)


@pytest.mark.parametrize("fn", ["state", "probs", "expval"])
def test_memory_guard(fn):
    """A 40-qubit state raises QDLError saying how large it would be, before allocating."""
    c = Circuit(40).h(0).rx(39, "a")
    args = {"state": (c, {"a": 0.1}), "probs": (c, {"a": 0.1}),
            "expval": (c, ["Z0"], {"a": 0.1})}[fn]
    with pytest.raises(QDLError, match=r"40-qubit.*TiB"):
        getattr(qdl, fn)(*args)


def test_observable_wire_out_of_range():
    """Observables on wires the circuit lacks raise QDLError."""
    with pytest.raises(QDLError, match="qubit 2"):
        qdl.expval(Circuit(2).h(0), ["Z2"])


def test_state_is_differentiable_by_autograd():
    """qdl.state carries gradients to the parameter tensors (d|ψ|²/dθ via the reference)."""
    theta = torch.tensor(0.37, dtype=torch.float64, requires_grad=True)
    c = Circuit(2).ry(0, "t").cx(0, 1).rx(1, 2 * qdl.circuit.Sym("t"))
    p1 = qdl.state(c, {"t": theta}, dtype=torch.complex128).abs().square()[1]
    p1.backward()

    def f(x):
        return abs(ref.circuit_state(c, {"t": float(x[0])})[1]) ** 2

    want = ref.central_diff(f, np.array([0.37]))[0, 0]
    assert theta.grad.item() == pytest.approx(want, abs=1e-7)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
def test_cuda_matches_cpu():
    """On CUDA the state, expectations and gradients match the CPU run."""
    rng = np.random.default_rng(2)
    c = ref.random_circuit(4, rng, depth=12)
    values = _params(c, (3,), rng)
    cpu = {k: torch.tensor(v) for k, v in values.items()}
    gpu = {k: v.cuda() for k, v in cpu.items()}
    for k in gpu:
        gpu[k].requires_grad_(True)
    psi = qdl.state(c, gpu, dtype=torch.complex128)
    assert psi.device.type == "cuda"
    np.testing.assert_allclose(psi.cpu().numpy(), ref.batched_state(c, values), atol=1e-6)
    ev = qdl.expval(c, ["Z0 Z1", "X2"], gpu, dtype=torch.complex128, diff_method="adjoint")
    assert ev.device.type == "cuda"
    ev.sum().backward()
    cpu_req = {k: v.clone().requires_grad_(True) for k, v in cpu.items()}
    qdl.expval(c, ["Z0 Z1", "X2"], cpu_req, dtype=torch.complex128,
               diff_method="backprop").sum().backward()
    for k in gpu:
        np.testing.assert_allclose(gpu[k].grad.cpu().numpy(), cpu_req[k].grad.numpy(),
                                   atol=1e-6)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_without_gpu_is_a_clear_error():
    """Asking for device='cuda' on a machine without a GPU raises QDLError, not an assert."""
    with pytest.raises(qdl.QDLError, match="CUDA"):
        qdl.state(qdl.Circuit(1).h(0), device="cuda")


GIB = 2.0**30


@pytest.mark.parametrize("dtype, largest", [(torch.complex64, 27), (torch.complex128, 26)])
@pytest.mark.parametrize("noise", [False, True])
def test_largest_circuit_on_24_gib(monkeypatch, dtype, largest, noise):
    """With 24 GiB free: statevectors up to 27 (c64) / 26 (c128) qubits, density matrices
    up to 13 qubits (README, big circuits); one qubit more is refused before allocating."""
    import qdl.sim.core

    monkeypatch.setattr(qdl.sim.core, "_free_bytes", lambda device: 24 * GIB)
    top = largest // 2 if noise else largest
    bound = qdl.sim.core.bind(Circuit(1).rx(0, "a"), {"a": 0.0}, dtype, check=False)
    # STATE_COPIES working states of 2**n amplitudes (2**2n for a density matrix).
    width = 2 * top if noise else top
    assert qdl.sim.core.fitting_chunk(width, bound) == 1
    with pytest.raises(QDLError, match="needs"):
        qdl.sim.core.fitting_chunk(width + (2 if noise else 1), bound)


_C2 = Circuit(2).rx(0, "a").cx(0, 1)
HOSTILE_API = [
    ("shots 10**18", lambda: qdl.expval(_C2, "Z0", {"a": 0.1}, shots=10**18), "shots must be"),
    ("sample 10**18 shots", lambda: qdl.sample(_C2, {"a": 0.1}, shots=10**18), "shots must be"),
    ("sample 2**50 shots", lambda: qdl.sample(_C2, {"a": 0.1}, shots=2**50), "is free"),
    ("seed 2**80", lambda: qdl.expval(_C2, "Z0", {"a": 0.1}, shots=9, seed=2**80), "seed must"),
    ("seed str", lambda: qdl.sample(_C2, {"a": 0.1}, shots=9, seed="x"), "seed must"),
    ("device tpu", lambda: qdl.expval(_C2, "Z0", {"a": 0.1}, device="tpu"), "unknown device"),
    ("device mps", lambda: qdl.state(_C2, {"a": 0.1}, device="mps"), "not supported"),
    ("device meta", lambda: qdl.probs(_C2, {"a": 0.1}, device="meta"), "not supported"),
    ("meta tensor", lambda: qdl.expval(_C2, "Z0", {"a": torch.zeros(2, device="meta")}),
     "not supported"),
    ("empty tensor", lambda: qdl.expval(_C2, "Z0", {"a": torch.zeros(0)}), "is empty"),
    ("ragged list", lambda: qdl.expval(_C2, "Z0", {"a": [[1.0], [2.0, 3.0]]}), "real numbers"),
    ("bool tensor", lambda: qdl.state(_C2, {"a": torch.ones(2, dtype=torch.bool)}),
     "real numbers"),
    ("10**9 batch state", lambda: qdl.state(_C2, {"a": torch.zeros(1).expand(10**11)}),
     "is free"),
]


@pytest.mark.parametrize(("case", "call", "match"), HOSTILE_API, ids=[c[0] for c in HOSTILE_API])
def test_hostile_arguments_are_clean_errors(case, call, match):
    """Out-of-range shots, seeds, devices and parameter tensors end in a QDLError naming them."""
    with pytest.raises(QDLError, match=match):
        call()


def test_parameters_as_lists_and_numpy():
    """A list or numpy array of angles is a batch, like the tensor of the same numbers."""
    want = qdl.expval(_C2, "Z0", {"a": torch.tensor([0.1, 0.2])})
    torch.testing.assert_close(qdl.expval(_C2, "Z0", {"a": [0.1, 0.2]}), want)
    torch.testing.assert_close(qdl.expval(_C2, "Z0", {"a": np.array([0.1, 0.2])}), want)


def test_huge_shot_counts_cost_nothing_and_stay_unbiased():
    """2**50 shots per term draw in O(batch) memory; the estimate is within 5σ of exact."""
    a = torch.tensor([0.3, 1.2, 2.9], dtype=torch.float64)
    exact = torch.cos(a)
    for seed in range(5):
        est = qdl.expval(Circuit(1).rx(0, "a"), "Z0", {"a": a}, shots=2**50, seed=seed,
                         dtype=torch.complex128)[:, 0]
        sigma = ((1 - exact**2) / 2**50).sqrt()
        assert bool(((est - exact).abs() <= 5 * sigma + 1e-15).all())


# States as inputs (initial_state).

def _states(rng, shape, n):
    """Random normalised statevectors of shape (*shape, 2**n), built by numpy."""
    psi = rng.normal(size=(*shape, 2**n)) + 1j * rng.normal(size=(*shape, 2**n))
    return psi / np.linalg.norm(psi, axis=-1, keepdims=True)


@pytest.mark.parametrize("batch", [(), (3,), (2, 3)], ids=str)
@pytest.mark.parametrize("n", [1, 3, 5])
def test_state_from_initial_state_matches_dense_unitary(n, batch, dtype, rng):
    """qdl.state(initial_state=ψ) equals U·ψ with U from dense kron matrices."""
    c = ref.random_circuit(n, rng, depth=10)
    values = {k: rng.uniform(-2, 2, batch) for k in c.parameters}
    psi = _states(rng, batch, n)
    shape, envs = ref.batched_envs(values)
    flat = np.broadcast_to(psi, (*shape, 2**n)).reshape(-1, 2**n)
    want = np.stack([ref.circuit_unitary(c, e) @ p for e, p in zip(envs, flat, strict=True)])
    got = qdl.state(c, {k: torch.tensor(v) for k, v in values.items()}, dtype=dtype,
                    initial_state=torch.tensor(psi))
    np.testing.assert_allclose(got.reshape(-1, 2**n).numpy(), want, atol=ATOL[dtype] * 10)


def test_initial_state_batch_broadcasts_with_parameters(rng):
    """A (4, 1, 8) batch of states and a (5,) parameter batch give (4, 5, 8) results."""
    c = Circuit(3).rx(0, "a").cx(0, 2).ry(1, "a")
    psi = _states(rng, (4, 1), 3)
    a = rng.uniform(-2, 2, 5)
    got = qdl.state(c, {"a": torch.tensor(a)}, initial_state=torch.tensor(psi),
                    dtype=torch.complex128)
    assert got.shape == (4, 5, 8)
    want = ref.circuit_unitary(c, {"a": a[2]}) @ psi[3, 0]
    np.testing.assert_allclose(got[3, 2].numpy(), want, atol=1e-12)


def test_probs_and_sample_from_initial_state(rng):
    """probs and sample start from the given state (a basis state samples deterministically)."""
    c = Circuit(2).h(0).cx(0, 1)
    psi = _states(rng, (3,), 2)
    p = qdl.probs(c, initial_state=torch.tensor(psi), dtype=torch.complex128)
    want = np.abs(psi @ ref.circuit_unitary(c).T) ** 2
    np.testing.assert_allclose(p.numpy(), want, atol=1e-12)
    basis = torch.tensor([0, 0, 0, 1.0])  # |11>; X on wire 0 gives |01>
    bits = qdl.sample(Circuit(2).x(0), shots=5, seed=0, initial_state=basis)
    assert bits.tolist() == [[0, 1]] * 5


@pytest.mark.parametrize("bad, match", [
    (torch.tensor([1.0, 1.0, 0.0, 0.0]), "not normalised"),
    (torch.ones(3), "must have shape"),
    (torch.tensor([float("nan"), 0, 0, 0]), "NaN"),
    ("psi", "must be a complex tensor"),
    (torch.zeros(0, 4), "must have shape"),
])
def test_bad_initial_states_are_refused(bad, match):
    """Unnormalised, wrongly shaped or non-finite initial states are QDLErrors."""
    with pytest.raises(QDLError, match=match):
        qdl.state(Circuit(2).h(0), initial_state=bad)


def test_perm_gather_index_matches_bit_arithmetic(rng):
    """A fused run of permutation gates gathers by the composed source map, computed here by
    numpy bit arithmetic, and its second row is the inverse."""
    from qdl.sim.core import compile_circuit
    from qdl.sim.plan import Perm

    n = 7
    c = Circuit(n)
    for _ in range(12):
        w = [int(v) for v in rng.choice(n, 3, replace=False)]
        name = ["cx", "swap", "ccx", "x"][int(rng.integers(4))]
        c.add(name, w[: {"cx": 2, "swap": 2, "ccx": 3, "x": 1}[name]])
    steps = compile_circuit(c)
    index = torch.arange(2**n).numpy()
    for step in reversed(steps):  # out[i] = in[f_1(f_2(...f_k(i)))]
        shifts = [n - 1 - w for w in step.wires]
        k = len(shifts)
        local = sum(((index >> sh) & 1) << (k - 1 - j) for j, sh in enumerate(shifts))
        source = np.asarray(step.perm)[local]
        index = index & ~sum(1 << sh for sh in shifts)
        index = index | sum(((source >> (k - 1 - j)) & 1) << sh for j, sh in enumerate(shifts))
    got = Perm(steps, n).tensor(qdl.sim.bind(c, {}))
    np.testing.assert_array_equal(got[0].numpy(), index)
    np.testing.assert_array_equal(got[1].numpy()[index], np.arange(2**n))


def test_a_circuit_that_grows_after_a_run_is_recompiled():
    """Plans are remembered per circuit object, and appending a gate invalidates them."""
    c = Circuit(2).rx(0, "a").cx(0, 1)
    first = qdl.state(c, {"a": 0.4}, dtype=torch.complex128)
    np.testing.assert_allclose(first.numpy(), ref.circuit_state(c, {"a": 0.4}), atol=1e-12)
    c.ry(1, 0.7).h(0)
    second = qdl.state(c, {"a": 0.4}, dtype=torch.complex128)
    np.testing.assert_allclose(second.numpy(), ref.circuit_state(c, {"a": 0.4}), atol=1e-12)


@pytest.mark.parametrize("code", ["import torch, qdl", "import qdl, torch"])
def test_import_leaves_the_wait_policy_alone(code):
    """Whatever the import order, qdl does not set OMP_WAIT_POLICY (passive waiting made every
    small torch operation slower on a quiet machine) and knows the threads spin."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", f"{code}; import os; "
                          "print(os.environ.get('OMP_WAIT_POLICY'), qdl.sim.core.ACTIVE_WAIT)"],
                         capture_output=True, text=True, env=env, check=True).stdout
    assert out.split() == ["None", "True"]


@pytest.mark.parametrize("spinning", [True, False])
def test_busy_machine_lowers_threads_then_restores(spinning, monkeypatch):
    """On a busy machine QDL drops to one thread (values and adjoint gradients unchanged),
    whether threads spin or wait passively, and restores the count once it is no longer
    busy."""
    from qdl.sim import core

    c = Circuit(3).ry(0, "a").cx(0, 1).rx(2, "b").cz(1, 2)
    args = {"a": torch.tensor([0.3, 1.1], requires_grad=True), "b": torch.tensor(0.7)}
    want = qdl.expval(c, ["Z1", "X2"], args, diff_method="adjoint")
    (want_grad,) = torch.autograd.grad(want.sum(), args["a"])
    busy = [True]
    monkeypatch.setattr(core, "ACTIVE_WAIT", spinning)
    monkeypatch.setattr(core, "_busy", lambda: busy[0])
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        got = qdl.expval(c, ["Z1", "X2"], args, diff_method="adjoint")
        (grad,) = torch.autograd.grad(got.sum(), args["a"])
        lowered = torch.get_num_threads()
        busy[0] = False
        qdl.expval(c, ["Z1"], args)
        restored = torch.get_num_threads()
    finally:
        torch.set_num_threads(threads)
        core._LOWERED[0] = None
    assert (lowered, restored) == (1, 2)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(grad, want_grad)


@pytest.mark.parametrize(("load", "others", "busy"), [
    (0.1, 0, False), (1.0, 1, False), (3.0, 0, True), (0.1, 2, True)])
def test_busy_means_every_core_taken_by_others(load, others, busy, monkeypatch):
    """Busy: a 1-minute load average above the cores, or as many other runnable threads as
    cores right now (a load that just started)."""
    import os

    from qdl.sim import core

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(core, "_running_others", lambda: others)
    monkeypatch.setattr(core, "_LOAD", [-1.0, False])
    assert core._busy() is busy


def test_threads_left_alone_when_the_user_says_so(monkeypatch):
    """QDL_ADAPT_THREADS=0 keeps the user's thread count on a busy machine."""
    from qdl.sim import core

    monkeypatch.setenv("QDL_ADAPT_THREADS", "0")
    monkeypatch.setattr(core, "_busy", lambda: True)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        qdl.expval(Circuit(2).rx(0, 0.3), ["Z0"])
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
