"""Qiskit's Estimator and Sampler primitives (V2), simulated by QDL.

:class:`Estimator` is a ``qiskit.primitives.BaseEstimatorV2`` and :class:`Sampler` a
``BaseSamplerV2``: anything written for Qiskit primitives (``EstimatorQNN``, ``SamplerQNN``,
``VQC``, Qiskit's own algorithms) runs on QDL's batched simulator through them. This is the
opposite direction of :class:`~qdl.interop.qiskit.QiskitEstimator`, which runs QDL circuits
on Qiskit.

Each circuit is converted once (:func:`~qdl.interop.qiskit.from_qiskit`, cached per circuit
object) and simulated once per ``run`` for all the parameter values of every PUB that shares
it: the parameter-shift jobs of qiskit-machine-learning send one PUB per shifted point, all
with the same circuit, and they become one batched simulation. Results follow
``StatevectorEstimator`` / ``StatevectorSampler``: the same shapes, the same Gaussian noise
for a nonzero ``precision`` (the same numbers for the same integer ``seed``), one
``BitArray`` per classical register with Qiskit's bit order.

Qiskit's qubit ``i`` is QDL's wire ``i``; only basis-state indices differ in bit order
(QDL's wire 0 is the most significant bit), which the results translate.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from qiskit.primitives import (
    BaseEstimatorV2,
    BaseSamplerV2,
    BitArray,
    DataBin,
    PrimitiveJob,
    PrimitiveResult,
    PubResult,
    SamplerPubResult,
)
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub

from qdl.circuit import Circuit
from qdl.errors import QDLError
from qdl.grad import expval
from qdl.interop.qiskit.circuits import from_qiskit
from qdl.observables import Observable
from qdl.sim import REAL, check_dtype, probs

__all__ = ["Estimator", "Sampler"]

Seed = np.random.Generator | int | None


class _Converter:
    """QDL circuits for Qiskit circuits, converted once per circuit object.

    Keyed by ``id`` and held by a weak reference (``QuantumCircuit`` is unhashable); the
    instruction count, parameters and global phase catch a circuit edited in place after
    it ran, which would otherwise reuse the stale conversion.
    """

    def __init__(self) -> None:
        self._cache: dict[int, tuple[weakref.ref, tuple, Circuit]] = {}

    def __call__(self, qc: Any) -> Circuit:
        key, stamp = id(qc), _stamp(qc)
        hit = self._cache.get(key)
        if hit is not None and hit[0]() is qc and hit[1] == stamp:
            return hit[2]
        circuit = from_qiskit(qc)
        cache = self._cache
        self._cache[key] = (weakref.ref(qc, lambda _, k=key: cache.pop(k, None)), stamp,
                            circuit)
        return circuit


def _stamp(qc: Any) -> tuple:
    return (len(qc.data), qc.num_qubits, tuple(qc.parameters), str(qc.global_phase))


def _group(circuits: Sequence[Any]) -> dict[int, list[int]]:
    """PUB indices by circuit object: each group is one simulation."""
    groups: dict[int, list[int]] = {}
    for i, qc in enumerate(circuits):
        groups.setdefault(id(qc), []).append(i)
    return groups


def _rows(pub: EstimatorPub | SamplerPub, columns: dict[str, int]) -> np.ndarray:
    """The PUB's parameter values as ``(size, n_parameters)``, columns in
    ``circuit.parameters`` order (which :func:`from_qiskit` keeps); ``columns`` maps the
    circuit's parameter names to their column.

    Read straight from the ``BindingsArray``'s blocks: ``as_array`` matches names one value
    at a time, which costs more than the simulation for the one-point PUBs of a
    parameter-shift gradient.
    """
    values = pub.parameter_values
    out = np.empty((values.size, len(columns)))
    seen = 0
    for names, block in values.data.items():
        if not all(name in columns for name in names):  # not plain names: let Qiskit match
            return np.asarray(values.as_array(pub.circuit.parameters), dtype=np.float64
                              ).reshape(values.size, len(columns))
        out[:, [columns[name] for name in names]] = np.reshape(block, (values.size,
                                                                       len(names)))
        seen += len(names)
    if seen != len(columns):
        raise QDLError(f"the PUB binds {seen} values to a circuit with {len(columns)} "
                       "parameters")
    return out


def _columns(qc: Any) -> dict[str, int]:
    return {p.name: j for j, p in enumerate(qc.parameters)}


def _run_job(run: Any, *args: Any) -> PrimitiveJob:
    job = PrimitiveJob(run, *args)
    job._submit()  # how Qiskit's own primitives start a job (there is no public submit)
    return job


class _Primitive:
    """What :class:`Estimator` and :class:`Sampler` share: the seed, the simulation's dtype
    and device, the per-circuit conversion cache and the stacking of parameter values.

    A mixin listed after Qiskit's base class, so that the primitives are first of all
    Qiskit's (``Estimator.__mro__[1]`` is ``BaseEstimatorV2``); Qiskit's bases have no
    ``__init__``, so ``super().__init__`` reaches this one.

    Args:
        seed: the seed (or generator) of the primitive's randomness.
        dtype: ``torch.complex128`` or ``torch.complex64``.
        device: where to simulate; ``None``: the CPU.
    """

    def __init__(self, seed: Seed, dtype: torch.dtype, device: str | torch.device | None
                 ) -> None:
        self._seed = seed
        self.dtype, self.device = check_dtype(dtype), device
        self._convert = _Converter()

    @property
    def seed(self) -> Seed:
        """The seed (or generator) of the randomness: the Estimator's noise, the Sampler's
        samples."""
        return self._seed

    def _groups(self, pubs: Sequence[EstimatorPub | SamplerPub]) -> list[tuple[list[int],
                                                                                Circuit]]:
        """The indices of the PUBs that share a circuit object, with that circuit converted:
        one simulation each."""
        return [(members, self._convert(pubs[members[0]].circuit))
                for members in _group([pub.circuit for pub in pubs]).values()]

    @staticmethod
    def _stacked_rows(pubs: Sequence[EstimatorPub | SamplerPub]) -> np.ndarray:
        """The parameter values of ``pubs`` (all with the same circuit) as one
        ``(rows, n_parameters)`` array, PUB after PUB."""
        columns = _columns(pubs[0].circuit)
        return np.concatenate([_rows(pub, columns) for pub in pubs])

    def _params(self, circuit: Circuit, rows: np.ndarray) -> dict[str, torch.Tensor] | None:
        """``rows`` as the circuit's parameter tensors (``None`` for a circuit without
        parameters, which the simulator then runs once)."""
        values = torch.as_tensor(rows, dtype=REAL[self.dtype])
        return {name: values[:, j] for j, name in enumerate(circuit.parameters)} or None


# --------------------------------------------------------------------------------------------
# Estimator
# --------------------------------------------------------------------------------------------

_PAULI_LETTERS = frozenset("IXYZ")


def pauli_dict_to_observable(terms: dict[str, float]) -> Observable:
    """An ``ObservablesArray`` element (``{"XIZ": 0.5, ...}``, Qiskit's little-endian labels:
    the last letter is qubit 0) as a QDL :class:`~qdl.observables.Observable`.

    >>> pauli_dict_to_observable({"XIZ": 0.5, "III": -1.0}).terms
    (PauliTerm(coeff=0.5, paulis=((0, 'Z'), (2, 'X'))), PauliTerm(coeff=-1.0, paulis=()))
    """
    out = []
    for label, coeff in terms.items():
        if not _PAULI_LETTERS.issuperset(label):
            raise QDLError(f"observable term {label!r} is not a Pauli word: QDL's Estimator "
                           "measures Pauli sums (letters I, X, Y, Z), not projectors")
        n = len(label)
        # Qiskit's coefficients are real (ObservablesArray refuses complex ones): np.real
        # only drops a zero imaginary part.
        out.append((float(np.real(coeff)), [(n - 1 - k, p) for k, p in enumerate(label)]))
    text = " + ".join(f"{c} {label}" for label, c in terms.items())
    return Observable.from_terms(out, text)


@dataclass
class _EstimatorGroup:
    """PUBs that share a circuit: one simulation of all their parameter rows and observables.

    Attributes:
        circuit: the converted circuit.
        members: indices of the PUBs in the ``run`` call.
        rows: the parameter values of every member, stacked.
        observables: every distinct observable of the members.
        columns: per member, its observables array as indices into ``observables``.
    """

    circuit: Circuit
    members: list[int]
    rows: np.ndarray
    observables: list[Observable]
    columns: list[np.ndarray]

    @classmethod
    def build(cls, circuit: Circuit, pubs: list[EstimatorPub], members: list[int],
              rows: np.ndarray) -> _EstimatorGroup:
        index: dict[tuple, int] = {}
        columns = []
        for i in members:
            flat = pubs[i].observables.ravel()
            keys = [tuple(flat[k].items()) for k in range(flat.size)]
            columns.append(np.array([index.setdefault(key, len(index)) for key in keys],
                                    dtype=np.int64).reshape(pubs[i].observables.shape))
        observables = [pauli_dict_to_observable(dict(key)) for key in index]
        return cls(circuit, members, rows, observables, columns)

    def evs(self, pubs: list[EstimatorPub], table: torch.Tensor) -> list[np.ndarray]:
        """The exact expectation values of each member PUB, shaped as the PUB, from the
        ``table`` of every row's value of every observable (one ``expval``)."""
        obs = self.observables
        table = np.broadcast_to(table.double().cpu().numpy().reshape(-1, len(obs)),
                                (len(self.rows), len(obs)))
        out, start = [], 0
        for i, columns in zip(self.members, self.columns, strict=True):
            shape = pubs[i].parameter_values.shape
            rows = np.arange(start, start + pubs[i].parameter_values.size).reshape(shape)
            rows, columns = np.broadcast_arrays(rows, columns)
            out.append(np.array(table[rows, columns], dtype=np.float64))
            start += pubs[i].parameter_values.size
        return out


