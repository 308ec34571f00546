"""qdl.interop.qiskit.Estimator / Sampler: Qiskit's V2 primitives simulated by QDL, checked
against Qiskit's StatevectorEstimator / StatevectorSampler and qiskit-machine-learning."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qdl import QDLError

qiskit = pytest.importorskip("qiskit")
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister  # noqa: E402
from qiskit.circuit import Parameter  # noqa: E402
from qiskit.circuit.library import efficient_su2, real_amplitudes  # noqa: E402
from qiskit.circuit.random import random_circuit  # noqa: E402
from qiskit.primitives import StatevectorEstimator, StatevectorSampler  # noqa: E402
from qiskit.quantum_info import Pauli, SparseObservable, SparsePauliOp, Statevector  # noqa: E402

from qdl.interop.qiskit import Estimator, Sampler  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _random_pauli_sum(n: int, rng: np.random.Generator, terms: int = 3) -> SparsePauliOp:
    labels = ["".join(rng.choice(list("IXYZ"), n)) for _ in range(terms)]
    return SparsePauliOp(labels, rng.normal(size=terms))


def _evs(primitive, pubs, **kwargs) -> list[np.ndarray]:
    return [r.data.evs for r in primitive.run(pubs, **kwargs).result()]


# ---- Estimator -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_estimator_equals_statevector_estimator_on_random_circuits(seed):
    """Random bound circuits (every standard gate family) give StatevectorEstimator's values."""
    rng = np.random.default_rng(seed)
    qc = random_circuit(4, 6, max_operands=3, seed=seed)
    obs = [_random_pauli_sum(4, rng) for _ in range(3)]
    ours, = _evs(Estimator(), [(qc, obs)])
    theirs, = _evs(StatevectorEstimator(), [(qc, obs)])
    np.testing.assert_allclose(ours, theirs, atol=1e-10)


def test_estimator_parameterized_circuit_and_observable_forms():
    """Values bind by Parameter, and every observable form means what it means to Qiskit."""
    rng = np.random.default_rng(1)
    qc = efficient_su2(3, reps=2)
    qc.rz(Parameter("a") * 2 + Parameter("b"), 1)  # names sort before θ: order matters
    values = rng.uniform(-np.pi, np.pi, (5, qc.num_parameters))
    obs = [[SparsePauliOp(["XIZ", "III"], [0.5, -1.0])], [Pauli("YYI")], ["IIX"],
           [{"ZZZ": 2.0, "XIX": -0.25}]]
    ours, = _evs(Estimator(), [(qc, obs, values)])
    theirs, = _evs(StatevectorEstimator(), [(qc, obs, values)])
    assert ours.shape == theirs.shape == (4, 5)
    np.testing.assert_allclose(ours, theirs, atol=1e-10)


@pytest.mark.parametrize("obs_shape, param_shape", [((), ()), ((3,), ()), ((), (4,)),
                                                    ((3,), (3,)), ((2, 1), (3,)),
                                                    ((1, 2), (3, 1)), ((2, 1, 1), (1, 3, 2))])
def test_estimator_broadcasts_like_qiskit(obs_shape, param_shape):
    """Observables and parameter-value arrays broadcast to the PUB's shape as in Qiskit."""
    rng = np.random.default_rng(len(obs_shape) + 10 * len(param_shape))
    qc = real_amplitudes(3, reps=1)
    size = int(np.prod(obs_shape, dtype=int))
    flat = np.empty(size, dtype=object)
    flat[:] = [_random_pauli_sum(3, rng) for _ in range(size)]
    obs = flat.reshape(obs_shape).tolist() if obs_shape else flat[0]
    values = rng.uniform(-np.pi, np.pi, (*param_shape, qc.num_parameters))
    ours, = _evs(Estimator(), [(qc, obs, values)])
    theirs, = _evs(StatevectorEstimator(), [(qc, obs, values)])
    assert ours.shape == theirs.shape == np.broadcast_shapes(obs_shape, param_shape)
    np.testing.assert_allclose(ours, theirs, atol=1e-10)


