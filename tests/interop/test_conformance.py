"""QASMBench conformance: every file simulates like qiskit or fails with a QDLError naming a line.

The 43 files are vendored in ``tests/data/qasmbench`` (with QASMBench's LICENSE and NOTICE),
so a clone runs them all; a missing directory is a failure, not a skip. States are compared
with qiskit's ``Statevector`` up to global phase after qiskit drops the final measurements
(files wider than 16 qubits skip the comparison).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import qdl

SUITE = Path(__file__).resolve().parents[1] / "data" / "qasmbench"
FILES = sorted(SUITE.glob("*.qasm"))
MAX_COMPARED_QUBITS = 16

# Files QDL must reject, with the line and the reason (checked by reading the file:
# mid-circuit measurement, reset, classical control, or a register that was never declared).
REJECTED = {
    "bb84_n8.qasm": (40, "after it was measured (line 33)"),
    "hhl_n10.qasm": (186801, "unknown qubit register 'q'"),
    "inverseqft_n4.qasm": (13, "if statements"),
    "ipea_n2.qasm": (29, "reset is not supported"),
    "qec_sm_n5.qasm": (17, "if statements"),
    "shor_n5.qasm": (9, "reset is not supported"),
    "vqe_uccsd_n4.qasm": (225, "unknown qubit register 'q'"),
    "vqe_uccsd_n6.qasm": (2286, "unknown qubit register 'q'"),
    "vqe_uccsd_n8.qasm": (10813, "unknown qubit register 'q'"),
}



def test_the_vendored_suite_is_complete():
    """All 43 files and the licence travel with the repository."""
    assert len(FILES) == 43
    assert (SUITE / "LICENSE").is_file() and (SUITE / "NOTICE").is_file()


def qiskit_state(text: str) -> np.ndarray:
    """qiskit's state for an OpenQASM 2 program, in QDL's wire order (wire 0 most significant)."""
    q2 = pytest.importorskip("qiskit.qasm2")
    from qiskit.quantum_info import Statevector

    circuit = q2.loads(text, custom_instructions=q2.LEGACY_CUSTOM_INSTRUCTIONS)
    circuit.remove_final_measurements()
    return Statevector(circuit).reverse_qargs().data


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_qasmbench_file(path):
    """The file simulates like qiskit (up to global phase) or raises QDLError with its line."""
    text = path.read_text()
    if path.name in REJECTED:
        line, reason = REJECTED[path.name]
        with pytest.raises(qdl.QDLError) as info:
            qdl.Circuit.from_qasm(text)
        message = str(info.value)
        assert message.startswith(f"line {line}: ") and reason in message
        return
    circuit = qdl.Circuit.from_qasm(text)
    declared = sum(int(n) for n in re.findall(r"^\s*qreg\s+\w+\s*\[(\d+)\]", text, re.M))
    assert circuit.n_qubits == declared
    if circuit.n_qubits > MAX_COMPARED_QUBITS:
        pytest.skip(f"{circuit.n_qubits} qubits: too wide for the dense comparison")
    ours = qdl.state(circuit, {}, dtype=torch.complex128).numpy()
    assert abs(np.vdot(qiskit_state(text), ours)) == pytest.approx(1, abs=1e-8)


def test_every_rejected_file_exists():
    """The table of expected rejections names only files of the suite."""
    assert set(REJECTED) <= {p.name for p in FILES}


def test_largest_file_reads_fast():
    """hhl_n10 (186k lines) is read through the fast lane in seconds, not minutes."""
    path = SUITE / "hhl_n10.qasm"
    if not path.exists():
        pytest.skip("hhl_n10.qasm not in the suite")
    text = path.read_text()
    body = text[: text.index("measure q[0]")]  # drop the malformed final measurements
    start = time.perf_counter()
    circuit = qdl.Circuit.from_qasm(body)
    elapsed = time.perf_counter() - start
    assert circuit.n_qubits == 10 and len(circuit) > 180_000
    assert elapsed < 30, f"reading took {elapsed:.1f}s"