class Estimator(BaseEstimatorV2, _Primitive):
    """Qiskit's ``BaseEstimatorV2`` on QDL's simulator: exact expectation values, or with
    Gaussian noise of standard deviation ``precision`` as ``StatevectorEstimator`` adds it.

    Args:
        default_precision: used when neither ``run`` nor the PUB gives a precision; ``0``
            means exact values.
        seed: seeds the noise (an ``int`` restarts the same stream for every PUB, as in
            ``StatevectorEstimator``; a ``numpy.random.Generator`` continues its stream).
        dtype: simulation precision, ``torch.complex128`` (Qiskit's) or ``torch.complex64``.
        device: where to simulate (``"cuda"`` ...); default CPU.

    ``stds`` in the results hold the noise's standard deviation (``0`` when exact), where
    ``StatevectorEstimator`` reports ``0`` even with noise.

    >>> from qiskit import QuantumCircuit
    >>> from qiskit.circuit import Parameter
    >>> qc = QuantumCircuit(2)
    >>> _ = qc.ry(Parameter("a"), 0), qc.cx(0, 1)
    >>> res = Estimator().run([(qc, ["ZZ", "IZ", "XX"], [[0.0], [1.0], [1.5707963]])]).result()
    >>> res[0].data.evs.round(6)    # zipped: ZZ at a=0, IZ (Z on qubit 0) at 1, XX at π/2
    array([1.      , 0.540302, 1.      ])
    """

    def __init__(self, *, default_precision: float = 0.0, seed: Seed = None,
                 dtype: torch.dtype = torch.complex128, device: str | torch.device | None = None):
        super().__init__(seed, dtype, device)
        self._default_precision = default_precision

    @property
    def default_precision(self) -> float:
        """The precision used when neither ``run`` nor a PUB sets one."""
        return self._default_precision

    def run(self, pubs: Iterable[Any], *, precision: float | None = None
            ) -> PrimitiveJob[PrimitiveResult[PubResult]]:
        """Estimate expectation values of ``(circuit, observables[, parameter_values
        [, precision]])`` PUBs; circuits and observables QDL cannot simulate raise
        ``QDLError`` here, before the job starts."""
        if precision is None:
            precision = self._default_precision
        coerced = [EstimatorPub.coerce(pub, precision) for pub in pubs]
        groups = [_EstimatorGroup.build(circuit, coerced, members,
                                        self._stacked_rows([coerced[i] for i in members]))
                  for members, circuit in self._groups(coerced)]
        return _run_job(self._run, coerced, groups)

    def _run(self, pubs: list[EstimatorPub], groups: list[_EstimatorGroup]
             ) -> PrimitiveResult[PubResult]:
        evs: dict[int, np.ndarray] = {}
        for group in groups:
            with torch.no_grad():
                table = expval(group.circuit, group.observables,
                               self._params(group.circuit, group.rows), dtype=self.dtype,
                               device=self.device)
            evs.update(zip(group.members, group.evs(pubs, table), strict=True))
        return PrimitiveResult([self._result(pub, evs[i]) for i, pub in enumerate(pubs)],
                               metadata={"version": 2})

    def _result(self, pub: EstimatorPub, evs: np.ndarray) -> PubResult:
        precision = pub.precision
        if precision:
            # A fresh generator per PUB from the same seed, drawn in C order: the numbers
            # StatevectorEstimator adds.
            evs = np.random.default_rng(self._seed).normal(evs, precision)
        stds = np.full(evs.shape, float(precision))
        data = DataBin(evs=evs, stds=stds, shape=evs.shape)
        return PubResult(data, metadata={"target_precision": precision,
                                         "circuit_metadata": pub.circuit.metadata})