def test_estimator_parameter_values_given_as_blocks_or_empty():
    """Values in blocks (by Parameter or name) and an empty (3, 0) array match Qiskit."""
    qc = real_amplitudes(2, reps=1)
    p = list(qc.parameters)
    rng = np.random.default_rng(12)
    blocks = {(p[2], p[0]): rng.random((2, 3, 2)), p[1]: rng.random((2, 3)),
              p[3].name: rng.random((2, 3))}
    fixed = QuantumCircuit(2)
    fixed.h(0)
    pubs = [(qc, ["ZI", "XX", "IY"], blocks), (fixed, "XI", np.zeros((3, 0)))]
    for ours, theirs in zip(_evs(Estimator(), pubs), _evs(StatevectorEstimator(), pubs),
                            strict=True):
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, atol=1e-10)


def test_estimator_several_pubs_sharing_and_not_sharing_circuits():
    """PUBs sharing a circuit or not come back in order with their shapes and metadata."""
    rng = np.random.default_rng(2)
    a, b = real_amplitudes(2, reps=2), efficient_su2(2, reps=1)
    b.metadata = {"name": "b"}
    pubs = [(a, "ZZ", rng.random((3, a.num_parameters))), (b, ["XX", "ZI"], rng.random(
        b.num_parameters)), (a, [["XI"], ["IY"]], rng.random((4, a.num_parameters))),
        (random_circuit(2, 3, seed=5), "XY")]
    ours = Estimator().run(pubs).result()
    theirs = StatevectorEstimator().run(pubs).result()
    assert len(ours) == len(theirs) == 4
    for x, y in zip(ours, theirs, strict=True):
        assert x.data.evs.shape == y.data.evs.shape
        np.testing.assert_allclose(x.data.evs, y.data.evs, atol=1e-10)
        np.testing.assert_array_equal(x.data.stds, 0.0)
    assert ours[1].metadata["circuit_metadata"] == {"name": "b"}


def test_estimator_precision_adds_statevector_estimators_noise():
    """Precision adds StatevectorEstimator's very noise for the same seed; stds hold it."""
    qc = real_amplitudes(3, reps=1)
    values = np.random.default_rng(3).random((50, qc.num_parameters))
    pubs = [(qc, "ZZI", values), (qc, "XXX", values[:4], 0.5)]
    ours = Estimator(seed=11).run(pubs, precision=0.1).result()
    theirs = StatevectorEstimator(seed=11).run(pubs, precision=0.1).result()
    exact = _evs(Estimator(), pubs)
    for x, y, e, p in zip(ours, theirs, exact, [0.1, 0.5], strict=True):
        np.testing.assert_allclose(x.data.evs, y.data.evs, atol=1e-10)
        np.testing.assert_array_equal(x.data.stds, p)
        assert x.metadata["target_precision"] == p
        assert not np.allclose(x.data.evs, e)
    assert abs(np.std(ours[0].data.evs - exact[0]) - 0.1) < 0.04
    again = Estimator(seed=11).run(pubs, precision=0.1).result()
    np.testing.assert_array_equal(again[0].data.evs, ours[0].data.evs)
    default = Estimator(default_precision=0.1, seed=11)
    assert default.default_precision == 0.1 and default.seed == 11
    np.testing.assert_allclose(_evs(default, pubs[:1])[0], ours[0].data.evs, atol=1e-12)


def test_estimator_cache_sees_a_circuit_edited_in_place():
    """A circuit changed after it ran is converted again, not served from the cache."""
    est, qc = Estimator(), QuantumCircuit(1)
    assert _evs(est, [(qc, "Z")])[0] == pytest.approx(1.0)
    qc.x(0)
    assert _evs(est, [(qc, "Z")])[0] == pytest.approx(-1.0)


