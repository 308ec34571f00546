"""The ``qdl.qubit`` PennyLane device against PennyLane's own ``default.qubit``."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import qdl
from qdl.interop import pennylane as qdl_pl

qml = pytest.importorskip("pennylane")  # the dev extra installs it, so CI always runs these

N = 4
RNG = np.random.default_rng(7)


def devices(wires=N, **kw):
    """The device under test and the reference on the same wires."""
    return qml.device("qdl.qubit", wires=wires, **kw), qml.device("default.qubit", wires=wires)


def random_layers(x, wires):
    """A circuit mixing native, controlled, adjoint and decomposed gates."""
    n = len(wires)
    for i, w in enumerate(wires):
        qml.RY(x[i % len(x)], w)
    qml.Rot(x[0], x[1], x[2], wires[0])
    qml.ctrl(qml.RX(x[3], wires[2]), control=[wires[0], wires[1]], control_values=[0, 1])
    qml.adjoint(qml.S(wires[1]))
    qml.IsingXY(x[1], wires[1:3])  # not native: PennyLane's decomposition
    qml.MultiRZ(x[2], wires[: n - 1])
    qml.PauliRot(x[0], "XYZ", wires[1:])
    qml.DoubleExcitation(x[3], wires[:4])
    qml.OrbitalRotation(x[1], wires[:4])
    for a, b in zip(wires, wires[1:] + wires[:1], strict=True):
        qml.CNOT([a, b])


GATES = [
    *[(name, None) for name in ["PauliX", "PauliY", "PauliZ", "Hadamard", "S", "T", "SX",
                                "CNOT", "CY", "CZ", "CH", "SWAP", "ISWAP", "CSWAP", "Toffoli",
                                "CCZ", "RX", "RY", "RZ", "PhaseShift", "U1",
                                "ControlledPhaseShift", "CRX", "CRY", "CRZ", "CRot", "Rot",
                                "U2", "U3", "IsingXX", "IsingYY", "IsingZZ", "SingleExcitation",
                                "DoubleExcitation", "OrbitalRotation", "MultiRZ",
                                "GlobalPhase", "ECR", "IsingXY", "DoubleExcitationPlus"]],
    ("PauliRot", lambda w: qml.PauliRot(0.4, "XIZY", wires=w[:4])),
    ("MultiControlledX", lambda w: qml.MultiControlledX(wires=w[:4], control_values=[1, 0, 1])),
    ("ctrl-GlobalPhase", lambda w: qml.ctrl(qml.GlobalPhase(0.7), w[2])),
    ("QubitUnitary", lambda w: qml.QubitUnitary(qml.matrix(qml.Rot(0.3, 0.2, 0.1, 0)), w[3])),
    ("adjoint-QubitUnitary", lambda w: qml.adjoint(qml.QubitUnitary(
        qml.matrix(qml.CRX(0.3, [0, 1])), w[1:3]))),
    ("DiagonalQubitUnitary", lambda w: qml.DiagonalQubitUnitary(np.exp(1j * np.arange(4)),
                                                                w[:2])),
    ("ControlledQubitUnitary", lambda w: qml.ControlledQubitUnitary(
        qml.matrix(qml.RY(0.9, 0)), wires=[w[0], w[4]], control_values=[0])),
    ("BasisState mid-circuit", lambda w: qml.BasisState([1, 0], wires=w[2:4])),
    ("BlockEncode", lambda w: qml.BlockEncode(np.array([[0.1, 0.2], [0.3, 0.4]]), wires=w[:2])),
]


@pytest.mark.parametrize(("name", "make"), GATES, ids=[g[0] for g in GATES])
def test_every_gate_matches_default_qubit(name, make):
    """Each gate on a random 5-qubit state gives default.qubit's state (wires shuffled)."""
    dev, ref = devices(5)
    psi = RNG.normal(size=32) + 1j * RNG.normal(size=32)
    psi /= np.linalg.norm(psi)
    wires = [int(w) for w in RNG.permutation(5)]
    if make is None:
        cls = getattr(qml, name)
        nw = cls.num_wires if isinstance(cls.num_wires, int) and cls.num_wires > 0 else 3
        params = list(RNG.uniform(-3, 3, cls.num_params))

        def make(w):
            return cls(*params, wires=w[:nw])

    def circuit():
        qml.StatePrep(psi, wires=range(5))
        make(wires)
        return qml.state()

    np.testing.assert_allclose(qml.QNode(circuit, dev)(), qml.QNode(circuit, ref)(), atol=1e-10)


