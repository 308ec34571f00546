"""Textbook circuits in tests/data/qasm against answers derived by hand (not by running QDL).

Each expected state is written from the algorithm's analysis; wire 0 (the first declared
qubit) is the most significant bit of the basis index.
"""

from __future__ import annotations

import cmath
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

import qdl

DATA = Path(__file__).resolve().parents[1] / "data" / "qasm"
R2 = 1 / math.sqrt(2)


def basis(n: int, amplitudes: dict[int, complex]) -> np.ndarray:
    """A state vector on ``n`` qubits with the given nonzero amplitudes."""
    v = np.zeros(2**n, dtype=complex)
    for index, amp in amplitudes.items():
        v[index] = amp
    return v


def bits(text: str) -> int:
    return int(text, 2)


def phase(angle: float) -> complex:
    return cmath.exp(1j * angle)


def qft_basis(x: int, n: int) -> np.ndarray:
    """QFT|x> = 1/√N Σ_k exp(2πi x k / N) |k>."""
    size = 2**n
    return np.array([phase(2 * math.pi * x * k / size) for k in range(size)]) / math.sqrt(size)


def teleport(theta: float) -> np.ndarray:
    """|+>|+>|ψ> with ψ = cos(θ/2)|0> + sin(θ/2)|1>: amplitude ψ_b / 2 for every m0 m1."""
    psi = (math.cos(theta / 2), math.sin(theta / 2))
    return np.array([psi[i % 2] / 2 for i in range(8)], dtype=complex)


def features(theta: float) -> np.ndarray:
    """-cos(θ/2)|01> - i sin(θ/2)|11>."""
    return basis(2, {1: -math.cos(theta / 2), 3: -1j * math.sin(theta / 2)})


_C8 = 1 / math.sqrt(8)

# file -> function of theta (ignored by circuits without parameters) giving the state
EXPECTED: dict[str, Callable[[float], np.ndarray]] = {
    "bell_phi_plus": lambda _: basis(2, {0: R2, 3: R2}),
    "bell_psi_minus": lambda _: basis(2, {1: R2, 2: -R2}),
    "ghz5": lambda _: basis(5, {0: R2, 31: R2}),
    "ghz_physical": lambda _: basis(3, {0: R2, 7: R2}),
    "uniform_superposition4": lambda _: np.full(16, 0.25, dtype=complex),
    "qft3_basis5": lambda _: qft_basis(5, 3),
    "inverse_qft3": lambda _: basis(3, {bits("011"): 1}),
    # H⊗H X⊗X CZ X⊗X H⊗H = I - 2|s><s|: one iteration maps the oracle output to -|11>.
    "grover2": lambda _: basis(2, {3: -1}),
    # amplitudes after two iterations: marked 11/(4√8), the other seven -1/(4√8)
    "grover3": lambda _: np.array([11 * _C8 / 4 if k == 5 else -_C8 / 4 for k in range(8)],
                                  dtype=complex),
    # |111>|-> and -|000>|-> (f = 1 gives a global sign)
    "deutsch_jozsa_balanced": lambda _: basis(4, {bits("1110"): R2, bits("1111"): -R2}),
    "deutsch_jozsa_constant": lambda _: basis(4, {bits("0000"): -R2, bits("0001"): R2}),
    "bernstein_vazirani": lambda _: basis(5, {bits("10110"): R2, bits("10111"): -R2}),
    "superdense_10": lambda _: basis(2, {bits("10"): 1}),
    "superdense_11": lambda _: basis(2, {bits("11"): 1}),
    "w_state": lambda _: basis(3, {1: 1 / math.sqrt(3), 2: 1 / math.sqrt(3),
                                   4: 1 / math.sqrt(3)}),
    "qpe_t_gate": lambda _: basis(4, {bits("0011"): 1}),
    # (1/2)[|0>(|0+> + |+0>) + |1>(|0+> - |+0>)]
    "swap_test": lambda _: basis(3, {0: R2, 1: R2 / 2, 2: R2 / 2, 5: R2 / 2, 6: -R2 / 2}),
    "toffoli_truth_table": lambda _: basis(3, {0: 0.5, 2: 0.5, 4: 0.5, 7: 0.5}),
    # a b sum carry
    "half_adder": lambda _: basis(4, {bits("0000"): 0.5, bits("0110"): 0.5,
                                      bits("1010"): 0.5, bits("1101"): 0.5}),
    "rotations_phases": lambda _: np.kron(np.array([1, -1j]) * R2,
                                          np.array([phase(-math.pi / 4), phase(math.pi / 4)]) * R2),
    # e^{iπ/3}|11> ⊗ (|0> + e^{iπ/4}|1>)/√2 ⊗ e^{iπ/4}|1>
    "cphase_u3": lambda _: basis(4, {bits("1101"): phase(math.pi / 3 + math.pi / 4) * R2,
                                     bits("1111"): phase(math.pi / 3 + math.pi / 2) * R2}),
    "teleport_deferred": teleport,
    "qasm3_features": features,
}
PARAMETRIZED = {"teleport_deferred", "qasm3_features"}


def read(name: str) -> qdl.Circuit:
    return qdl.Circuit.from_qasm((DATA / f"{name}.qasm").read_text())


def simulate(name: str, theta: float) -> np.ndarray:
    circuit = read(name)
    params = {"theta": theta} if name in PARAMETRIZED else {}
    return qdl.state(circuit, params, dtype=torch.complex128).numpy()


def test_every_data_file_has_an_expected_answer():
    """The data folder and the table of answers list the same circuits (20+ of them)."""
    files = {p.stem for p in DATA.glob("*.qasm")}
    assert files == set(EXPECTED)
    assert len(files) >= 20


CASES = [(name, 0.0) for name in sorted(EXPECTED)] + [
    (name, theta) for name in sorted(PARAMETRIZED) for theta in (0.7, -2.3)]


@pytest.mark.parametrize(("name", "theta"), CASES)
def test_textbook_state(name, theta):
    """The simulated state equals the hand-derived one, global phase included."""
    np.testing.assert_allclose(simulate(name, theta), EXPECTED[name](theta), atol=1e-7)


def test_grover3_success_probability():
    """Two Grover iterations on 8 items find the marked one with probability 121/128."""
    probs = np.abs(simulate("grover3", 0.0)) ** 2
    assert probs[5] == pytest.approx(121 / 128)


def test_swap_test_probability():
    """The swap test of |0> and |+> leaves the ancilla in 0 with probability 3/4."""
    probs = np.abs(simulate("swap_test", 0.0)) ** 2
    assert probs[:4].sum() == pytest.approx(3 / 4)


def test_parametrized_files_declare_theta():
    """Files with input float theta expose it as the circuit's only parameter."""
    for name in sorted(PARAMETRIZED):
        assert read(name).parameters == ("theta",)