def test_estimator_rejects_what_it_cannot_simulate():
    """Projector observables and non-complex dtypes are QDLErrors raised by run itself."""
    qc = QuantumCircuit(2)
    with pytest.raises(QDLError, match="not a Pauli word"):
        Estimator().run([(qc, SparseObservable("0Z"))])
    with pytest.raises(QDLError, match="dtype"):
        Estimator(dtype=np.float64)


def _reset() -> QuantumCircuit:
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.reset(0)
    return qc


def _mid_measure() -> QuantumCircuit:
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.measure(0, 0)
    qc.cx(0, 1)
    qc.measure(1, 1)
    return qc


def _if_test() -> QuantumCircuit:
    qc = QuantumCircuit(1, 1)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(0)
    return qc


@pytest.mark.parametrize("make, message", [(_reset, "reset"), (_mid_measure, "mid-circuit"),
                                           (_if_test, "if_else")])
def test_unsupported_instructions_raise_qdl_errors(make, message):
    """Reset, mid-circuit measurement, classical control: QDLError from run, both primitives."""
    qc = make()
    with pytest.raises(QDLError, match=message):
        Estimator().run([(qc, "Z" * qc.num_qubits)])
    with pytest.raises(QDLError, match=message):
        Sampler().run([qc])


# ---- Sampler -------------------------------------------------------------------------------


def _registers_circuit() -> QuantumCircuit:
    """Two registers filled out of order, a multi-byte register, bits never written."""
    q, alpha, beta = QuantumRegister(5), ClassicalRegister(3, "alpha"), ClassicalRegister(10,
                                                                                          "beta")
    qc = QuantumCircuit(q, alpha, beta)
    qc.compose(real_amplitudes(5, reps=2), inplace=True)
    qc.measure([3, 0, 4], alpha)
    qc.measure([1, 2], [beta[9], beta[0]])
    return qc


def test_sampler_bit_arrays_equal_statevector_samplers_for_the_same_seed():
    """Registers, bit order, packing and samples equal StatevectorSampler's for one seed."""
    qc = _registers_circuit()
    values = np.random.default_rng(4).random((2, 3, qc.num_parameters))
    ours = Sampler(seed=5).run([(qc, values)], shots=200).result()[0]
    theirs = StatevectorSampler(seed=5).run([(qc, values)], shots=200).result()[0]
    assert ours.metadata["shots"] == 200
    for name in ("alpha", "beta"):
        x, y = getattr(ours.data, name), getattr(theirs.data, name)
        assert (x.shape, x.num_bits, x.num_shots) == (y.shape, y.num_bits, y.num_shots)
        np.testing.assert_array_equal(x.array, y.array)


@pytest.mark.parametrize("seed", range(3))
def test_sampler_probabilities_equal_statevector_marginals(seed):
    """Exact register distributions equal Statevector's marginals in the register's order."""
    qc = random_circuit(4, 5, max_operands=2, seed=seed)
    creg = ClassicalRegister(3, "c")
    qc.add_register(creg)
    qubits = [2, 0, 3]
    qc.measure(qubits, creg)
    ours = Sampler().probabilities(qc)["c"]
    theirs = Statevector(qc.remove_final_measurements(inplace=False)).probabilities(qubits)
    np.testing.assert_allclose(ours, theirs, atol=1e-10)


def test_sampler_counts_follow_the_exact_distribution():
    """20k shots per parameter set: every count within 5 sigma of the exact probability."""
    qc = real_amplitudes(3, reps=2)
    qc.measure_all()
    values = np.random.default_rng(6).random((2, 2, qc.num_parameters))
    shots = 20_000
    bits = Sampler(seed=7).run([(qc, values)], shots=shots).result()[0].data.meas
    exact = Sampler().probabilities((qc, values))["meas"]
    assert bits.shape == (2, 2) and exact.shape == (2, 2, 8)
    for index in np.ndindex(2, 2):
        counts = np.zeros(8)
        for k, v in bits.get_int_counts(index).items():
            counts[k] = v
        p = exact[index]
        assert np.all(np.abs(counts / shots - p) <= 5 * np.sqrt(p * (1 - p) / shots) + 1e-3)