OBSERVABLES = {
    "pauli": lambda w: qml.Z(w[0]) @ qml.X(w[2]),
    "hamiltonian": lambda w: qml.Hamiltonian([0.4, -1.3, 0.2], [qml.Y(w[1]), qml.Z(w[0]) @
                                                                 qml.Z(w[3]), qml.Identity(w[0])]),
    "hermitian": lambda w: qml.Hermitian(_hermitian(2), wires=[w[3], w[1]]),
    # pauli_rep holds this sum's coefficients as complex numbers with zero imaginary parts
    "hamiltonian-complex": lambda w: qml.s_prod(1j, qml.prod(qml.X(w[1]), qml.Y(w[1])))
    + 0.5 * qml.Z(w[2]),
    "sum-mixed": lambda w: 0.7 * qml.Hermitian(_hermitian(1), w[2]) + qml.X(w[0]),
    "prod-mixed": lambda w: qml.Hermitian(_hermitian(1), w[2]) @ qml.Y(w[0]),
    "projector-basis": lambda w: qml.Projector([1, 0], wires=[w[1], w[2]]),
    "projector-state": lambda w: qml.Projector(np.array([1, 1j]) / np.sqrt(2), wires=[w[0]]),
    "sparse": lambda w: qml.SparseHamiltonian(SPARSE, w),
}
# Built outside the circuits: an operator made inside a QNode function is queued as a gate.
SPARSE = qml.Hamiltonian([0.5, 1.0], [qml.X(0) @ qml.X(1), qml.Z(2)]).sparse_matrix(
    wire_order=range(N))


def _hermitian(k):
    a = np.random.default_rng(k).normal(size=(2**k, 2**k)) * (1 + 1j)
    return a + a.conj().T


@pytest.mark.parametrize("kind", list(OBSERVABLES))
def test_observables_match_default_qubit(kind):
    """expval and var of every observable kind equal default.qubit's on a random circuit."""
    dev, ref = devices()
    wires = list(range(N))
    x = RNG.uniform(-2, 2, 4)

    def circuit():
        random_layers(x, wires)
        obs = OBSERVABLES[kind](wires)
        if kind == "sparse":
            return qml.expval(obs)
        return qml.expval(obs), qml.var(OBSERVABLES[kind](wires))

    np.testing.assert_allclose(qml.QNode(circuit, dev)(), qml.QNode(circuit, ref)(), atol=1e-9)


