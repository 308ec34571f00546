"""Noise channels and models: CPTP checks, closed forms, readout, model building and files."""

from __future__ import annotations

import json
import math
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import qdl
from qdl import Circuit, QDLError
from qdl.noise import (
    CHANNELS,
    NoiseModel,
    amplitude_damping,
    bit_flip,
    depolarizing,
    depolarizing2,
    kraus_channel,
    phase_damping,
    phase_flip,
    readout_error,
    thermal_relaxation,
)
from qdl.sim.density import apply_channel


def _random_channels(rng: np.random.Generator) -> list:
    """Every built-in channel with random valid parameters."""
    t1 = float(rng.uniform(10, 100))
    return [
        bit_flip(rng.uniform()), phase_flip(rng.uniform()),
        depolarizing(rng.uniform(0, 4 / 3)), depolarizing2(rng.uniform(0, 16 / 15)),
        amplitude_damping(rng.uniform()), phase_damping(rng.uniform()),
        thermal_relaxation(t1, rng.uniform(0.1, 2 * t1), rng.uniform(0, 50)),
    ]


@pytest.mark.parametrize("seed", range(5))
def test_channels_are_trace_preserving(seed):
    """Σ K†K = I for every channel with random parameters."""
    for ch in _random_channels(np.random.default_rng(seed)):
        k = ch.kraus
        gram = np.einsum("kji,kjl->il", k.conj(), k)
        np.testing.assert_allclose(gram, np.eye(k.shape[-1]), atol=1e-12, err_msg=str(ch))


@pytest.mark.parametrize("seed", range(5))
def test_channels_are_completely_positive(seed):
    """The Choi matrix the simulator produces (channel on half of |Φ+>) is PSD with trace 1."""
    for ch in _random_channels(np.random.default_rng(seed)):
        k = ch.num_wires
        d = 2**k
        # |Φ+> over (system, reference) as a density matrix in the simulator's layout.
        phi = np.eye(d).reshape(-1) / math.sqrt(d)
        rho = torch.tensor(np.outer(phi, phi.conj()), dtype=torch.complex128)
        rho = rho.reshape((2,) * (4 * k) + (1,))
        out = apply_channel(rho, ch, list(range(k))).reshape(d * d, d * d).numpy()
        np.testing.assert_allclose(out, out.conj().T, atol=1e-12)
        assert np.linalg.eigvalsh(out).min() > -1e-12, str(ch)
        assert abs(np.trace(out) - 1) < 1e-12
        # Tracing out the system leaves I/d on the reference: trace preservation again.
        ref = np.einsum("sasb->ab", out.reshape(d, d, d, d))
        np.testing.assert_allclose(ref, np.eye(d) / d, atol=1e-12)


def _bloch(c: Circuit, model: NoiseModel | None, dtype=torch.complex128) -> np.ndarray:
    return qdl.expval(c, ["X0", "Y0", "Z0"], noise=model, dtype=dtype).numpy()


def test_depolarizing_shrinks_bloch_vector_by_one_minus_p(rng):
    """depolarizing(p) after a gate multiplies the Bloch vector by exactly 1 − p."""
    for p in [0.0, 0.1, 0.5, 1.0, 4 / 3]:
        angles = rng.uniform(-3, 3, 3).tolist()
        c = Circuit(1).u(0, *angles)
        noisy = _bloch(c, NoiseModel().add("u", depolarizing(p)))
        np.testing.assert_allclose(noisy, (1 - p) * _bloch(c, None), atol=1e-12)


def test_two_qubit_depolarizing_shrinks_every_pauli_word(rng):
    """depolarizing2(p) after cx multiplies every two-qubit Pauli expectation by 1 − p."""
    p = 0.3
    c = Circuit(2).u(0, *rng.uniform(-3, 3, 3).tolist()).u(1, *rng.uniform(-3, 3, 3).tolist())
    c.cx(0, 1)
    words = [f"{a}0 {b}1" for a in "XYZ" for b in "XYZ"] + ["X0", "Z1"]
    clean = qdl.expval(c, words, dtype=torch.complex128)
    noisy = qdl.expval(c, words, noise=NoiseModel().add("cx", depolarizing2(p)),
                       dtype=torch.complex128)
    np.testing.assert_allclose(noisy, (1 - p) * clean, atol=1e-12)


