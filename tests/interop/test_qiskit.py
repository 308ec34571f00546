"""Qiskit interop: circuit conversion both ways, QASM 3/2 export, noise models against Aer,
and the Estimator backend."""

from __future__ import annotations

import math

import helpers as ref
import numpy as np
import pytest
import torch

import qdl
from qdl import Circuit, QDLError
from qdl.expr import Sym, func
from qdl.interop.qasm import from_qasm, to_qasm
from qdl.noise import (
    NoiseModel,
    amplitude_damping,
    bit_flip,
    depolarizing,
    depolarizing2,
    phase_damping,
    phase_flip,
    readout_error,
    thermal_relaxation,
)

qiskit = pytest.importorskip("qiskit")
from qiskit.quantum_info import DensityMatrix, Statevector  # noqa: E402

from qdl.interop.qiskit import (  # noqa: E402
    QiskitEstimator,
    from_qiskit,
    noise_model_to_qiskit,
    require,
    to_qiskit,
)

C128 = torch.complex128


def _values(c: Circuit, rng: np.random.Generator) -> dict[str, float]:
    return {n: float(rng.uniform(-math.pi, math.pi)) for n in c.parameters}


def _qiskit_state(qc, values: dict[str, float]) -> np.ndarray:
    """Qiskit's state in QDL's bit order (wire 0 most significant)."""
    bound = qc.assign_parameters({p: values[p.name] for p in qc.parameters})
    return Statevector(bound).reverse_qargs().data


# ---- circuits ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_to_qiskit_gives_the_same_state(seed):
    """Random circuits (every gate, ctrl modifiers, expressions) give Qiskit the same state."""
    rng = np.random.default_rng(seed)
    c = ref.random_circuit(4, rng, depth=20)
    values = _values(c, rng)
    want = qdl.state(c, values, dtype=C128).numpy()
    np.testing.assert_allclose(_qiskit_state(c.to_qiskit(), values), want, atol=1e-10)


@pytest.mark.parametrize("seed", range(4))
def test_qdl_qiskit_qdl_round_trip(seed):
    """QDL → Qiskit → QDL keeps the state, the parameter names and the gate count."""
    rng = np.random.default_rng(50 + seed)
    c = ref.random_circuit(4, rng, depth=20)
    back = Circuit.from_qiskit(c.to_qiskit())
    values = _values(c, rng)
    assert set(back.parameters) == set(c.parameters)
    np.testing.assert_allclose(qdl.state(back, values, dtype=C128).numpy(),
                               qdl.state(c, values, dtype=C128).numpy(), atol=1e-10)
    assert len([op for op in back.ops if op.name != "gphase"]) == len(
        [op for op in c.ops if op.name != "gphase"])


def test_bit_order_is_reversed_in_statevector():
    """x on wire 0 is QDL index 2 (MSB) and Qiskit index 1 (qubit 0 is the LSB)."""
    qc = Circuit(2).x(0).to_qiskit()
    assert np.argmax(np.abs(Statevector(qc).data)) == 1
    assert np.argmax(np.abs(qdl.state(Circuit(2).x(0)).numpy())) == 2


def test_from_qiskit_decomposes_unknown_gates(rng):
    """Gates QDL lacks (ecr, dcx, rzx, r, xx_plus_yy, cu, cs, rccx, mcx(5), open controls,
    unitary) are read through their definitions with the same state."""
    from qiskit.circuit.library import UnitaryGate, XGate
    from qiskit.quantum_info import random_unitary

    qc = qiskit.QuantumCircuit(6)
    for q in range(6):
        qc.h(q)
        qc.ry(0.2 * (q + 1), q)
    qc.ecr(0, 1)
    qc.dcx(1, 2)
    qc.rzx(0.3, 2, 3)
    qc.r(0.4, 0.5, 4)
    qc.append(qiskit.circuit.library.XXPlusYYGate(0.6, 0.7), [3, 4])
    qc.cu(0.1, 0.2, 0.3, 0.4, 5, 0)
    qc.cs(1, 2)
    qc.rccx(0, 1, 2)
    qc.append(XGate().control(5), [0, 1, 2, 3, 4, 5])
    qc.append(XGate().control(2, ctrl_state="01"), [1, 3, 5])
    qc.append(UnitaryGate(random_unitary(4, seed=3)), [2, 4])
    qc.global_phase = 0.3
    c = from_qiskit(qc)
    np.testing.assert_allclose(qdl.state(c, dtype=C128).numpy(),
                               Statevector(qc).reverse_qargs().data, atol=1e-10)
    assert any(op.name == "x" and op.ctrl == 5 for op in c.ops)


