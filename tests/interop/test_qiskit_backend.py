"""The Sampler backend: Pauli words measured in their bases on any SamplerV2 or BackendV2,
against QDL's exact and noisy expectation values."""

from __future__ import annotations

import math
import sys

import helpers as ref
import numpy as np
import pytest
import torch

import qdl
from qdl import Circuit, QDLError
from qdl.noise import NoiseModel, amplitude_damping, depolarizing2, readout_error
from qdl.observables import Observable

pytest.importorskip("qiskit")
from qiskit.primitives import StatevectorSampler

from qdl.interop.qiskit import QiskitSampler
from qdl.interop.qiskit.backend import MeasurementPlan

C128 = torch.complex128

# Gates Aer runs natively, so its noise (keyed by gate name) lands on the same gates as QDL's.
AER_GATES = ["x", "y", "z", "h", "s", "sdg", "t", "sx", "rx", "ry", "rz", "p", "u", "swap",
             "rxx", "ryy", "rzz", "cx", "cy", "cz", "cp", "crx", "cry", "crz"]


def _observables(n: int, rng: np.random.Generator) -> list[str]:
    """Three random Pauli sums on ``n`` wires with X, Y and Z, one with a constant."""
    out = []
    for k in range(3):
        terms = []
        for _ in range(int(rng.integers(1, 4))):
            wires = sorted(rng.choice(n, size=int(rng.integers(1, n + 1)), replace=False))
            word = " ".join(f"{'XYZ'[rng.integers(3)]}{w}" for w in wires)
            terms.append(f"{rng.uniform(-1.5, 1.5):.3f} {word}")
        out.append(" + ".join(terms + (["0.25"] if k == 2 else [])))
    return out


def _sampler(kind: str, shots: int, seed: int) -> QiskitSampler:
    if kind == "statevector":
        return QiskitSampler(shots=shots, seed=seed)
    aer = pytest.importorskip("qiskit_aer")
    if kind == "aer":
        from qiskit_aer.primitives import SamplerV2

        return QiskitSampler(SamplerV2(seed=seed), shots=shots)
    return QiskitSampler(aer.AerSimulator(), shots=shots, seed=seed)  # BackendSamplerV2


def _assert_within_five_sigma(est: torch.Tensor, err: torch.Tensor, exact: torch.Tensor,
                              shots: int) -> None:
    # The estimated error is 0 when every shot agreed; 2/shots covers an exact value just
    # inside ±1 then.
    bound = 5 * err.numpy() + 2 / shots
    assert np.all(np.abs(est.numpy() - exact.numpy()) <= bound), (est, exact, err)


@pytest.mark.parametrize(("kind", "seed"), [("statevector", 0), ("statevector", 1), ("aer", 2),
                                            ("aer", 3), ("backend", 4)])
def test_sampler_within_five_sigma_of_exact(kind, seed):
    """Random 2–3 qubit circuits, multi-term X/Y/Z observables, batched parameters: the
    sampler's estimates are within 5 of its standard errors of exact qdl.expval."""
    rng = np.random.default_rng(seed)
    n = 2 + seed % 2
    gates = None if kind == "statevector" else AER_GATES
    c = ref.random_circuit(n, rng, depth=12, gates=gates, max_ctrl=1 if gates is None else 0)
    params = {name: torch.tensor(rng.uniform(-math.pi, math.pi, (2, 3)))
              for name in c.parameters}
    obs = _observables(n, rng)
    shots = 4000
    sampler = _sampler(kind, shots, seed)
    est, err = sampler.expval_with_stderr(c, obs, params)
    exact = qdl.expval(c, obs, params, dtype=C128)
    assert est.shape == err.shape == exact.shape == (2, 3, 3)
    _assert_within_five_sigma(est, err, exact, shots)
    # The errors are of the size shot noise gives: at most Σ|c|/√(shots − 1) per observable.
    weights = torch.tensor([sum(abs(t.coeff) for t in Observable.parse(o).terms if t.paulis)
                            for o in obs], dtype=torch.float64)
    assert torch.all(err <= weights / math.sqrt(shots - 1) + 1e-12) and err.max() > 0


