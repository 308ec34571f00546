"""A :class:`qdl.noise.NoiseModel` as a ``qiskit_aer.noise.NoiseModel``.

Every channel goes over as its Kraus matrices, so both simulators run the same maps. Aer
keys errors by instruction name and qubits and applies them after the instruction, as QDL
does. A rule's channels after one gate become one ``QuantumError`` whose circuit holds a
``Kraus`` instruction per (rule, target), in QDL's order. Kraus matrices are written with
the first wire most significant; Qiskit's first qarg is the least significant, so each one
is placed on its wires in reverse order.

Gates under ``ctrl @`` modifiers are named differently in Qiskit (``crx`` for ``ctrl @ rx``)
and get no error from a rule naming their base gate: convert circuits whose noisy gates
carry no modifiers. Qiskit calls both ``c3x`` and ``c4x`` ``mcx``; errors keyed by that name
cannot tell them apart, so only ``c3x`` gets its errors.
"""

from __future__ import annotations

from itertools import permutations
from typing import Any

from qdl.errors import QDLError
from qdl.gates import GATES
from qdl.interop.qiskit._common import qiskit_name, require
from qdl.noise import NoiseModel, NoiseRule

__all__ = ["noise_model_to_qiskit"]


def _error(rules: list[NoiseRule], gate: str, wires: tuple[int, ...], positions: dict[int, int]
           ) -> Any:
    """The QuantumError for ``gate`` on ``wires``, or ``None`` when no rule applies."""
    qiskit = require("qiskit")
    info, noise = require("qiskit.quantum_info"), require("qiskit_aer.noise")
    qc = qiskit.QuantumCircuit(len(wires))
    for rule in rules:
        for target in rule.targets(gate, wires):
            qargs = [positions[w] for w in reversed(target)]
            qc.append(info.Kraus(list(rule.channel.kraus)), qargs)
    return noise.QuantumError([(qc, 1.0)]) if qc.data else None


def _add_gate(aer: Any, model: NoiseModel, gate: str, n_qubits: int | None) -> None:
    k = GATES[gate].num_wires
    rules = [r for r in model.rules if r.gates is None or gate in r.gates]
    if not rules or k == 0:
        return
    name = qiskit_name(gate)
    if all(r.wires is None for r in rules):
        positions = {w: w for w in range(k)}
        error = _error(rules, gate, tuple(range(k)), positions)
        if error is not None:
            aer.add_all_qubit_quantum_error(error, name, warnings=False)
        return
    if n_qubits is None:
        raise QDLError(f"the noise model restricts gate {gate!r} to some wires; pass n_qubits "
                       "to NoiseModel.to_qiskit(n_qubits) so every qubit tuple can be listed")
    # Aer's qubit-specific errors replace its all-qubit ones, so each tuple gets every rule.
    for wires in permutations(range(n_qubits), k):
        error = _error(rules, gate, wires, {w: i for i, w in enumerate(wires)})
        if error is not None:
            aer.add_quantum_error(error, name, list(wires), warnings=False)


def noise_model_to_qiskit(model: NoiseModel, n_qubits: int | None = None) -> Any:
    """The model as a ``qiskit_aer.noise.NoiseModel``.

    Args:
        model: the QDL model.
        n_qubits: the circuit width; needed only when a rule is restricted to some wires
            (their errors are listed per qubit tuple).

    Returns:
        An Aer noise model whose basis gates include every gate QDL can export, so running
        ``AerSimulator(noise_model=...)`` does not rewrite the circuit's gates.

    >>> from qdl.noise import depolarizing
    >>> aer = noise_model_to_qiskit(NoiseModel().add("cx", depolarizing(0.1)))
    >>> sorted(aer.noise_instructions)
    ['cx']
    """
    if not isinstance(model, NoiseModel):
        raise QDLError(f"expected a qdl.noise.NoiseModel, got {type(model).__name__}")
    noise = require("qiskit_aer.noise")
    basis = sorted({qiskit_name(g) for g, s in GATES.items() if s.num_wires} - {"iswap_dg"})
    aer = noise.NoiseModel(basis_gates=basis)
    named: set[str] = set()
    for gate in GATES:
        if qiskit_name(gate) not in named:
            named.add(qiskit_name(gate))
            _add_gate(aer, model, gate, n_qubits)
    for wires, error in model.readout:
        qerr = noise.ReadoutError(error.matrix.T)  # Qiskit rows: true state, columns: read
        if wires is None:
            aer.add_all_qubit_readout_error(qerr, warnings=False)
        else:
            for w in sorted(wires):
                aer.add_readout_error(qerr, [w], warnings=False)
    return aer