def test_from_qiskit_annotated_operations():
    """AnnotatedOperations (control with open states, inverse, integer power, nested) read
    back with Qiskit's state."""
    from qiskit.circuit import AnnotatedOperation, ControlModifier, InverseModifier, PowerModifier
    from qiskit.circuit.library import CXGate, RXGate, SGate, UGate

    qc = qiskit.QuantumCircuit(4)
    qc.h([0, 1, 2, 3])
    qc.ry(0.3, 1)
    qc.append(AnnotatedOperation(RXGate(0.3), [ControlModifier(1), InverseModifier()]), [0, 2])
    qc.append(RXGate(0.4).control(2, annotated=True), [0, 1, 2])
    qc.append(AnnotatedOperation(SGate(), [PowerModifier(3)]), [1])
    mods = [ControlModifier(1, ctrl_state=0), PowerModifier(2), ControlModifier(2, ctrl_state=2)]
    qc.append(AnnotatedOperation(UGate(0.1, 0.2, 0.3), mods), [3, 0, 1, 2])
    qc.append(AnnotatedOperation(CXGate(), [ControlModifier(1), InverseModifier()]), [3, 1, 2])
    np.testing.assert_allclose(qdl.state(from_qiskit(qc), dtype=C128).numpy(),
                               Statevector(qc).reverse_qargs().data, atol=1e-10)
    qc = qiskit.QuantumCircuit(1)
    qc.append(AnnotatedOperation(SGate(), [PowerModifier(0.5)]), [0])
    with pytest.raises(QDLError, match="integer powers only"):
        from_qiskit(qc)


def test_from_qiskit_parameter_vectors_and_expressions():
    """ParameterVector names become identifiers; sin/exp/ln/**/division read back exactly."""
    from qiskit.circuit import Parameter, ParameterVector

    x, a = ParameterVector("x", 2), Parameter("a")
    qc = qiskit.QuantumCircuit(2)
    qc.rx(x[0] * 2 + 0.1, 0)
    qc.ry((a.sin() - x[1] / 3) ** 2, 1)
    qc.crz(a.exp() + a.log() + a.arctan(), 0, 1)
    qc.p(-a * x[0], 1)
    qc.u(a**0.5, x[1].cos(), 0.2, 0)
    c = from_qiskit(qc)
    assert c.parameters == ("a", "x_0", "x_1")
    values = {"a": 0.7, "x[0]": -0.4, "x[1]": 1.3}
    bound = qc.assign_parameters({p: values[p.name] for p in qc.parameters})
    got = qdl.state(c, {"a": 0.7, "x_0": -0.4, "x_1": 1.3}, dtype=C128).numpy()
    np.testing.assert_allclose(got, Statevector(bound).reverse_qargs().data, atol=1e-10)


def test_to_qiskit_expressions_and_unused_parameters():
    """Every QDL expression function converts; a gphase expression lands in global_phase."""
    a, b = Sym("a"), Sym("b")
    c = Circuit(2).rx(0, func("sqrt", a * a + 1) - func("arccos", b / 4)).ry(
        1, func("tan", a) ** 2 + func("ln", 2 + b)).rz(0, -func("arcsin", b / 3)).gphase(
        func("exp", a) * 0.5)
    values = {"a": 0.3, "b": -0.8}
    qc = to_qiskit(c)
    np.testing.assert_allclose(_qiskit_state(qc, values),
                               qdl.state(c, values, dtype=C128).numpy(), atol=1e-10)


@pytest.mark.parametrize(("build", "message"), [
    (lambda qc: qc.reset(0), "'reset' is not supported"),
    (lambda qc: (qc.measure(0, 0), qc.x(0)), "mid-circuit measurement"),
    (lambda qc: _if_test(qc), "not supported"),
])
def test_from_qiskit_rejects_non_unitary_parts(build, message):
    """reset, gates after a measurement and classical control raise QDLError."""
    qc = qiskit.QuantumCircuit(2, 1)
    build(qc)
    with pytest.raises(QDLError, match=message):
        from_qiskit(qc)