def test_multi_term_observable_of_the_brief():
    """'0.5 Z0 Z1 + -1 X2' on a 3-qubit batch agrees with qdl.expval within 5σ."""
    c = Circuit(3).ry(0, "a").rx(1, "b").cx(0, 1).ry(2, "a").crz(2, 0, "b").h(1)
    params = {"a": torch.linspace(-2, 2, 4, dtype=torch.float64), "b": 0.7}
    obs = ["0.5 Z0 Z1 + -1 X2", "Y0 + Y1 X2"]
    est, err = QiskitSampler(shots=8000, seed=5).expval_with_stderr(c, obs, params)
    _assert_within_five_sigma(est, err, qdl.expval(c, obs, params, dtype=C128), 8000)


@pytest.mark.parametrize("kind", ["statevector", "backend"])
def test_bit_order_on_an_asymmetric_state(kind):
    """|1⟩|+⟩|−i⟩ (wire 0 first): Z0 = −1, X1 = +1, Y2 = −1 exactly, with every product."""
    sampler = _sampler(kind, 200, 0)
    c = Circuit(3).x(0).h(1).rx(2, math.pi / 2)
    obs = ["Z0", "X1", "Y2", "Z1", "X1 Y2", "Z0 Y2", "2 Z0 X1 Y2 + 1", "Z2 + -1 Z0"]
    est, err = sampler.expval_with_stderr(c, obs)
    want = [-1.0, 1.0, -1.0, None, -1.0, 1.0, 3.0, None]
    for k, w in enumerate(want):
        if w is not None:
            assert est[k].item() == w and err[k].item() == 0.0, obs[k]
    # Z1 on |+⟩ and Z2 on |−i⟩ are fair coins: only their sampled halves are random.
    assert abs(est[3].item()) < 5 * err[3].item()
    assert abs(est[7].item() - 1.0) < 5 * err[7].item()


def test_bit_order_with_a_parameter_batch():
    """x on wire 0 and ry(a) on wire 2 of 3: each batch item reads its own wire's value."""
    c = Circuit(3).x(0).ry(2, "a")
    a = torch.tensor([0.0, math.pi], dtype=torch.float64)
    est = QiskitSampler(shots=100, seed=0).expval(c, ["Z0", "Z1", "Z2", "Z0 Z2"], {"a": a})
    torch.testing.assert_close(est, torch.tensor([[-1.0, 1.0, 1.0, -1.0],
                                                  [-1.0, 1.0, -1.0, 1.0]], dtype=torch.float64))


def test_measurement_plan_groups_qubit_wise_commuting_words():
    """Words agreeing on shared wires share a setting; repeated words add their weights."""
    obs = [Observable.parse(t) for t in ["Z0 Z1 + 2 X2", "Z0 + X0 Y1 + -1", "X2 + Z0 Z1"]]
    plan = MeasurementPlan.build(obs)
    assert len(plan.words) == 4 and len(plan.settings) == 2  # {Z0 Z1, Z0} and {X0 Y1, X2}
    measured = sorted(j for _, members in plan.settings for j in members)
    assert measured == list(range(len(plan.words)))  # every word in exactly one setting
    for basis, members in plan.settings:
        for j in members:
            assert set(plan.words[j]) <= set(basis)
    zz = plan.words.index(((0, "Z"), (1, "Z")))
    np.testing.assert_allclose(plan.coeffs[zz], [1.0, 0.0, 1.0])
    np.testing.assert_allclose(plan.constants, [0.0, -1.0, 0.0])