# --------------------------------------------------------------------------------------------
# Sampler
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Registers:
    """What a circuit's final measurements record.

    Attributes:
        qubits: the measured qubits, sorted (the wires QDL computes probabilities of).
        registers: ``(name, positions)`` per classical register: for each of its bits the
            position in ``qubits`` of the qubit measured into it, or ``-1`` (never written:
            reads 0).
    """

    qubits: tuple[int, ...]
    registers: tuple[tuple[str, tuple[int, ...]], ...]

    @classmethod
    def of(cls, qc: Any) -> _Registers:
        """The last measurement into each classical bit decides it, as in Qiskit."""
        source: dict[int, int] = {}
        for inst in reversed(qc.data):
            if inst.operation.name == "measure":
                clbit = qc.find_bit(inst.clbits[0]).index
                source.setdefault(clbit, qc.find_bit(inst.qubits[0]).index)
        qubits = tuple(sorted(set(source.values())))
        place = {q: i for i, q in enumerate(qubits)}
        registers = []
        for creg in qc.cregs:
            bits = [source.get(qc.find_bit(b).index) for b in creg]
            registers.append((creg.name, tuple(-1 if q is None else place[q] for q in bits)))
        return cls(qubits, tuple(registers))

    def values(self, outcomes: np.ndarray, positions: tuple[int, ...]) -> np.ndarray:
        """Bits ``(..., len(positions))`` of a register (bit ``b`` at index ``b``) for
        outcome indices over ``qubits`` in Qiskit's order (``qubits[0]`` least significant)."""
        shifts = np.array([max(p, 0) for p in positions], dtype=np.int64)
        written = np.array([p >= 0 for p in positions], dtype=bool)
        return ((outcomes[..., None] >> shifts) & 1).astype(bool) & written