def _if_test(qc) -> None:
    qc.measure(1, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(0)


def test_from_qiskit_ignores_final_measurements_and_barriers():
    """Barriers and final measurements are dropped; non-circuits raise QDLError."""
    qc = qiskit.QuantumCircuit(2)
    qc.h(0)
    qc.barrier()
    qc.cx(0, 1)
    qc.measure_all()
    assert [op.name for op in from_qiskit(qc).ops] == ["h", "cx"]
    with pytest.raises(QDLError, match=r"expects a qiskit\.QuantumCircuit"):
        from_qiskit("OPENQASM 3;")


def test_missing_optional_package_message():
    """A missing optional package raises QDLError naming the qiskit extra."""
    with pytest.raises(QDLError, match=r'pip install "qdl\[qiskit\]"'):
        require("qiskit_not_installed_anywhere")


# ---- OpenQASM 3 and 2 export read by Qiskit ------------------------------------------------


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("seed", range(3))
def test_qasm3_export_reads_in_qiskit(seed):
    """QDL → OpenQASM 3 → qiskit.qasm3.loads gives the same state for random circuits."""
    qasm3 = pytest.importorskip("qiskit.qasm3")
    pytest.importorskip("qiskit_qasm3_import")
    rng = np.random.default_rng(200 + seed)
    gates = [g for g in ref.ALL_GATES if g != "cu3"]  # see test_qasm.QISKIT_GATES
    # Free inputs stay symbolic; qiskit_qasm3_import cannot read function calls like sin(a).
    c = ref.random_circuit(3, rng, depth=15, gates=gates, exprs=False)
    values = _values(c, rng)
    np.testing.assert_allclose(_qiskit_state(qasm3.loads(to_qasm(c)), values),
                               qdl.state(c, values, dtype=C128).numpy(), atol=1e-10)


QASM2_GATES = ["id", "x", "y", "z", "h", "s", "sdg", "t", "tdg", "sx", "sxdg", "rx", "ry", "rz",
               "p", "u", "u2", "swap", "iswap", "iswap_dg", "rxx", "ryy", "rzz", "cx", "cy",
               "cz", "ch", "csx", "cp", "crx", "cry", "crz", "cu3", "cswap", "ccx", "ccz",
               "gphase"]


@pytest.mark.parametrize("seed", range(3))
def test_qasm2_export_reads_in_qiskit_and_qdl(seed):
    """QDL → OpenQASM 2.0 → qiskit.qasm2.loads and → from_qasm both give the same state."""
    from qiskit import qasm2

    rng = np.random.default_rng(300 + seed)
    c = ref.random_circuit(4, rng, depth=30, gates=QASM2_GATES, max_ctrl=0)
    c = c.bind(_values(c, rng))
    text = c.to_qasm(version=2)
    want = qdl.state(c, dtype=C128).numpy()
    np.testing.assert_allclose(Statevector(qasm2.loads(text)).reverse_qargs().data, want,
                               atol=1e-10)
    np.testing.assert_allclose(qdl.state(from_qasm(text), dtype=C128).numpy(), want,
                               atol=1e-10)


def test_qasm2_export_errors():
    """Free parameters, ctrl modifiers, c3x and unknown versions raise QDLError."""
    with pytest.raises(QDLError, match="no free parameters; bind"):
        Circuit(1).rx(0, "a").to_qasm(version=2)
    with pytest.raises(QDLError, match=r"ctrl @ modifiers have no OpenQASM 2\.0 form"):
        Circuit(3).add("rx", [0, 1, 2], [0.1], ctrl=2).to_qasm(version=2)
    with pytest.raises(QDLError, match=r"'c3x' has no OpenQASM 2\.0 form"):
        Circuit(4).c3x(0, 1, 2, 3).to_qasm(version=2)
    with pytest.raises(QDLError, match="version must be 2 or 3"):
        Circuit(1).to_qasm(version=4)


# ---- noise models against Aer --------------------------------------------------------------

# Gates Aer's density-matrix method runs natively (others it would decompose, so its noise,
# keyed by gate name, would follow the decomposed gates instead).
AER_GATES = ["id", "x", "y", "z", "h", "s", "sdg", "t", "tdg", "sx", "sxdg", "rx", "ry", "rz",
             "p", "u", "u2", "swap", "rxx", "ryy", "rzz", "cx", "cy", "cz", "cp"]


def _models(rng: np.random.Generator) -> list[NoiseModel]:
    t1 = float(rng.uniform(20, 60))
    return [
        NoiseModel().add(["cx", "cz", "swap", "rzz"], depolarizing2(rng.uniform(0, 0.2)))
        .add("all", amplitude_damping(rng.uniform(0, 0.1))),
        NoiseModel().add(["rx", "ry", "h", "u"], depolarizing(rng.uniform(0, 0.3)), wires=[0, 2])
        .add("all", thermal_relaxation(t1, rng.uniform(1, 2 * t1), rng.uniform(0, 5)))
        .add("cx", bit_flip(rng.uniform(0, 0.2)), wires=[1]),
        NoiseModel().add(["rz", "p", "s", "t"], phase_damping(rng.uniform(0, 0.3)))
        .add(["cy", "cp", "rxx", "ryy"], depolarizing2(rng.uniform(0, 0.3)), wires=[0, 1, 2])
        .add("all", phase_flip(rng.uniform(0, 0.1))),
    ]


@pytest.mark.parametrize("seed", range(2))
def test_noisy_density_matrix_matches_aer(seed):
    """Random circuits under converted noise models: ρ agrees with Aer's density-matrix
    simulator to 1e-6 (complex128)."""
    aer = pytest.importorskip("qiskit_aer")
    rng = np.random.default_rng(400 + seed)
    for model in _models(rng):
        c = ref.random_circuit(3, rng, depth=18, gates=AER_GATES, max_ctrl=0)
        values = _values(c, rng)
        qc = c.bind(values).to_qiskit()
        qc.save_density_matrix()
        sim = aer.AerSimulator(method="density_matrix", noise_model=model.to_qiskit(3))
        want = DensityMatrix(sim.run(qc).result().data()["density_matrix"])
        got = qdl.density_matrix(c, values, noise=model, dtype=C128).numpy()
        np.testing.assert_allclose(got, want.reverse_qargs().data, atol=1e-6)


def test_readout_errors_match_aer_sampling():
    """Aer's counts with the converted readout errors match qdl.probs(noise=...) within 5σ."""
    aer = pytest.importorskip("qiskit_aer")
    model = (NoiseModel().add("cx", depolarizing2(0.1)).add_readout(readout_error(0.05, 0.12))
             .add_readout(readout_error(0.2, 0.01), wires=[2]))
    c = Circuit(3).h(0).cx(0, 1).ry(2, 1.1).cx(1, 2)
    qc = c.to_qiskit()
    qc.measure_all()
    shots = 20000
    sim = aer.AerSimulator(noise_model=model.to_qiskit(), seed_simulator=7)
    counts = sim.run(qc, shots=shots).result().get_counts()
    # Qiskit's bit strings put qubit 0 last; reversed they index like QDL.
    freq = np.zeros(8)
    for bits, k in counts.items():
        freq[int(bits[::-1], 2)] = k / shots
    p = qdl.probs(c, noise=model, dtype=C128).numpy()
    assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / shots) + 1e-9)