def test_sampler_seeds_reproduce_and_differ():
    """The same seed gives the same samples, another seed others; a Generator continues."""
    qc = QuantumCircuit(3)
    qc.h([0, 1, 2])
    qc.measure_all()

    def draw(seed):
        return Sampler(seed=seed).run([qc, qc], shots=64).result()

    a, b, c = draw(1), draw(1), draw(2)
    np.testing.assert_array_equal(a[0].data.meas.array, b[0].data.meas.array)
    assert not np.array_equal(a[0].data.meas.array, c[0].data.meas.array)
    np.testing.assert_array_equal(a[0].data.meas.array, a[1].data.meas.array)  # int: restart
    g = draw(np.random.default_rng(0))
    assert not np.array_equal(g[0].data.meas.array, g[1].data.meas.array)


def test_sampler_without_registers_warns_and_returns_no_data():
    """Like StatevectorSampler: a warning and an empty DataBin of the PUB's shape."""
    qc = QuantumCircuit(1)
    qc.ry(Parameter("a"), 0)
    with pytest.warns(UserWarning, match="no output classical registers"):
        result = Sampler().run([(qc, [[0.1], [0.2]])], shots=5).result()[0]
    assert result.data.shape == (2,) and list(result.data.keys()) == []


# ---- qiskit-machine-learning ---------------------------------------------------------------

qml = pytest.importorskip("qiskit_machine_learning")
from qiskit_machine_learning.circuit.library import qnn_circuit  # noqa: E402
from qiskit_machine_learning.neural_networks import EstimatorQNN, SamplerQNN  # noqa: E402


def test_estimator_qnn_forward_and_backward_equal_qiskits():
    """EstimatorQNN forward, input and weight gradients equal StatevectorEstimator's."""
    qc, fm, an = qnn_circuit(num_qubits=3)
    rng = np.random.default_rng(8)
    x, w = rng.random((6, 3)), rng.random(len(an))
    out = []
    for estimator in (Estimator(), StatevectorEstimator()):
        qnn = EstimatorQNN(circuit=qc, input_params=fm, weight_params=an, estimator=estimator,
                           observables=[SparsePauliOp("ZZZ"), SparsePauliOp("IXY")],
                           input_gradients=True, default_precision=0.0)
        out.append((qnn.forward(x, w), *qnn.backward(x, w)))
    for ours, theirs in zip(*out, strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-10)


def _parity(b: int) -> int:
    return b.bit_count() % 2


def test_sampler_qnn_forward_and_backward_match_qiskits():
    """SamplerQNN equals StatevectorSampler's for one seed, and the exact parity within noise."""
    qc, fm, an = qnn_circuit(ansatz=real_amplitudes(2, reps=1))
    rng = np.random.default_rng(9)
    x, w = rng.random((3, 2)), rng.random(len(an))
    out = []
    for sampler in (Sampler(seed=3), StatevectorSampler(seed=3)):
        qnn = SamplerQNN(circuit=qc, input_params=fm, weight_params=an, sampler=sampler,
                         interpret=_parity, output_shape=2, input_gradients=True)
        out.append((qnn.forward(x, w), *qnn.backward(x, w)))
    for ours, theirs in zip(*out, strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-9)
    exact = EstimatorQNN(circuit=qc, input_params=fm, weight_params=an,
                         estimator=StatevectorEstimator(), observables=SparsePauliOp("ZZ"),
                         input_gradients=True, default_precision=0.0)
    forward, (_, gw) = exact.forward(x, w), exact.backward(x, w)
    np.testing.assert_allclose(out[0][0][:, 1], (1 - forward[:, 0]) / 2, atol=0.06)
    np.testing.assert_allclose(out[0][2][:, 1], -gw[:, 0] / 2, atol=0.06)