class Sampler(BaseSamplerV2, _Primitive):
    """Qiskit's ``BaseSamplerV2`` on QDL's simulator: ``shots`` samples of every classical
    register, as ``StatevectorSampler`` returns them (a ``BitArray`` per register, Qiskit's
    bit order), drawn from QDL's exact probabilities.

    Final measurements define what is recorded; a gate after a measurement on the same
    qubit (mid-circuit measurement), resets and classical control raise ``QDLError``.
    :meth:`probabilities` gives the exact distributions the samples come from.

    Args:
        default_shots: shots when neither ``run`` nor the PUB sets them.
        seed: seeds the sampling as in ``StatevectorSampler``: an ``int`` restarts the same
            stream for every parameter set (the same seed gives StatevectorSampler's samples),
            a ``numpy.random.Generator`` continues its stream, ``None``: fresh randomness.
        dtype: simulation precision, ``torch.complex128`` or ``torch.complex64``.
        device: where to simulate; default CPU.

    >>> from qiskit import QuantumCircuit
    >>> qc = QuantumCircuit(2)
    >>> _ = qc.x(0), qc.h(1), qc.measure_all()
    >>> bits = Sampler(seed=7).run([qc], shots=1000).result()[0].data.meas
    >>> sorted(bits.get_counts())
    ['01', '11']
    """

    def __init__(self, *, default_shots: int = 1024, seed: Seed = None,
                 dtype: torch.dtype = torch.complex128, device: str | torch.device | None = None):
        super().__init__(seed, dtype, device)
        self._default_shots = default_shots

    @property
    def default_shots(self) -> int:
        """The shots used when neither ``run`` nor a PUB sets them."""
        return self._default_shots

    def run(self, pubs: Iterable[Any], *, shots: int | None = None
            ) -> PrimitiveJob[PrimitiveResult[SamplerPubResult]]:
        """Sample ``(circuit[, parameter_values[, shots]])`` PUBs; circuits are checked
        (``QDLError``) before the job starts."""
        if shots is None:
            shots = self._default_shots
        coerced = [SamplerPub.coerce(pub, shots) for pub in pubs]
        if any(not pub.circuit.cregs for pub in coerced):
            warnings.warn("One of your circuits has no output classical registers and so the "
                          "result will be empty. Did you mean to add measurement instructions?",
                          UserWarning, stacklevel=2)
        groups = [(members, circuit, _Registers.of(coerced[members[0]].circuit))
                  for members, circuit in self._groups(coerced)]
        return _run_job(self._run, coerced, groups)

    def probabilities(self, pub: Any) -> dict[str, np.ndarray]:
        """Exact distributions of the classical registers of one PUB: register name ->
        ``(*pub.shape, 2**num_bits)``, indexed by the register's value (bit ``b`` of the
        register is bit ``b`` of the index, as in ``BitArray.get_int_counts``).

        >>> from qiskit import QuantumCircuit
        >>> qc = QuantumCircuit(2)
        >>> _ = qc.h(0), qc.measure_all()
        >>> Sampler().probabilities(qc)["meas"].round(6).tolist()
        [0.5, 0.5, 0.0, 0.0]
        """
        coerced = SamplerPub.coerce(pub, self._default_shots)
        circuit, regs = self._convert(coerced.circuit), _Registers.of(coerced.circuit)
        joint = self._joint([coerced], circuit, regs)
        outcomes = np.arange(joint.shape[-1])
        out = {}
        for name, positions in regs.registers:
            values = _as_ints(regs.values(outcomes, positions))
            dist = np.zeros((2 ** len(positions), joint.shape[0]))
            np.add.at(dist, values, joint.T)
            out[name] = dist.T.reshape(*coerced.shape, -1)
        return out

    def _joint(self, pubs: list[SamplerPub], circuit: Circuit, regs: _Registers
               ) -> np.ndarray:
        """Probabilities ``(rows, 2**len(qubits))`` of the measured qubits for the parameter
        values of all ``pubs`` (one simulation), indexed as Qiskit does: QDL puts its first
        wire in the most significant bit, so the wires go in reversed."""
        rows = self._stacked_rows(pubs)
        if not regs.qubits:
            return np.ones((len(rows), 1))
        with torch.no_grad():
            p = probs(circuit, self._params(circuit, rows),
                      wires=list(reversed(regs.qubits)), dtype=self.dtype, device=self.device)
        p = p.double().cpu().numpy().reshape(-1, 2 ** len(regs.qubits))
        return np.broadcast_to(p, (len(rows), p.shape[1]))

    def _run(self, pubs: list[SamplerPub], groups: list[tuple[list[int], Circuit, _Registers]]
             ) -> PrimitiveResult[SamplerPubResult]:
        results: list[Any] = [None] * len(pubs)
        for members, circuit, regs in groups:
            joint = self._joint([pubs[i] for i in members], circuit, regs)
            start = 0
            for i in members:
                size = pubs[i].parameter_values.size
                results[i] = self._result(pubs[i], regs, joint[start:start + size])
                start += size
        return PrimitiveResult(results, metadata={"version": 2})

    def _result(self, pub: SamplerPub, regs: _Registers, joint: np.ndarray
                ) -> SamplerPubResult:
        outcomes = _draw(joint, pub.shots, self._seed).reshape(*pub.shape, pub.shots)
        arrays = {name: _bit_array(regs, outcomes, positions)
                  for name, positions in regs.registers}
        return SamplerPubResult(DataBin(**arrays, shape=pub.shape),
                                metadata={"shots": pub.shots,
                                          "circuit_metadata": pub.circuit.metadata})