def test_noise_conversion_errors_and_layout():
    """Wire-restricted rules need n_qubits; the result lists per-qubit errors then."""
    pytest.importorskip("qiskit_aer")
    model = NoiseModel().add("rx", bit_flip(0.1), wires=[1])
    with pytest.raises(QDLError, match="pass n_qubits"):
        model.to_qiskit()
    aer = model.to_qiskit(2)
    assert aer.noise_qubits == [1]
    with pytest.raises(QDLError, match=r"expected a qdl\.noise\.NoiseModel"):
        noise_model_to_qiskit({"channels": []})


# ---- the Estimator backend -----------------------------------------------------------------


def _layer_circuit() -> Circuit:
    return (Circuit(2).ry(0, "x0").ry(1, "x1").cx(0, 1).rx(0, "w0").crz(0, 1, 2 * Sym("w1"))
            .u(1, "w0", 0.3, "w1"))


def test_estimator_matches_the_simulator(rng):
    """QiskitEstimator (StatevectorEstimator) gives qdl.expval's values for a batch."""
    c = _layer_circuit()
    params = {n: torch.tensor(rng.uniform(-2, 2, (2, 3))) for n in c.parameters}
    params["w1"] = 0.4
    obs = ["Z0", "X0 Y1 + 0.5", "-1.5 Z0 Z1"]
    got = QiskitEstimator().expval(c, obs, params)
    assert got.shape == (2, 3, 3)
    np.testing.assert_allclose(got.numpy(), qdl.expval(c, obs, params, dtype=C128).numpy(),
                               atol=1e-10)