@pytest.mark.parametrize("gamma", [0.0, 0.2, 0.7, 1.0])
def test_amplitude_damping_closed_form(gamma):
    """<Z> of |1> after amplitude damping γ is 2γ − 1; <X> of |+> shrinks by √(1 − γ)."""
    m = NoiseModel().add(["x", "h"], amplitude_damping(gamma))
    z = qdl.expval(Circuit(1).x(0), ["Z0"], noise=m, dtype=torch.complex128).item()
    x = qdl.expval(Circuit(1).h(0), ["X0"], noise=m, dtype=torch.complex128).item()
    assert z == pytest.approx(2 * gamma - 1, abs=1e-12)
    assert x == pytest.approx(math.sqrt(1 - gamma), abs=1e-12)


@pytest.mark.parametrize("p", [0.0, 0.15, 1.0])
def test_flips_and_dephasing_closed_forms(p):
    """bit_flip: <Z> = 1 − 2p; phase_flip: <X> = 1 − 2p; phase_damping: <X> = √(1 − p)."""
    def z_after(ch, c, obs):
        return qdl.expval(c, [obs], noise=NoiseModel().add("all", ch),
                          dtype=torch.complex128).item()
    assert z_after(bit_flip(p), Circuit(1).id(0), "Z0") == pytest.approx(1 - 2 * p, abs=1e-12)
    assert z_after(phase_flip(p), Circuit(1).h(0), "X0") == pytest.approx(1 - 2 * p, abs=1e-12)
    assert z_after(phase_damping(p), Circuit(1).h(0), "X0") == pytest.approx(
        math.sqrt(1 - p), abs=1e-12)


@pytest.mark.parametrize(("t1", "t2", "t"), [(50.0, 70.0, 10.0), (30.0, 60.0, 5.0),
                                            (80.0, 20.0, 40.0), (10.0, 5.0, 0.0)])
def test_thermal_relaxation_closed_form(t1, t2, t):
    """ρ11 → ρ11·e^{−t/T1}, ρ00 gains the rest, ρ01 → ρ01·e^{−t/T2}."""
    c = Circuit(1).ry(0, 1.1).rz(0, 0.4)
    clean = qdl.density_matrix(c, dtype=torch.complex128).numpy()
    m = NoiseModel().add("rz", thermal_relaxation(t1, t2, t))
    noisy = qdl.density_matrix(c, noise=m, dtype=torch.complex128).numpy()
    decay = math.exp(-t / t1)
    assert noisy[1, 1] == pytest.approx(clean[1, 1] * decay, abs=1e-12)
    assert noisy[0, 0] == pytest.approx(1 - clean[1, 1] * decay, abs=1e-12)
    assert noisy[0, 1] == pytest.approx(clean[0, 1] * math.exp(-t / t2), abs=1e-12)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: bit_flip(-0.1), r"bit_flip: p must be in \[0, 1\], got -0.1"),
    (lambda: phase_flip(1.5), r"phase_flip: p must be in \[0, 1\]"),
    (lambda: depolarizing(1.4), r"depolarizing: p must be in \[0, 1.33333\]"),
    (lambda: depolarizing2(1.1), r"depolarizing2: p must be in \[0, 1.06667\]"),
    (lambda: depolarizing(0.1, 3), "num_wires must be 1 or 2"),
    (lambda: amplitude_damping(float("nan")), "gamma must be finite"),
    (lambda: phase_damping("0.1"), "gamma must be a real number"),
    (lambda: bit_flip(True), "p must be a real number"),
    (lambda: thermal_relaxation(50, 120, 1), r"t2 must be at most 2·t1"),
    (lambda: thermal_relaxation(-5, 1, 1), "t1 and t2 must be positive"),
    (lambda: thermal_relaxation(5, 1, -1), "gate_time must be non-negative"),
    (lambda: readout_error(0.1, 1.2), "prob_meas0_prep1 must be in"),
    (lambda: kraus_channel([[[1, 0], [0, 0.5]]]), "must be the identity"),
    (lambda: kraus_channel([[[1, 0, 0], [0, 1, 0], [0, 0, 1]]]), "shape"),
])
def test_bad_channel_parameters_raise(make, message):
    """Out-of-range, non-finite or non-numeric parameters raise QDLError naming them."""
    with pytest.raises(QDLError, match=message):
        make()