def test_probs_state_and_density_match_default_qubit():
    """probs (of wires and of an observable), state and reduced density matrices agree."""
    dev, ref = devices()
    x = RNG.uniform(-2, 2, 4)

    def circuit():
        random_layers(x, list(range(N)))
        return (qml.probs(wires=[2, 0]), qml.probs(op=qml.X(1) @ qml.Y(3)), qml.state(),
                qml.density_matrix([1, 3]), qml.purity([0]))

    for a, b in zip(qml.QNode(circuit, dev)(), qml.QNode(circuit, ref)(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-10)


@pytest.mark.parametrize("diff_method", ["backprop", "adjoint"])
def test_torch_gradients_match_default_qubit(diff_method):
    """Torch gradients (backprop through QDL, or QDL's adjoint) equal default.qubit's."""
    dev, ref = devices()
    x0 = RNG.uniform(-2, 2, 4)

    def circuit(x):
        random_layers(x, list(range(N)))
        return qml.expval(qml.Z(0)), qml.expval(qml.Hermitian(_hermitian(2), [1, 3]) +
                                                0.5 * qml.Y(2))

    grads = []
    for d, m in [(dev, diff_method), (ref, "backprop")]:
        x = torch.tensor(x0, requires_grad=True)
        a, b = qml.QNode(circuit, d, diff_method=m)(x)
        grads.append(torch.autograd.grad(a - 2 * b, x)[0])
    torch.testing.assert_close(grads[0], grads[1], atol=1e-9, rtol=0)


def test_autograd_adjoint_jacobian_matches_default_qubit():
    """With NumPy/autograd parameters the device's adjoint Jacobian equals default.qubit's."""
    pnp = qml.numpy
    dev, ref = devices()

    def circuit(x):
        random_layers(x, list(range(N)))
        return qml.expval(qml.Z(0) @ qml.X(1)), qml.expval(qml.Y(3))

    x = pnp.array(RNG.uniform(-2, 2, 4), requires_grad=True)
    jac = [qml.jacobian(lambda v, d=d, m=m: pnp.stack(qml.QNode(circuit, d, diff_method=m)(v)))(x)
           for d, m in [(dev, "adjoint"), (ref, "backprop")]]
    np.testing.assert_allclose(jac[0], jac[1], atol=1e-9)


def test_device_jacobian_with_autograd_off_matches_default_qubit():
    """compute_derivatives called with autograd off (as PennyLane's torch backward does) gives
    the central differences of the device's own values for a tape with several measurements,
    not zeros."""
    dev, _ = devices()

    def circuit(x):
        random_layers(x, list(range(N)))
        return qml.expval(qml.Z(0)), qml.expval(qml.Y(2) @ qml.X(3))

    x0 = RNG.uniform(-2, 2, 4)
    tape = qml.tape.make_qscript(circuit)(x0)
    config = dev.setup_execution_config(qml.devices.ExecutionConfig(gradient_method="adjoint"))
    (tape,), _ = dev.preprocess_transforms(config)((tape,))
    with torch.no_grad():
        jac = np.array(dev.compute_derivatives((tape,), config)[0])
    params = np.array(tape.get_parameters(trainable_only=False), dtype=object)
    want = np.zeros_like(jac)
    for j, i in enumerate(tape.trainable_params):
        shifted = []
        for h in (1e-6, -1e-6):
            p = params.copy()
            p[i] = float(p[i]) + h
            out = dev.execute((tape.bind_new_parameters(list(p), list(range(len(p)))),))[0]
            shifted.append(np.array(out, dtype=float))
        want[:, j] = (shifted[0] - shifted[1]) / 2e-6
    assert np.abs(want).max() > 0.1
    np.testing.assert_allclose(jac, want, atol=1e-6)


def test_trainable_hamiltonian_coefficients_backprop():
    """Backprop reaches the coefficients of a Hamiltonian: d<c0 Z0 + c1 X1>/dc = (<Z0>, <X1>)."""
    dev, _ = devices(2)
    c = torch.tensor([0.3, -0.8], requires_grad=True)

    @qml.qnode(dev, diff_method="backprop")
    def circuit(c):
        qml.RY(0.4, 0)
        qml.RY(1.1, 1)
        return qml.expval(c[0] * qml.Z(0) + c[1] * qml.X(1))

    (g,) = torch.autograd.grad(circuit(c), c)
    torch.testing.assert_close(g, torch.tensor([np.cos(0.4), np.sin(1.1)], dtype=g.dtype))


def test_broadcasting_matches_default_qubit():
    """Broadcast parameters (QDL's batch dimension) give default.qubit's results per item,
    including a broadcast QubitUnitary and StatePrep."""
    dev, ref = devices(3)
    x = RNG.uniform(-2, 2, 5)
    u = np.stack([qml.matrix(qml.RX(t, 0)) for t in x])
    states = RNG.normal(size=(5, 8)) + 1j * RNG.normal(size=(5, 8))
    states /= np.linalg.norm(states, axis=1, keepdims=True)

    def circuit(x):
        qml.StatePrep(states, wires=range(3))
        qml.RY(x, 0)
        qml.CRZ(0.3, [0, 1])
        qml.QubitUnitary(u, wires=2)
        qml.IsingXY(x, [1, 2])
        return qml.expval(qml.Z(0) @ qml.Y(2)), qml.var(qml.X(1)), qml.probs([0, 2]), qml.state()

    out, want = qml.QNode(circuit, dev)(x), qml.QNode(circuit, ref)(x)
    for a, b in zip(out, want, strict=True):
        assert np.shape(a) == np.shape(b)
        np.testing.assert_allclose(a, b, atol=1e-10)


def test_broadcast_adjoint_gradients_match_default_qubit():
    """Adjoint gradients of a broadcast tape, by Jacobian and by device VJP (one backward pass
    for all measurements), equal default.qubit's for broadcast inputs and shared weights."""
    dev, ref = devices(3)
    x0, w0 = RNG.uniform(-2, 2, (6, 3)), RNG.uniform(-2, 2, (2, 3))

    def circuit(x, w):
        for i in range(3):
            qml.RY(x[:, i], i)
        for layer in range(2):
            for i in range(3):
                qml.RX(w[layer, i], i)
            qml.CNOT([0, 1])
            qml.CRZ(w[layer, 0], [1, 2])
        return qml.expval(qml.Z(0) @ qml.X(2)), qml.expval(qml.Y(1))

    grads = []
    for d, m, vjp in [(dev, "adjoint", False), (dev, "adjoint", True),
                      (ref, "backprop", False)]:
        x, w = (torch.tensor(v, requires_grad=True) for v in (x0, w0))
        a, b = qml.QNode(circuit, d, diff_method=m, device_vjp=vjp)(x, w)
        grads.append(torch.autograd.grad((a * torch.arange(6) - b).sum(), (x, w)))
    for jacobian, vjp, want in zip(*grads, strict=True):
        torch.testing.assert_close(jacobian, want, atol=1e-9, rtol=0)
        torch.testing.assert_close(vjp, want, atol=1e-9, rtol=0)


def test_samples_and_counts_are_seeded_and_unbiased():
    """Same seed, same samples; sample means lie within 5 standard errors of the exact
    values, counts add up to the shots."""
    shots = 4000

    def gates():
        qml.RY(0.7, 0)
        qml.CNOT([0, 1])
        qml.RX(1.1, 1)

    def circuit():
        gates()
        return (qml.sample(wires=[0, 1]), qml.sample(qml.X(0)), qml.counts(wires=[1]),
                qml.expval(qml.Z(1)), qml.probs([0]))

    runs = [qml.set_shots(qml.QNode(circuit, qml.device("qdl.qubit", wires=2, seed=5)),
                          shots)() for _ in range(2)]
    for a, b in zip(runs[0][:2], runs[1][:2], strict=True):
        np.testing.assert_array_equal(a, b)
    bits, xs, counts, z1, p0 = runs[0]
    assert bits.shape == (shots, 2) and set(np.unique(xs)) <= {-1.0, 1.0}
    assert sum(counts.values()) == shots
    exact = qml.QNode(lambda: [gates(), qml.expval(qml.Z(1)), qml.expval(qml.X(0))][1:],
                      qml.device("default.qubit", wires=2))
    ez1, ex0 = exact()[:2]
    p_exact = np.cos(0.35) ** 2
    se = 1 / np.sqrt(shots)
    assert abs(np.mean(1 - 2 * bits[:, 1]) - ez1) < 5 * se
    assert abs(np.mean(xs) - ex0) < 5 * se
    assert abs(z1 - ez1) < 5 * se and abs(p0[0] - p_exact) < 5 * se
    assert abs(counts.get("0", 0) / shots - (1 + ez1) / 2) < 5 * se


def test_shot_vectors_give_one_result_per_entry():
    """A shot vector returns one result tuple per entry, samples of the requested sizes."""
    dev = qml.device("qdl.qubit", wires=1, seed=1)

    @qml.set_shots([10, (20, 2)])
    @qml.qnode(dev)
    def circuit():
        qml.Hadamard(0)
        return qml.sample(wires=[0]), qml.expval(qml.X(0))

    out = circuit()
    assert [np.shape(o[0])[0] for o in out] == [10, 20, 20]
    assert all(abs(o[1] - 1.0) < 1e-12 for o in out)  # X eigenstate: every shot gives +1


def test_torchlayer_training_step_matches_default_qubit():
    """One TorchLayer optimisation step has default.qubit's loss and gradients (backprop
    and adjoint), and the weights move identically."""
    def make(dev, method):
        @qml.qnode(dev, diff_method=method, interface="torch")
        def qnode(inputs, weights):
            qml.AngleEmbedding(inputs, wires=range(N))
            qml.StronglyEntanglingLayers(weights, wires=range(N))
            return [qml.expval(qml.Z(i)) for i in range(N)]

        torch.manual_seed(0)
        layer = qml.qnn.TorchLayer(qnode, {"weights": (2, N, 3)})
        return torch.nn.Sequential(torch.nn.Linear(3, N), layer, torch.nn.Linear(N, 1))

    data = torch.randn(6, 3, generator=torch.Generator().manual_seed(1))
    target = torch.randn(6, 1, generator=torch.Generator().manual_seed(2))
    results = []
    for dev, method in [(devices()[1], "backprop"), (devices()[0], "backprop"),
                        (devices()[0], "adjoint")]:
        model = make(dev, method).double()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        loss = torch.nn.functional.mse_loss(model(data.double()), target.double())
        loss.backward()
        grads = [p.grad.clone() for p in model.parameters()]
        opt.step()
        results.append((loss.item(), grads, [p.detach().clone() for p in model.parameters()]))
    ref = results[0]
    for loss, grads, params in results[1:]:
        assert loss == pytest.approx(ref[0], abs=1e-10)
        for a, b in zip(grads + params, ref[1] + ref[2], strict=True):
            torch.testing.assert_close(a, b, atol=1e-9, rtol=0)


def test_wire_labels_and_bit_order():
    """Arbitrary wire labels map onto QDL wires in device order; the first device wire is
    the most significant bit, as in PennyLane and QDL."""
    labeled = qml.device("qdl.qubit", wires=["anc", 7, "q1"])
    plain = qml.device("qdl.qubit", wires=3)

    def circuit(w):
        qml.PauliX(w[2])
        qml.Hadamard(w[0])
        qml.CRY(0.8, [w[0], w[1]])
        return qml.probs(), qml.expval(qml.Z(w[1]) @ qml.Z(w[2]))

    a = qml.QNode(circuit, labeled)(["anc", 7, "q1"])
    b = qml.QNode(circuit, plain)([0, 1, 2])
    np.testing.assert_allclose(a[0], b[0], atol=1e-12)
    np.testing.assert_allclose(a[1], b[1], atol=1e-12)
    # X on the last wire alone: basis index 1 in both PennyLane's and QDL's convention.
    ref_probs = qdl.probs(qdl.Circuit(3).x(2).h(0).cry(0, 1, 0.8), dtype=torch.complex128)
    np.testing.assert_allclose(a[0], ref_probs.numpy(), atol=1e-12)


def test_mid_circuit_measurements_are_deferred():
    """A mid-circuit measurement with a conditional gate gives default.qubit's results."""
    dev, ref = qml.device("qdl.qubit", wires=3), qml.device("default.qubit", wires=3)

    def circuit():
        qml.RY(0.9, 0)
        m = qml.measure(0)
        qml.cond(m, qml.RX)(0.4, wires=1)
        return qml.expval(qml.Z(1)), qml.probs(op=m)

    for a, b in zip(qml.QNode(circuit, dev)(), qml.QNode(circuit, ref)(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-10)


def test_errors_name_the_problem():
    """Unsupported requests fail with messages saying what to do instead."""
    dev = qml.device("qdl.qubit", wires=2)

    @qml.qnode(dev, diff_method="adjoint")
    def probs_adjoint(x):
        qml.RX(x, 0)
        return qml.probs()

    with pytest.raises(qml.exceptions.QuantumFunctionError, match="adjoint"):
        probs_adjoint(qml.numpy.array(0.3, requires_grad=True))
    with pytest.raises(qdl.QDLError, match=r"complex64 or torch\.complex128"):
        qml.device("qdl.qubit", wires=2, dtype=torch.float64)
    with pytest.raises(qml.exceptions.DeviceError, match="deferred"):
        qml.QNode(lambda: qml.expval(qml.Z(0)), dev, mcm_method="one-shot",
                  shots=10)()
    with pytest.raises(qml.exceptions.DeviceError, match="not accepted with finite shots"):
        qml.QNode(lambda: qml.state(), dev, shots=10)()


def test_missing_pennylane_names_the_extra(monkeypatch):
    """Without PennyLane installed the device lookup says which extra installs it."""
    def fail(name):
        raise ImportError(name)

    monkeypatch.setattr(qdl_pl.importlib, "import_module", fail)
    with pytest.raises(qdl.QDLError, match=r'pip install "qdl\[pennylane\]"'):
        qdl_pl.QDLQubit  # noqa: B018


def test_docs_examples_run():
    """The python blocks of docs/pennylane.md run in order."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "pennylane.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks
    namespace: dict = {}
    for code in blocks:
        exec(compile(code, "docs/pennylane.md", "exec"), namespace)


# PennyLane's device suite. Deselected, with the reason: QDL simulates in torch, so
# backprop needs the torch interface; autograd users take diff_method="adjoint" (exact,
# device Jacobians) or parameter-shift. The suite's torch backprop tests run and pass.
AUTOGRAD_BACKPROP = [
    f"test_gradients_autograd.py::TestGradients::{t}[device_kwargs0-backprop]"
    for t in ["test_basic_grad", "test_backprop_state", "test_probs", "test_multi_meas",
              "test_hessian"]
]


def _suite(shots: str) -> subprocess.Popen:
    from pennylane.devices.tests import get_device_tests

    tests = get_device_tests()
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", "pytest.ini",
           "--rootdir", ".", ".", "--device", "qdl.qubit", "--shots", shots, "-rfEs",
           "-W", "ignore", *[f"--deselect={t}" for t in AUTOGRAD_BACKPROP]]
    return subprocess.Popen(cmd, cwd=tests, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def test_pennylane_device_suite_passes():
    """PennyLane's own device tests pass on qdl.qubit, exact and with 10000 shots (the two
    runs in parallel); only the documented autograd-backprop tests are deselected."""
    runs = {"None": _suite("None"), "10000": _suite("10000")}
    for shots, proc in runs.items():
        out, _ = proc.communicate(timeout=600)
        summary = out.strip().splitlines()[-1]
        counts = {k: int(v) for v, k in re.findall(r"(\d+) (\w+)", summary)}
        assert counts.get("failed", 0) == 0 and counts.get("errors", 0) == 0, out[-5000:]
        assert counts.get("passed", 0) > 350, summary
        assert counts.get("deselected", 0) == len(AUTOGRAD_BACKPROP), summary
        print(f"shots={shots}: {summary}")