def _draw(p: np.ndarray, shots: int, seed: Seed) -> np.ndarray:
    """``shots`` outcome indices per row of probabilities ``p``, as ``StatevectorSampler``
    draws them: a generator from ``seed`` per row (an ``int`` restarts the same stream, a
    ``Generator`` continues), inverse-CDF sampling as in ``Generator.choice``. With the same
    integer seed the samples are StatevectorSampler's."""
    out = np.empty((len(p), shots), dtype=np.int64)
    cdf = np.cumsum(p, axis=1)
    cdf /= cdf[:, -1:]
    for i, row in enumerate(cdf):
        out[i] = np.searchsorted(row, np.random.default_rng(seed).random(shots), side="right")
    return np.minimum(out, p.shape[1] - 1)


def _bit_array(regs: _Registers, outcomes: np.ndarray, positions: tuple[int, ...]) -> BitArray:
    """A register's ``BitArray`` for outcome indices ``(..., shots)``: its value per
    outcome looked up once, then packed big-endian into bytes (``BitArray``'s layout)."""
    num_bits = len(positions)
    if num_bits > 62:  # beyond int64 values: pack bit by bit
        return BitArray.from_bool_array(regs.values(outcomes, positions), "little")
    table = _as_ints(regs.values(np.arange(2 ** len(regs.qubits)), positions))
    shifts = 8 * np.arange((num_bits + 7) // 8 - 1, -1, -1)
    packed = (table[outcomes][..., None] >> shifts) & 0xFF
    return BitArray(packed.astype(np.uint8), num_bits)


def _as_ints(bits: np.ndarray) -> np.ndarray:
    """Little-endian bits ``(..., k)`` as integers."""
    return (bits.astype(np.int64) << np.arange(bits.shape[-1])).sum(axis=-1)