def test_model_validation_errors():
    """Unknown gates, channels wider than the gate, non-channels and bad wires raise."""
    with pytest.raises(QDLError, match=r"unknown gate 'cxx'.*did you mean"):
        NoiseModel().add("cxx", bit_flip(0.1))
    with pytest.raises(QDLError, match=r"2-qubit channel .* cannot follow gate 'rx'"):
        NoiseModel().add(["cx", "rx"], depolarizing2(0.1))
    with pytest.raises(QDLError, match="expected a Channel"):
        NoiseModel().add("x", 0.1)  # type: ignore[arg-type]
    with pytest.raises(QDLError, match="wires must be non-negative ints"):
        NoiseModel().add("x", bit_flip(0.1), wires=[-1])
    with pytest.raises(QDLError, match="expected a ReadoutError"):
        NoiseModel().add_readout(0.1)  # type: ignore[arg-type]
    with pytest.raises(QDLError, match=r"must be a qdl\.noise\.NoiseModel"):
        qdl.expval(Circuit(1).x(0), ["Z0"], noise={"channels": []})  # type: ignore[arg-type]


def test_rule_targets_and_order():
    """1-qubit channels act on each wire of a gate (within `wires`), wider ones on all, in order."""
    ad, dep2, flip = amplitude_damping(0.1), depolarizing2(0.2), bit_flip(0.3)
    m = (NoiseModel().add("cx", dep2).add("all", ad)
         .add(["rx", "cx"], flip, wires=[1]))
    assert m.after("cx", (2, 1)) == ((dep2, (2, 1)), (ad, (2,)), (ad, (1,)), (flip, (1,)))
    assert m.after("rx", (0,)) == ((ad, (0,)),)
    assert m.after("ccx", (0, 1, 2)) == ((ad, (0,)), (ad, (1,)), (ad, (2,)))
    assert NoiseModel().add("all", dep2, wires=[0, 1]).after("cz", (1, 2)) == ()
    assert NoiseModel().add("u3", ad).rules[0].gates == frozenset({"u"})  # aliases resolve


def test_models_are_immutable_and_hashable():
    """add returns a new model; equal models hash alike (they key caches)."""
    base = NoiseModel()
    a = base.add("x", bit_flip(0.1))
    b = NoiseModel().add("x", bit_flip(0.1))
    assert base.rules == () and a == b and hash(a) == hash(b)
    assert a != b.add_readout(readout_error(0.1))
    back = pickle.loads(pickle.dumps(a))
    assert back == a and hash(back) == hash(a)


def test_readout_precedence_and_matrix():
    """Wire-specific readout errors beat all-wire ones; later beat earlier; columns sum to 1."""
    general, special, later = readout_error(0.1), readout_error(0.2, 0.3), readout_error(0.05)
    m = NoiseModel().add_readout(special, wires=[1]).add_readout(general).add_readout(
        later, wires=1)
    assert m.readout_error_on(0) == general
    assert m.readout_error_on(1) == later
    assert NoiseModel().readout_error_on(0) is None
    np.testing.assert_allclose(special.matrix.sum(0), [1, 1])
    assert special.matrix[1, 0] == 0.2 and special.matrix[0, 1] == 0.3


@pytest.mark.parametrize(("e0", "e1"), [(0.02, 0.05), (0.3, 0.1)])
def test_readout_closed_forms(e0, e1, dtype, atol):
    """Readout turns P(1) of |1> into 1 − e1, <Z> of |0>/|1> into 1 − 2e0 / 2e1 − 1, and acts
    on X terms after the basis change."""
    m = NoiseModel().add_readout(readout_error(e0, e1))
    p = qdl.probs(Circuit(2).x(0), noise=m, wires=[0], dtype=dtype)
    np.testing.assert_allclose(p.numpy(), [e1, 1 - e1], atol=atol)
    z = qdl.expval(Circuit(2).x(1), ["Z0", "Z1", "Z0 Z1", "X0 + 1"], noise=m, dtype=dtype)
    # X0 on |0>: a fair coin read out with bias, so <X0> = e1 − e0 instead of 0.
    want = [1 - 2 * e0, 2 * e1 - 1, (1 - 2 * e0) * (2 * e1 - 1), 1 + e1 - e0]
    np.testing.assert_allclose(z.numpy(), want, atol=atol)
    x = qdl.expval(Circuit(1).h(0), ["X0"], noise=m, dtype=dtype)
    np.testing.assert_allclose(x.numpy(), [1 - 2 * e0], atol=atol)