def test_aer_parameterized_controlled_gates_are_bound_correctly():
    """Aer's primitives ignore parameter values of controlled gates (qiskit-aer#2323): the
    sampler binds those circuits itself, so cp/crx/cry/crz batches match qdl.expval."""
    pytest.importorskip("qiskit_aer")
    from qiskit_aer.primitives import SamplerV2

    c = (Circuit(2).ry(0, "a").ry(1, 0.4).crx(0, 1, "a").cry(1, 0, "b").h(0).crz(0, 1, "b")
         .cp(1, 0, "a").h(1))
    params = {"a": torch.tensor([0.3, 2.0, -1.1], dtype=torch.float64),
              "b": torch.tensor([1.4, -0.6, 2.5], dtype=torch.float64)}
    obs = ["Z0", "Z1", "X0 Y1 + Z0 Z1"]
    est, err = QiskitSampler(SamplerV2(seed=4), shots=8000).expval_with_stderr(c, obs, params)
    _assert_within_five_sigma(est, err, qdl.expval(c, obs, params, dtype=C128), 8000)


class CountingSampler(StatevectorSampler):
    """StatevectorSampler counting its jobs and the pubs and shots of each."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.jobs: list[tuple[int, int | None]] = []

    def run(self, pubs, *, shots=None):
        pubs = list(pubs)
        self.jobs.append((len(pubs), shots))
        return super().run(pubs, shots=shots)


def _circuit() -> Circuit:
    """Every parameter in one gate with its bare name, so a slot's shift is the parameter's."""
    return (Circuit(3).ry(0, "x0").ry(1, "x1").cx(0, 1).rx(2, "w0").crz(0, 2, "w1")
            .ry(1, "w2").cz(1, 2))


def test_parameter_shift_gradients_through_the_sampler():
    """qdl.expval(backend=QiskitSampler) gradients agree with exact ones within 5σ, from two
    sampler jobs (forward, and every shifted copy of the batch; one setting each)."""
    c, obs = _circuit(), ["0.5 Z0 Z1 + -1 X2"]
    rng = np.random.default_rng(11)
    values = {n: rng.uniform(-2, 2, (3,)) for n in c.parameters}
    counting = CountingSampler(seed=np.random.default_rng(3))
    sampler = QiskitSampler(counting, shots=20000)
    grads, outs = {}, {}
    for backend in (None, sampler):
        params = {k: torch.tensor(v, requires_grad=True) for k, v in values.items()}
        kw = {"backend": backend} if backend else {"dtype": C128}
        out = qdl.expval(c, obs, params, **kw)
        if backend:
            forward_err = sampler.last_stderr
        out.sum().backward()
        outs[backend is None] = out.detach()
        grads[backend is None] = torch.stack([params[k].grad for k in sorted(params)])
    assert [n for n, _ in counting.jobs] == [1, 1] and {s for _, s in counting.jobs} == {20000}
    _assert_within_five_sigma(outs[False], forward_err, outs[True], 20000)
    # Each parameter's shift rule (rx/ry: ±1/2; crz: four terms) has Σ coeff² ≤ 1/2, so a
    # gradient's error is at most √(1/2) times the largest error of a shifted estimate.
    tol = 5 * math.sqrt(0.5) * sampler.last_stderr.max().item()
    assert 0 < tol < 0.05
    torch.testing.assert_close(grads[False], grads[True], atol=tol, rtol=0)


def test_quantum_layer_on_the_sampler():
    """QuantumLayer(backend=QiskitSampler) forward agrees with the simulator within 5σ and
    trains: its weights get gradients close to the exact ones."""
    torch.manual_seed(3)
    args = (_circuit(), ["Z0", "X2 + 0.5 Y1"])
    kw = {"inputs": ["x0", "x1"], "dtype": C128}
    local = qdl.nn.QuantumLayer(*args, **kw)
    sampler = QiskitSampler(shots=20000, seed=9)
    remote = qdl.nn.QuantumLayer(*args, backend=sampler, **kw)
    remote.load_state_dict(local.state_dict())
    assert "backend=QiskitSampler" in repr(remote)
    x = torch.randn(4, 2, dtype=torch.float64)
    want, got = local(x), remote(x)
    _assert_within_five_sigma(got.detach().to(want.dtype), sampler.last_stderr.reshape(
        got.shape), want.detach(), 20000)
    want.sum().backward()
    got.sum().backward()
    torch.testing.assert_close(remote.weights.grad, local.weights.grad, atol=0.1, rtol=0)


def test_aer_sampler_with_converted_noise_within_five_sigma():
    """Aer's SamplerV2 with NoiseModel.to_qiskit() (gate noise and asymmetric, per-wire
    readout errors) agrees with qdl.expval(noise=model) within 5σ."""
    pytest.importorskip("qiskit_aer")
    from qiskit_aer.primitives import SamplerV2

    model = (NoiseModel().add("cx", depolarizing2(0.1)).add(["ry", "rx"], amplitude_damping(0.15))
             .add_readout(readout_error(0.03, 0.1)).add_readout(readout_error(0.2, 0.02),
                                                                wires=[2]))
    c = Circuit(3).ry(0, "a").rx(1, "b").cx(0, 1).ry(2, "a").cx(1, 2).rx(0, 0.4)
    params = {"a": torch.tensor([0.3, 1.2, -2.0], dtype=torch.float64), "b": 0.5}
    obs = ["Z0", "Z2", "0.5 Z0 Z1 + -1 X2", "Y0 Z2 + X1"]
    options = {"backend_options": {"method": "density_matrix",
                                   "noise_model": model.to_qiskit()}}
    shots = 20000
    sampler = QiskitSampler(SamplerV2(seed=21, options=options), shots=shots)
    est, err = sampler.expval_with_stderr(c, obs, params)
    noisy = qdl.expval(c, obs, params, noise=model, dtype=C128)
    _assert_within_five_sigma(est, err, noisy, shots)
    # The noise is visible: the ideal values are far outside the error bars.
    ideal = qdl.expval(c, obs, params, dtype=C128)
    assert torch.any((est - ideal).abs() > 10 * err)


def test_constant_observables_need_no_job():
    """Observables without Pauli words are their constants over the batch; no job runs."""
    counting = CountingSampler()
    sampler = QiskitSampler(counting, shots=10)
    got = sampler.expval(Circuit(1).rx(0, "a"), ["1.5", "-2"], {"a": torch.zeros(3)})
    torch.testing.assert_close(got, torch.tensor([[1.5, -2.0]] * 3, dtype=torch.float64))
    assert counting.jobs == [] and torch.all(sampler.last_stderr == 0)


@pytest.mark.parametrize("shots", [0, -5, 2.5, True, "100"])
def test_bad_shots(shots):
    """shots must be a positive integer."""
    with pytest.raises(QDLError, match="shots must be a positive integer"):
        QiskitSampler(shots=shots)


def test_sampler_errors():
    """Wrong targets, a seed for a given primitive, and wrong parameters raise QDLError."""
    with pytest.raises(QDLError, match="needs a SamplerV2 primitive or a BackendV2"):
        QiskitSampler(object())
    with pytest.raises(QDLError, match=r"seed your primitive itself"):
        QiskitSampler(StatevectorSampler(), seed=1)
    with pytest.raises(QDLError, match=r"missing \['b'\]"):
        QiskitSampler().expval(Circuit(1).rx(0, "a").ry(0, "b"), ["Z0"], {"a": 0.1})
    with pytest.raises(QDLError, match="acts on qubit 1"):
        QiskitSampler().expval(Circuit(1).rx(0, "a"), ["Z1"], {"a": 0.1})


def test_missing_qiskit_names_the_extra(monkeypatch):
    """Without Qiskit, QiskitSampler raises QDLError telling to pip install "qdl[qiskit]"."""
    monkeypatch.setitem(sys.modules, "qiskit.primitives", None)  # import fails as if absent
    with pytest.raises(QDLError, match=r'pip install "qdl\[qiskit\]"'):
        QiskitSampler()