def test_vqc_trains_on_the_sampler_as_on_statevector_sampler():
    """VQC fitted on QDL's Sampler ends where StatevectorSampler's does (same seed)."""
    from qiskit_machine_learning.algorithms.classifiers import VQC
    from qiskit_machine_learning.optimizers import COBYLA

    rng = np.random.default_rng(10)
    x = 2 * rng.random((8, 2)) - 1
    y = np.eye(2)[(x.sum(axis=1) >= 0).astype(int)]
    fitted = []
    for sampler in (Sampler(seed=4), StatevectorSampler(seed=4)):
        vqc = VQC(num_qubits=2, ansatz=real_amplitudes(2, reps=1), loss="cross_entropy",
                  optimizer=COBYLA(maxiter=8), sampler=sampler, initial_point=np.full(4, 0.5))
        vqc.fit(x, y)
        fitted.append((vqc.weights, vqc.score(x, y)))
    np.testing.assert_allclose(fitted[0][0], fitted[1][0], atol=1e-6)
    assert fitted[0][1] == fitted[1][1]


# ---- the qiskit-machine-learning tutorial --------------------------------------------------


def _tutorial_classifier(estimator, default_precision=0.015625, maxiter=60, callback=None):
    """The EstimatorQNN classifier of qiskit-machine-learning's tutorial "Neural Network
    Classifier & Regressor" (02), as written there, on ``estimator``."""
    from qiskit_machine_learning.algorithms.classifiers import NeuralNetworkClassifier
    from qiskit_machine_learning.optimizers import COBYLA
    from qiskit_machine_learning.utils import algorithm_globals

    algorithm_globals.random_seed = 42
    num_inputs, num_samples = 2, 20
    X = 2 * algorithm_globals.random.random([num_samples, num_inputs]) - 1
    y01 = 1 * (np.sum(X, axis=1) >= 0)
    y = 2 * y01 - 1
    qc, fm_params, anz_params = qnn_circuit(num_qubits=2)
    qnn = EstimatorQNN(circuit=qc, input_params=fm_params, weight_params=anz_params,
                       estimator=estimator, default_precision=default_precision)
    qnn.forward(X[0, :], algorithm_globals.random.random(qnn.num_weights))
    classifier = NeuralNetworkClassifier(qnn, optimizer=COBYLA(maxiter=maxiter),
                                         callback=callback)
    classifier.fit(X, y)
    return classifier.score(X, y)


def test_tutorial_classifier_scores_080_through_qdl():
    """The tutorial's classifier scores 0.80 on QDL (seeded noise as in the tutorial; exact)."""
    assert _tutorial_classifier(Estimator(seed=0)) == pytest.approx(0.8)
    assert _tutorial_classifier(Estimator(seed=1)) == pytest.approx(0.8)
    assert _tutorial_classifier(Estimator(), default_precision=0.0) == pytest.approx(0.8)


def test_tutorial_objective_follows_statevector_estimators():
    """The tutorial's first COBYLA steps see StatevectorEstimator's objective values."""
    for make, precision in [(lambda: None, 0.0), (lambda: 5, 0.015625)]:
        values = [], []
        for v, estimator in zip(values, (Estimator(seed=make()),
                                         StatevectorEstimator(seed=make())), strict=True):
            _tutorial_classifier(estimator, precision, maxiter=12,
                                 callback=lambda _w, f, v=v: v.append(f))
        np.testing.assert_allclose(values[0], values[1], atol=1e-9)


# ---- docs, example, import -----------------------------------------------------------------


def test_docs_qiskit_md_blocks_run():
    """The python blocks of docs/qiskit.md run in order."""
    text = (ROOT / "docs" / "qiskit.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks
    namespace: dict = {}
    for code in blocks:
        exec(compile(code, "docs/qiskit.md", "exec"), namespace)


def test_import_qdl_does_not_import_qiskit_until_asked():
    """``import qdl`` leaves Qiskit unloaded; ``qdl.interop.qiskit.Estimator`` loads it."""
    code = ("import sys, qdl; assert 'qiskit' not in sys.modules; "
            "from qdl.interop.qiskit import Estimator, Sampler; "
            "assert 'qiskit.primitives' in sys.modules; print(Estimator.__mro__[1].__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "BaseEstimatorV2"