def test_model_dict_and_file_round_trip(tmp_path):
    """to_dict / from_dict / from_file (JSON and YAML) rebuild the same model."""
    m = (NoiseModel().add("cx", depolarizing2(0.01)).add(["rx", "ry"], amplitude_damping(0.02),
                                                          wires=[0])
         .add("all", thermal_relaxation(50.0, 70.0, 0.05)).add_readout(readout_error(0.02, 0.05))
         .add_readout(readout_error(0.1), wires=[2]))
    data = m.to_dict()
    assert NoiseModel.from_dict(data) == m
    (tmp_path / "noise.json").write_text(json.dumps(data))
    assert NoiseModel.from_file(tmp_path / "noise.json") == m
    yaml = pytest.importorskip("yaml")
    (tmp_path / "noise.yaml").write_text(yaml.safe_dump(data))
    assert NoiseModel.from_file(tmp_path / "noise.yaml") == m


@pytest.mark.parametrize(("data", "message"), [
    ({"channels": [{"channel": "telepathy", "p": 0.1}]}, r"channels\[0\]: unknown channel "
                                                         "'telepathy'; known channels: bit_flip"),
    ({"channels": [{"channel": "bit_flip", "gamma": 0.1}]}, r"wrong parameters \['gamma'\]"),
    ({"channels": [{"channel": "bit_flip", "p": 2}]}, r"channels\[0\]: bit_flip: p must be"),
    ({"channels": [{"channel": "bit_flip", "p": 0.1, "gates": ["nope"]}]}, "unknown gate"),
    ({"readout": [{"p": 0.1}]}, r"readout\[0\]: readout entries take prob_meas1_prep0"),
    ({"channel": []}, r"unknown noise model key\(s\) \['channel'\]"),
    ({"channels": {"channel": "bit_flip"}}, "must be a list of mappings"),
    ([1, 2], "must be a mapping"),
])
def test_bad_model_dicts_raise(data, message):
    """Unknown channels, wrong parameters and malformed structure name the entry and the fix."""
    with pytest.raises(QDLError, match=message):
        NoiseModel.from_dict(data)


def test_bad_model_files_raise(tmp_path):
    """Missing files and invalid JSON raise QDLError."""
    with pytest.raises(QDLError, match="cannot read noise model file"):
        NoiseModel.from_file(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(QDLError, match=r"bad\.json is not valid JSON: line 1"):
        NoiseModel.from_file(tmp_path / "bad.json")


def test_custom_kraus_channel_in_a_model(dtype, atol):
    """A user Kraus channel (an X with certainty) behaves like the gate it encodes."""
    flip = kraus_channel([[[0, 1], [1, 0]]], name="always_x")
    z = qdl.expval(Circuit(1).id(0), ["Z0"], noise=NoiseModel().add("id", flip), dtype=dtype)
    np.testing.assert_allclose(z.numpy(), [-1.0], atol=atol)
    with pytest.raises(QDLError, match="has no dict form"):
        NoiseModel().add("id", flip).to_dict()


def test_every_named_channel_has_a_dict_example():
    """Each registered channel builds from its documented dict form."""
    for name in CHANNELS:
        args = {"t1": 50.0, "t2": 70.0, "gate_time": 1.0} if name == "thermal_relaxation" else (
            {"gamma": 0.1} if "damping" in name else {"p": 0.1})
        model = NoiseModel.from_dict({"channels": [{"channel": name, **args}]})
        assert model.rules[0].channel.name == name



def test_docs_examples_run():
    """The python blocks of docs/noise.md run in order (the qiskit ones need qiskit-aer)."""
    pytest.importorskip("qiskit_aer")
    text = (Path(__file__).resolve().parents[1] / "docs" / "noise.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 2
    namespace: dict = {}
    for code in blocks:
        exec(compile(code, "docs/noise.md", "exec"), namespace)
    assert namespace["rho"].shape == (4, 4) and namespace["z"].shape == (2, 1)


def test_rule_on_wires_the_circuit_lacks_is_refused():
    """A rule or readout error that names only absent wires is a QDLError, not ignored."""
    c = Circuit(2).x(0).cx(0, 1)
    for model in (NoiseModel().add("x", bit_flip(0.1), wires=[9]),
                  NoiseModel().add_readout(readout_error(0.1), wires=[2, 5])):
        with pytest.raises(QDLError, match="would never apply"):
            qdl.expval(c, "Z0", noise=model)
        with pytest.raises(QDLError, match="would never apply"):
            qdl.probs(c, noise=model)
    # A device model that also covers the circuit's wires still applies to it.
    partly = NoiseModel().add("x", bit_flip(0.25), wires=[0, 7])
    assert qdl.expval(c, "Z0", noise=partly).item() == pytest.approx(-0.5)