@pytest.mark.parametrize("method", ["parameter-shift", "finite-diff"])
def test_backend_gradients_match_adjoint(method, rng):
    """expval(..., backend=QiskitEstimator()) differentiates by shifts through Qiskit."""
    c = _layer_circuit()
    values = {n: rng.uniform(-2, 2, (3,)) for n in c.parameters}
    grads = {}
    for backend in [None, QiskitEstimator()]:
        params = {k: torch.tensor(v, requires_grad=True) for k, v in values.items()}
        kw = {"backend": backend, "diff_method": method} if backend else {}
        out = qdl.expval(c, ["Z0", "X1", "Y0 Z1"], params, dtype=C128, **kw)
        out.sum().backward()
        grads[backend is None] = [params[k].grad.numpy() for k in sorted(params)]
    tol = 1e-10 if method == "parameter-shift" else 1e-6
    for got, want in zip(grads[False], grads[True], strict=True):
        np.testing.assert_allclose(got, want, atol=tol)


def test_quantum_layer_on_a_backend():
    """QuantumLayer(backend=...) forward equals the simulator's; weight gradients too."""
    torch.manual_seed(3)
    args = (_layer_circuit(), ["Z0", "Z1"])
    kw = {"inputs": ["x0", "x1"], "dtype": C128}
    local = qdl.nn.QuantumLayer(*args, **kw)
    remote = qdl.nn.QuantumLayer(*args, backend=QiskitEstimator(), **kw)
    remote.load_state_dict(local.state_dict())
    assert "backend=QiskitEstimator" in repr(remote)
    x = torch.randn(4, 2, dtype=torch.float64)
    outs = [layer(x) for layer in (local, remote)]
    torch.testing.assert_close(outs[0], outs[1], atol=1e-10, rtol=0)
    for o in outs:
        o.sum().backward()
    torch.testing.assert_close(local.weights.grad, remote.weights.grad, atol=1e-10, rtol=0)


def test_aer_estimator_with_noise_matches_qdl_noise():
    """Aer's EstimatorV2 with the converted model gives QDL's noisy expectations."""
    pytest.importorskip("qiskit_aer")
    from qiskit_aer.primitives import EstimatorV2

    model = NoiseModel().add("cx", depolarizing2(0.1)).add(["ry", "rx"], amplitude_damping(0.1))
    c = Circuit(2).ry(0, "a").rx(1, "b").cx(0, 1).ry(1, "a")
    params = {"a": torch.tensor([0.3, 1.2], dtype=torch.float64), "b": 0.5}
    options = {"backend_options": {"method": "density_matrix", "noise_model": model.to_qiskit()}}
    got = QiskitEstimator(EstimatorV2(options=options)).expval(c, ["Z0", "X1", "Z0 Z1"], params)
    want = qdl.expval(c, ["Z0", "X1", "Z0 Z1"], params, noise=model, dtype=C128)
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-6)


def test_aer_estimator_with_parameterized_controlled_gates():
    """Aer's EstimatorV2 ignores values of parameterized crx/cry/crz/cp; QDL binds them."""
    pytest.importorskip("qiskit_aer")
    from qiskit_aer.primitives import EstimatorV2

    c = Circuit(3).h(0).h(1).crx(0, 2, "a").cry(1, 2, "b").crz(0, 1, "a").cp(2, 0, "b")
    params = {"a": torch.tensor([0.3, 1.2, 2.5], dtype=torch.float64), "b": 0.7}
    got = QiskitEstimator(EstimatorV2()).expval(c, ["Z2", "X0 Y1", "X2"], params)
    want = qdl.expval(c, ["Z2", "X0 Y1", "X2"], params, dtype=C128)
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-9)


def test_aer_backend_with_shots_within_five_sigma():
    """An AerSimulator backend (transpiled, sampled) is within 5σ of the exact values."""
    aer = pytest.importorskip("qiskit_aer")
    c = Circuit(2).ry(0, "a").rx(1, "b").cx(0, 1)
    params = {"a": 0.3, "b": 0.5}
    precision = 0.01
    got = QiskitEstimator(aer.AerSimulator(seed_simulator=5), precision=precision).expval(
        c, ["Z0", "X1", "Z0 Z1"], params)
    want = qdl.expval(c, ["Z0", "X1", "Z0 Z1"], params, dtype=C128)
    assert got.shape == (3,)
    assert np.all(np.abs(got.numpy() - want.numpy()) <= 5 * precision)


def test_estimator_errors():
    """Wrong targets and parameter names raise QDLError."""
    with pytest.raises(QDLError, match="needs an EstimatorV2 primitive or a BackendV2"):
        QiskitEstimator(object())
    with pytest.raises(QDLError, match=r"missing \['b'\]"):
        QiskitEstimator().expval(Circuit(1).rx(0, "a").ry(0, "b"), ["Z0"], {"a": 0.1})
