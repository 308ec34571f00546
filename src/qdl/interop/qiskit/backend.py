"""Expectation values on Qiskit: any EstimatorV2 or SamplerV2 primitive, or any backend.

:class:`QiskitEstimator` turns ``(circuit, observables, parameter batch)`` into one Estimator
PUB: the circuit converted once (and transpiled once for a backend), the observables as
``SparsePauliOp`` s, the whole batch as one array of parameter values. It is the ``backend``
that :func:`qdl.expval` and :class:`qdl.nn.QuantumLayer` accept: their forward pass is one
job, and each backward pass one more job holding every parameter-shifted copy of the batch.

:class:`QiskitSampler` is the same backend on a Sampler: it measures every Pauli word in its
basis (qubit-wise commuting words share a measurement setting) and averages parities of the
bit strings, one sampler job per call, with standard errors from the same shots.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from qdl.circuit import Circuit
from qdl.errors import QDLError
from qdl.interop.qiskit._common import require
from qdl.interop.qiskit.circuits import to_qiskit
from qdl.observables import Observable, parse_observables

__all__ = ["MeasurementPlan", "QiskitEstimator", "QiskitSampler", "pauli_sum_to_qiskit"]


def pauli_sum_to_qiskit(obs: Observable, n_qubits: int) -> Any:
    """A QDL observable as a ``SparsePauliOp`` (wire ``w`` on Qiskit qubit ``w``).

    >>> pauli_sum_to_qiskit(Observable.parse("0.5 X0 Z2 + -1"), 3).to_list()
    [('ZIX', (0.5+0j)), ('III', (-1+0j))]
    """
    info = require("qiskit.quantum_info")
    terms = [("".join(p for _, p in t.paulis), [w for w, _ in t.paulis], t.coeff)
             for t in obs.terms]
    return info.SparsePauliOp.from_sparse_list(terms, num_qubits=n_qubits)


class QiskitEstimator:
    """Expectation values of QDL circuits through Qiskit's Estimator primitive (V2).

    Args:
        target: an EstimatorV2 primitive (``qiskit.primitives.StatevectorEstimator``,
            ``qiskit_aer.primitives.EstimatorV2``, IBM Runtime's ``EstimatorV2`` ...), or a
            ``BackendV2`` (``AerSimulator``, a fake or real device), which is wrapped in
            ``BackendEstimatorV2`` with circuits transpiled for it. ``None``: Qiskit's exact
            ``StatevectorEstimator``.
        precision: the target standard error of each estimate, passed to ``run`` (sampling
            primitives take about ``1/precision²`` shots); ``None`` keeps the primitive's
            default.
        pass_manager: transpiles circuits before they run (hardware needs ISA circuits);
            with a backend the default is Qiskit's preset pass manager for it.
        optimization_level: of the default preset pass manager.

    >>> est = QiskitEstimator()
    >>> c = Circuit(1).ry(0, "a")
    >>> est.expval(c, ["Z0", "X0"], {"a": torch.tensor([0.0, 1.5707963])}).round(decimals=6)
    tensor([[1., 0.],
            [0., 1.]], dtype=torch.float64)
    """

    def __init__(self, target: Any = None, *, precision: float | None = None,
                 pass_manager: Any = None, optimization_level: int = 1):
        primitives = require("qiskit.primitives")
        providers = require("qiskit.providers")
        self.pass_manager = pass_manager
        if target is None:
            target = primitives.StatevectorEstimator()
        if isinstance(target, providers.BackendV2):
            if pass_manager is None:
                transpiler = require("qiskit.transpiler")
                self.pass_manager = transpiler.generate_preset_pass_manager(
                    optimization_level=optimization_level, backend=target)
            target = primitives.BackendEstimatorV2(backend=target)
        if not isinstance(target, primitives.BaseEstimatorV2):
            raise QDLError("QiskitEstimator needs an EstimatorV2 primitive or a BackendV2, got "
                           f"{type(target).__name__}")
        self.estimator = target
        self.precision = precision
        self._compiled: dict[Circuit, Any] = {}

    def _circuit(self, circuit: Circuit) -> Any:
        qc = self._compiled.get(circuit)
        if qc is None:
            qc = to_qiskit(circuit)
            if self.pass_manager is not None:
                qc = self.pass_manager.run(qc)
            if len(self._compiled) > 64:  # parameter-shift reuses one circuit; keep a few
                self._compiled.clear()
            self._compiled[circuit] = qc
        return qc

    def expval(self, circuit: Circuit, observables: Sequence[str | Observable] | str,
               params: Mapping[str, Any] | None = None) -> torch.Tensor:
        """``<O>`` for each observable: ``(*batch, len(observables))`` float64, no gradient.

        ``params`` maps every circuit parameter to a float or array; batch shapes broadcast.
        For gradients use ``qdl.expval(..., backend=this)``.
        """
        obs = parse_observables(list(observables) if not isinstance(observables, str)
                                else [observables], circuit.n_qubits)
        qc = self._circuit(circuit)
        values, batch_shape = _parameter_values(qc, circuit, params or {})
        ops = [pauli_sum_to_qiskit(o, circuit.n_qubits) for o in obs]
        if getattr(qc, "layout", None) is not None:
            ops = [op.apply_layout(qc.layout) for op in ops]
        if values is not None and aer_needs_binding(self.estimator, qc):
            pubs = [(qc.assign_parameters(v), [ops]) for v in values]
            result = self.estimator.run(pubs, precision=self.precision).result()
            evs = np.stack([np.asarray(r.data.evs, dtype=np.float64) for r in result])
        else:
            pub = (qc, [ops]) if values is None else (qc, [ops], values[:, None, :])
            job = self.estimator.run([pub], precision=self.precision)
            evs = np.asarray(job.result()[0].data.evs, dtype=np.float64)
        return torch.from_numpy(evs.reshape(*batch_shape, len(obs)).copy())


def _parameter_values(qc: Any, circuit: Circuit, params: Mapping[str, Any]
                      ) -> tuple[np.ndarray | None, tuple[int, ...]]:
    """``(B, P)`` values in the order of ``qc.parameters``, and the broadcast batch shape."""
    missing = [n for n in circuit.parameters if n not in params]
    extra = [n for n in params if n not in circuit.parameters]
    if missing or extra:
        raise QDLError(f"parameters {sorted(params)} do not match the circuit's "
                       f"{list(circuit.parameters)} (missing {missing}, unknown {extra})")
    arrays = {k: np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v,
                            dtype=np.float64) for k, v in params.items()}
    shape = np.broadcast_shapes(*(a.shape for a in arrays.values())) if arrays else ()
    names = [p.name for p in qc.parameters]
    if not names:
        return None, tuple(shape)
    flat = [np.broadcast_to(arrays[n], shape).reshape(-1) for n in names]
    return np.stack(flat, -1), tuple(shape)


# ---- the Sampler backend -------------------------------------------------------------------

Word = tuple[tuple[int, str], ...]
_CREG = "qdl_meas"  # the classical register measured settings write into


@dataclass(frozen=True)
class MeasurementPlan:
    """How a list of observables is measured: settings, the words each estimates, weights.

    Attributes:
        words: the distinct Pauli words (``((wire, "X"|"Y"|"Z"), ...)``) of all observables.
        coeffs: ``(len(words), n_obs)``: the coefficient of each word in each observable.
        constants: ``(n_obs,)``: the identity terms.
        settings: ``(basis, word indices)`` per measurement setting: ``basis`` is
            ``((wire, pauli), ...)`` sorted by wire, and every listed word is a sub-word of it.
    """

    words: tuple[Word, ...]
    coeffs: np.ndarray
    constants: np.ndarray
    settings: tuple[tuple[Word, tuple[int, ...]], ...]

    @classmethod
    def build(cls, observables: Sequence[Observable]) -> MeasurementPlan:
        """Group the words of ``observables`` into qubit-wise commuting settings.

        Greedy and deterministic: words with more wires first, each into the first setting
        that agrees with it on every shared wire (a new setting otherwise). This is not the
        fewest settings in general, but never more than one per distinct word.

        >>> obs = [Observable.parse("0.5 Z0 Z1 + -1 X2"), Observable.parse("Z1 + 2")]
        >>> plan = MeasurementPlan.build(obs)
        >>> [basis for basis, _ in plan.settings], plan.constants.tolist()
        ([((0, 'Z'), (1, 'Z'), (2, 'X'))], [0.0, 2.0])
        """
        index: dict[Word, int] = {}
        weights: list[dict[int, float]] = []
        constants = np.zeros(len(observables))
        for k, obs in enumerate(observables):
            for term in obs.terms:
                if not term.paulis:
                    constants[k] += term.coeff
                    continue
                j = index.setdefault(term.paulis, len(index))
                if j == len(weights):
                    weights.append({})
                weights[j][k] = weights[j].get(k, 0.0) + term.coeff
        coeffs = np.zeros((len(index), len(observables)))
        for j, row in enumerate(weights):
            for k, c in row.items():
                coeffs[j, k] = c
        words = tuple(index)
        return cls(words, coeffs, constants, _group_qubit_wise(words))


def _group_qubit_wise(words: Sequence[Word]) -> tuple[tuple[Word, tuple[int, ...]], ...]:
    bases: list[dict[int, str]] = []
    members: list[list[int]] = []
    for j in sorted(range(len(words)), key=lambda j: (-len(words[j]), words[j])):
        for basis, group in zip(bases, members, strict=True):
            if all(basis.get(w, p) == p for w, p in words[j]):
                basis.update(words[j])
                group.append(j)
                break
        else:
            bases.append(dict(words[j]))
            members.append([j])
    return tuple((tuple(sorted(b.items())), tuple(sorted(g)))
                 for b, g in zip(bases, members, strict=True))


def _measured_circuit(qc: Any, basis: Word) -> Any:
    """``qc`` followed by the rotations taking ``basis`` to Z and its measurements: wire
    ``basis[j][0]`` into bit ``j`` of the register ``qdl_meas``."""
    qiskit = require("qiskit")
    out = qc.copy()
    creg = qiskit.ClassicalRegister(len(basis), _CREG)
    out.add_register(creg)
    for j, (wire, pauli) in enumerate(basis):
        if pauli == "Y":
            out.sdg(wire)  # S† then H maps Y's eigenbasis onto Z's: H S† Y S H = Z
        if pauli in "XY":
            out.h(wire)
        out.measure(wire, creg[j])
    return out


def _setting_estimates(bits: np.ndarray, plan: MeasurementPlan, setting: int
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the mean of each observable's part measured by one setting.

    ``bits``: ``(..., shots, len(basis))`` booleans, column ``j`` the basis's ``j``-th wire.
    The words of one setting come from the same shots, so their estimates are correlated:
    the variance is taken of the per-shot weighted sum, which accounts for that.
    """
    basis, members = plan.settings[setting]
    column = {wire: j for j, (wire, _) in enumerate(basis)}
    signs = np.stack([1.0 - 2.0 * (bits[..., [column[w] for w, _ in plan.words[j]]].sum(-1) % 2)
                      for j in members], -1)
    per_shot = signs @ plan.coeffs[list(members)]  # (..., shots, n_obs)
    shots = per_shot.shape[-2]
    # Divided by shots - 1: the unbiased variance of the mean, as qdl.expval_with_stderr.
    var = (per_shot.var(-2) / (shots - 1) if shots > 1
           else np.full_like(per_shot[..., 0, :], np.nan))
    return per_shot.mean(-2), var


class QiskitSampler:
    """Expectation values of QDL circuits estimated from Qiskit Sampler (V2) bit strings.

    The Pauli words of all observables are grouped into qubit-wise commuting measurement
    settings (see :meth:`MeasurementPlan.build`); each setting is the circuit followed by
    basis rotations (H for X, S†·H for Y) and measurements of its wires. One sampler job
    runs every setting over the whole parameter batch, ``shots`` shots per setting and
    batch item; ``<P>`` is the mean of ``(-1)^(parity of P's measured bits)`` (Qiskit's bit
    ``j`` is read as the ``j``-th wire of the setting, whatever the string order). Terms
    sharing a setting share shots, so different terms' estimates are correlated.

    Args:
        target: a SamplerV2 primitive (``qiskit.primitives.StatevectorSampler``,
            ``qiskit_aer.primitives.SamplerV2``, IBM Runtime's ``SamplerV2`` ...), or a
            ``BackendV2``, wrapped in ``BackendSamplerV2`` with circuits transpiled for it.
            ``None``: Qiskit's ``StatevectorSampler``.
        shots: per setting and batch item, passed to every ``run``.
        seed: seeds the sampler QDL builds (``target`` ``None`` or a backend); successive
            calls draw fresh samples, reproducibly. Seed a primitive you pass yourself
            (e.g. ``qiskit_aer.primitives.SamplerV2(seed=...)``, which then repeats its
            samples for the same circuits on every call).
        pass_manager: transpiles the measured circuits (hardware needs ISA circuits); with
            a backend the default is Qiskit's preset pass manager for it.
        optimization_level: of the default preset pass manager.

    Attributes:
        last_stderr: standard errors of the latest :meth:`expval` (a backward pass through
            :func:`qdl.expval` is a call too, for the shifted batch).

    >>> sampler = QiskitSampler(shots=500, seed=1)
    >>> sampler.expval(Circuit(2).x(0).h(1), ["Z0", "X1", "-2 Z0 X1"])
    tensor([-1.,  1.,  2.], dtype=torch.float64)
    """

    def __init__(self, target: Any = None, *, shots: int = 1024, seed: int | None = None,
                 pass_manager: Any = None, optimization_level: int = 1):
        if isinstance(shots, bool) or not isinstance(shots, int | np.integer) or shots < 1:
            raise QDLError(f"shots must be a positive integer, got {shots!r}")
        primitives = require("qiskit.primitives")
        self.shots = int(shots)
        self.pass_manager = pass_manager
        self._rng = np.random.default_rng(seed)
        self._reseed = False
        if target is None:
            # A Generator (not an int) so that every run draws new samples.
            target = primitives.StatevectorSampler(seed=self._rng)
        elif isinstance(target, require("qiskit.providers").BackendV2):
            target = self._wrap_backend(target, optimization_level)
            self._reseed = seed is not None
        elif seed is not None:
            raise QDLError("seed= seeds only samplers QiskitSampler builds; seed your primitive "
                           "itself, e.g. qiskit_aer.primitives.SamplerV2(seed=...)")
        if not isinstance(target, primitives.BaseSamplerV2):
            raise QDLError("QiskitSampler needs a SamplerV2 primitive or a BackendV2, got "
                           f"{type(target).__name__}")
        self.sampler = target
        self.last_stderr: torch.Tensor | None = None
        self._compiled: dict[tuple[Circuit, Word], Any] = {}

    def _wrap_backend(self, backend: Any, optimization_level: int) -> Any:
        if self.pass_manager is None:
            self.pass_manager = require("qiskit.transpiler").generate_preset_pass_manager(
                optimization_level=optimization_level, backend=backend)
        return require("qiskit.primitives").BackendSamplerV2(backend=backend)

    def _circuit(self, circuit: Circuit, basis: Word) -> Any:
        qc = self._compiled.get((circuit, basis))
        if qc is None:
            qc = _measured_circuit(to_qiskit(circuit), basis)
            if self.pass_manager is not None:
                qc = self.pass_manager.run(qc)
            if len(self._compiled) > 256:  # parameter-shift reuses one circuit; keep a few
                self._compiled.clear()
            self._compiled[(circuit, basis)] = qc
        return qc

    def expval(self, circuit: Circuit, observables: Sequence[str | Observable] | str,
               params: Mapping[str, Any] | None = None) -> torch.Tensor:
        """Shot estimates of ``<O>``: ``(*batch, len(observables))`` float64, no gradient.

        ``params`` maps every circuit parameter to a float or array; batch shapes broadcast.
        Their standard errors are left in :attr:`last_stderr`. For gradients use
        ``qdl.expval(..., backend=this)``.
        """
        values, self.last_stderr = self.expval_with_stderr(circuit, observables, params)
        return values

    def expval_with_stderr(self, circuit: Circuit,
                           observables: Sequence[str | Observable] | str,
                           params: Mapping[str, Any] | None = None
                           ) -> tuple[torch.Tensor, torch.Tensor]:
        """Shot estimates and their standard errors, both ``(*batch, len(observables))``.

        For an observable ``Σ_t c_t P_t`` the error is ``√(Σ_s Var_s/(shots − 1))`` over the
        settings ``s``, ``Var_s`` the sample variance of ``Σ_{t in s} c_t (±1)`` per shot.

        >>> est, err = QiskitSampler(shots=400, seed=0).expval_with_stderr(
        ...     Circuit(1).h(0), ["Z0", "X0"])
        >>> bool(abs(est[0]) < 5 * err[0]), err[1].item()
        (True, 0.0)
        """
        obs = parse_observables(list(observables) if not isinstance(observables, str)
                                else [observables], circuit.n_qubits)
        plan = MeasurementPlan.build(obs)
        circuits = [self._circuit(circuit, basis) for basis, _ in plan.settings]
        runs, batch_shape = [], ()
        for qc in circuits:
            values, batch_shape = _parameter_values(qc, circuit, params or {})
            runs.append((qc, values))
        if not circuits:  # constants only: nothing to run, but the parameters are checked
            _, batch_shape = _parameter_values(to_qiskit(circuit), circuit, params or {})
        mean, var = plan.constants, np.zeros(len(obs))
        for k, bits in enumerate(self._run(runs)):
            m, v = _setting_estimates(bits, plan, k)
            mean, var = mean + m, var + v
        size = int(np.prod(batch_shape))
        shape = (*batch_shape, len(obs))
        return (torch.from_numpy(np.broadcast_to(mean, (size, len(obs))).reshape(shape).copy()),
                torch.from_numpy(np.sqrt(np.broadcast_to(var, (size, len(obs)))).reshape(shape)))

    def _run(self, circuits: list[tuple[Any, np.ndarray | None]]) -> list[np.ndarray]:
        """One sampler job for every ``(circuit, (N, P) values)``: per circuit
        ``(..., shots, bits)`` booleans, bit ``j`` in column ``j`` (``order="little"``: Qiskit's
        strings print bit 0 last)."""
        if not circuits:
            return []
        pubs, spans = [], []
        for qc, values in circuits:
            if values is not None and self._bind_here(qc):
                spans.append((len(pubs), len(values)))
                pubs.extend((qc.assign_parameters(v),) for v in values)
            else:
                spans.append((len(pubs), 0))
                pubs.append((qc,) if values is None else (qc, values))
        if self._reseed:
            self.sampler.options.seed_simulator = int(self._rng.integers(2**31))
        result = self.sampler.run(pubs, shots=self.shots).result()
        bits = [getattr(r.data, _CREG).to_bool_array(order="little") for r in result]
        return [np.stack(bits[i:i + n]) if n else bits[i] for i, n in spans]

    def _bind_here(self, qc: Any) -> bool:
        return aer_needs_binding(self.sampler, qc)


def aer_needs_binding(primitive: Any, qc: Any) -> bool:
    """Whether to bind parameter values in Python, one pub per batch item: Aer's primitives
    (0.16 to at least 0.18) ignore the values of parameterized controlled gates (crx, cp,
    ...; Qiskit/qiskit-aer#2323, #2403), so such circuits must reach Aer bound."""
    if not type(primitive).__module__.startswith("qiskit_aer"):
        return False
    circuit = require("qiskit.circuit")
    return any(isinstance(inst.operation, circuit.ControlledGate) and any(
        isinstance(p, circuit.ParameterExpression) and p.parameters
        for p in inst.operation.params) for inst in qc.data)
