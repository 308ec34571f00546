"""The ``qdl.qubit`` PennyLane device: PennyLane tapes run on QDL's torch simulator."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pennylane as qml
import torch
from pennylane.devices import Device, ExecutionConfig
from pennylane.devices.modifiers import simulator_tracking, single_tape_support
from pennylane.devices.preprocess import (
    decompose,
    no_sampling,
    validate_adjoint_trainable_params,
    validate_device_wires,
    validate_measurements,
    validate_observables,
)
from pennylane.exceptions import DeviceError
from pennylane.math import Interface
from pennylane.measurements import (
    ExpectationMP,
    MeasurementProcess,
    ProbabilityMP,
    SampleMeasurement,
    StateMeasurement,
    VarianceMP,
)
from pennylane.operation import Operator
from pennylane.ops import CompositeOp, SymbolicOp
from pennylane.tape import QuantumScript
from pennylane.transforms import broadcast_expand, defer_measurements
from pennylane.transforms.core import CompilePipeline, transform
from pennylane.wires import Wires

from qdl.errors import QDLError
from qdl.grad import expval, var
from qdl.interop.pennylane.convert import (
    NATIVE,
    TapeConverter,
    is_batched_matrix,
    supported,
    to_numpy,
)
from qdl.sim import check_dtype, probs, sample, state

TARGET_GATES = frozenset(NATIVE | {f"C({g})" for g in NATIVE} | {f"Adjoint({g})" for g in NATIVE})


_BACKPROP = (Interface.TORCH, Interface.NUMPY)


def _null(results: Sequence[Any]) -> Any:
    return results[0]


@transform
def expand_batched_matrices(tape: QuantumScript) -> tuple[Sequence[QuantumScript], Any]:
    """One tape per batch item when a matrix gate is broadcast (QDL's matrix rows take one
    matrix); every other broadcast runs natively on QDL's batch dimension."""
    if tape.batch_size and any(is_batched_matrix(op) for op in tape.operations):
        return broadcast_expand(tape)
    return (tape,), _null


@transform
def only_expectations(tape: QuantumScript) -> tuple[Sequence[QuantumScript], Any]:
    """Adjoint differentiation here covers expectation values only."""
    if not all(isinstance(m, ExpectationMP) for m in tape.measurements):
        raise DeviceError("adjoint differentiation on qdl.qubit supports expectation values "
                          "only; use diff_method='backprop' (torch) or 'parameter-shift'")
    return (tape,), _null


def _samplable(obs: Operator) -> bool:
    if isinstance(obs, CompositeOp):
        return all(_samplable(o) for o in obs.operands)
    if isinstance(obs, SymbolicOp):
        return _samplable(obs.base)
    return obs.has_diagonalizing_gates


def _accepts_analytic(m: MeasurementProcess) -> bool:
    return isinstance(m, StateMeasurement)


def _accepts_sample(m: MeasurementProcess) -> bool:
    return isinstance(m, SampleMeasurement) and (m.obs is None or _samplable(m.obs))


def _observable_ok(obs: Operator) -> bool:
    return obs.pauli_rep is not None or obs.has_matrix or obs.name == "SparseHamiltonian" or (
        isinstance(obs, CompositeOp | SymbolicOp) and all(
            _observable_ok(o) for o in getattr(obs, "operands", [getattr(obs, "base", obs)])))


def _numpy(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, tuple):
        return tuple(_numpy(v) for v in value)
    return value


@simulator_tracking
@single_tape_support
class QDLQubit(Device):
    """PennyLane device on QDL's batched torch statevector simulator.

    Args:
        wires: number of wires or their labels (any hashable labels); ``None`` takes the
            wires of each circuit.
        shots: default shots (``None``: exact results); PennyLane's shot vectors work.
        seed: seeds the sampler: an int, ``None`` (fresh entropy) or ``"global"`` (drawn
            from NumPy's global generator, as ``default.qubit`` does).
        dtype: ``torch.complex128`` (default) or ``torch.complex64`` amplitudes.

    >>> dev = qml.device("qdl.qubit", wires=2)
    >>> @qml.qnode(dev)
    ... def bell():
    ...     qml.Hadamard(0)
    ...     qml.CNOT([0, 1])
    ...     return qml.probs()
    >>> bell().round(6).tolist()
    [0.5, 0.0, 0.0, 0.5]
    """

    def __init__(self, wires: Any = None, shots: Any = None, seed: Any = "global",
                 dtype: torch.dtype = torch.complex128) -> None:
        super().__init__(wires=wires, shots=shots)
        try:
            self._dtype = check_dtype(dtype)
        except QDLError as error:
            # PennyLane users build several devices side by side: say which one refused.
            raise QDLError(f"qdl.qubit: {error}") from None
        if seed == "global":
            seed = np.random.randint(0, 2**31 - 1)
        self._rng = np.random.default_rng(seed)

    @property
    def name(self) -> str:
        """The short name PennyLane knows the device by."""
        return "qdl.qubit"

    # ---- configuration ------------------------------------------------------------------

    def supports_derivatives(self, execution_config: ExecutionConfig | None = None,
                             circuit: QuantumScript | None = None) -> bool:
        """Backprop with the torch interface, adjoint with any; both need exact results."""
        if execution_config is None:
            return True
        method = execution_config.gradient_method
        if circuit is not None and circuit.shots:
            return False
        # QNode(diff_method=...) asks before the interface is known (NumPy); at execution
        # the interface is resolved, and only torch tensors can carry QDL's autograd graph.
        if method in ("backprop", "best") and execution_config.interface in _BACKPROP:
            return True
        if method in ("adjoint", "device", "best"):
            return circuit is None or all(
                isinstance(m, ExpectationMP) and _observable_ok(m.obs)
                for m in circuit.measurements)
        return False

    def supports_vjp(self, execution_config: ExecutionConfig | None = None,
                     circuit: QuantumScript | None = None) -> bool:
        """Vector-Jacobian products by QDL's adjoint method."""
        return self.supports_derivatives(execution_config, circuit)

    def setup_execution_config(self, config: ExecutionConfig | None = None,
                               circuit: QuantumScript | None = None) -> ExecutionConfig:
        """Resolve ``best`` (backprop with torch, else adjoint) and the mid-circuit
        measurement method (deferred: QDL simulates them on extra wires)."""
        config = config or ExecutionConfig()
        if config.device_options:
            raise DeviceError(f"qdl.qubit takes no device options, got "
                              f"{sorted(config.device_options)}")
        method = config.gradient_method
        if method in ("best", "device"):
            method = ("backprop" if config.interface in _BACKPROP and method == "best"
                      else "adjoint")
        updated: dict[str, Any] = {"gradient_method": method}
        if config.use_device_gradient is None:
            updated["use_device_gradient"] = method in ("adjoint", "backprop")
        if config.use_device_jacobian_product is None:
            updated["use_device_jacobian_product"] = method == "adjoint"
        if config.grad_on_execution is None:
            updated["grad_on_execution"] = False
        mcm = config.mcm_config
        if mcm.mcm_method not in (None, "deferred"):
            raise DeviceError(f"qdl.qubit runs mid-circuit measurements deferred only, got "
                              f"mcm_method={mcm.mcm_method!r}")
        updated["mcm_config"] = replace(mcm, mcm_method="deferred")
        return replace(config, **updated)

    def preprocess_transforms(self, execution_config: ExecutionConfig | None = None
                              ) -> CompilePipeline:
        """Defer mid-circuit measurements, decompose into QDL's gates, validate wires,
        measurements and observables; the method's own checks last."""
        config = execution_config or ExecutionConfig()
        program = CompilePipeline()
        program.add_transform(defer_measurements, allow_postselect=False)
        program.add_transform(decompose, stopping_condition=supported,
                              device_wires=self.wires, target_gates=TARGET_GATES,
                              name=self.name)
        program.add_transform(validate_device_wires, self.wires, name=self.name)
        program.add_transform(validate_measurements, analytic_measurements=_accepts_analytic,
                              sample_measurements=_accepts_sample, name=self.name)
        program.add_transform(validate_observables, stopping_condition=_observable_ok,
                              name=self.name)
        program.add_transform(expand_batched_matrices)
        if config.gradient_method in ("backprop", "adjoint"):
            program.add_transform(no_sampling, name=f"{config.gradient_method} + qdl.qubit")
        if config.gradient_method == "adjoint":
            program.add_transform(only_expectations)
            # PennyLane's Jacobian and VJP conventions for a broadcast tape hold no per-item
            # derivatives of its parameters: adjoint runs one tape per item, as default.qubit's.
            program.add_transform(broadcast_expand)
            program.add_transform(validate_adjoint_trainable_params)
        return program

    # ---- execution ----------------------------------------------------------------------

    def execute(self, circuits: Sequence[QuantumScript],
                execution_config: ExecutionConfig | None = None) -> tuple:
        """Run every tape on QDL: results in PennyLane's shapes (torch tensors when the tape
        holds torch parameters, so backprop flows; NumPy otherwise)."""
        config = execution_config or ExecutionConfig()
        method = "adjoint" if config.gradient_method == "adjoint" else "backprop"
        return tuple(self._run(tape, method) for tape in circuits)

    def _run(self, tape: QuantumScript, method: str) -> Any:
        wire_order = list(self.wires if self.wires is not None else tape.wires)
        conv = TapeConverter(wire_order)
        circuit, initial = conv.circuit(tape.operations)
        run = _Run(conv, circuit, initial, self._dtype, self._rng, method)
        if not tape.shots:
            out = run.measure(tape.measurements, None)
        elif tape.shots.has_partitioned_shots:
            out = tuple(run.measure(tape.measurements, s) for s in tape.shots)
        else:
            out = run.measure(tape.measurements, tape.shots.total_shots)
        if any(isinstance(p, torch.Tensor) for p in tape.get_parameters(trainable_only=False)):
            return out
        return _numpy(out)

    # ---- adjoint derivatives ------------------------------------------------------------

    def _jacobian(self, tape: QuantumScript) -> tuple[Any, np.ndarray]:
        """Results and the Jacobian ``(measurements, trainable params)`` by QDL's adjoint.

        With ``m > 1`` measurements and scalar parameters the tape runs as a batch of ``m``
        copies, copy ``i`` differentiating measurement ``i``: one forward and one adjoint
        sweep give the whole Jacobian (a sweep per measurement cost ``m`` times that).
        """
        params = list(tape.get_parameters(trainable_only=False))
        m = len(tape.measurements)
        given = [to_numpy(params[i]) for i in tape.trainable_params]
        copies = m if m > 1 and given and all(v.ndim == 0 for v in given) else None
        leaves = []
        for i, value in zip(tape.trainable_params, given, strict=True):
            leaf = torch.tensor(value if copies is None else np.full(copies, float(value)),
                                requires_grad=True)
            params[i] = leaf
            leaves.append(leaf)
        bound = tape.bind_new_parameters(params, list(range(len(params))))
        # PennyLane's torch interface asks for derivatives inside a backward pass, where
        # autograd is off; QDL's adjoint method is a torch autograd function.
        with torch.enable_grad():
            out = self._run(bound, "adjoint")
        values = out if m > 1 else (out,)
        jac = np.zeros((m, len(leaves)))
        if copies is not None:
            with torch.enable_grad():  # indexing too: it must stay on the graph
                rows = [y[i] for i, y in enumerate(values) if y.requires_grad]
                grads = torch.autograd.grad(sum(rows), leaves, allow_unused=True) if rows else ()
                for j, g in enumerate(grads):
                    jac[:, j] = 0.0 if g is None else g.detach().numpy()
            return _numpy(tuple(y[0] for y in values)), jac
        for i, y in enumerate(values):
            if not leaves or not y.requires_grad:
                continue
            with torch.enable_grad():
                grads = torch.autograd.grad(y, leaves, retain_graph=True, allow_unused=True)
            jac[i] = [0.0 if g is None else g.item() for g in grads]
        return _numpy(out), jac

    def compute_derivatives(self, circuits: Sequence[QuantumScript],
                            execution_config: ExecutionConfig | None = None) -> tuple:
        """Jacobians by QDL's adjoint method, in PennyLane's nesting."""
        return tuple(_format_jacobian(self._jacobian(t)[1]) for t in circuits)

    def execute_and_compute_derivatives(self, circuits: Sequence[QuantumScript],
                                        execution_config: ExecutionConfig | None = None
                                        ) -> tuple:
        """Results and Jacobians from one forward pass per tape."""
        pairs = [self._jacobian(t) for t in circuits]
        return (tuple(r for r, _ in pairs), tuple(_format_jacobian(j) for _, j in pairs))

    def compute_vjp(self, circuits: Sequence[QuantumScript], cotangents: Sequence[Any],
                    execution_config: ExecutionConfig | None = None) -> tuple:
        """Cotangent-weighted gradients (one adjoint Jacobian per tape)."""
        return tuple(self._vjp(t, c)[1] for t, c in zip(circuits, cotangents, strict=True))

    def execute_and_compute_vjp(self, circuits: Sequence[QuantumScript],
                                cotangents: Sequence[Any],
                                execution_config: ExecutionConfig | None = None) -> tuple:
        """Results and vector-Jacobian products."""
        pairs = [self._vjp(t, c) for t, c in zip(circuits, cotangents, strict=True)]
        return (tuple(r for r, _ in pairs), tuple(v for _, v in pairs))

    def _vjp(self, tape: QuantumScript, cotangent: Any) -> tuple[Any, tuple]:
        """Results and ``Σ_i c_i ∂y_i/∂θ``: one adjoint backward pass for all measurements
        (the Jacobian would take one per measurement)."""
        params = list(tape.get_parameters(trainable_only=False))
        leaves = []
        for i in tape.trainable_params:
            params[i] = torch.tensor(to_numpy(params[i]), requires_grad=True)
            leaves.append(params[i])
        bound = tape.bind_new_parameters(params, list(range(len(params))))
        with torch.enable_grad():  # see _jacobian
            out = self._run(bound, "adjoint")
        values = out if len(tape.measurements) > 1 else (out,)
        cot = [np.asarray(_numpy(qml.math.unwrap(c)), dtype=float) for c in (
            cotangent if len(tape.measurements) > 1 else (cotangent,))]
        with torch.enable_grad():
            total = sum((torch.as_tensor(c, dtype=y.dtype) * y).sum()
                        for c, y in zip(cot, values, strict=True) if y.requires_grad)
            if not leaves or not isinstance(total, torch.Tensor):
                return _numpy(out), tuple(np.zeros(np.shape(to_numpy(params[i])))
                                          for i in tape.trainable_params)
            grads = torch.autograd.grad(total, leaves, allow_unused=True)
        return _numpy(out), tuple(np.zeros(leaf.shape) if g is None else g.numpy()
                                  for leaf, g in zip(leaves, grads, strict=True))


def _format_jacobian(jac: np.ndarray) -> Any:
    """PennyLane's nesting: squeezed over single measurements and single parameters."""
    m, p = jac.shape
    if m == 1 and p == 1:
        return np.array(jac[0, 0])
    if m == 1:
        return tuple(np.array(x) for x in jac[0])
    if p == 1:
        return tuple(np.array(x) for x in jac[:, 0])
    return tuple(tuple(np.array(x) for x in row) for row in jac)


class _Run:
    """The measurements of one converted tape, at one shot count."""

    def __init__(self, conv: TapeConverter, circuit: Any, initial: torch.Tensor | None,
                 dtype: torch.dtype, rng: np.random.Generator, method: str):
        self.conv, self.circuit, self.initial = conv, circuit, initial
        self.dtype, self.rng, self.method = dtype, rng, method
        self.wire_order = Wires(conv.wire_order)
        self._psi: torch.Tensor | None = None

    def _seed(self) -> int:
        return int(self.rng.integers(2**31 - 1))

    def measure(self, mps: Sequence[MeasurementProcess], shots: int | None) -> Any:
        out: list[Any] = [None] * len(mps)
        self._expvals(mps, shots, out)
        for i, m in enumerate(mps):
            if isinstance(m, VarianceMP):
                c, o = self.conv.operator(m.obs)
                v = var(self.circuit, [o], self.conv.params, dtype=self.dtype, shots=shots,
                        seed=None if shots is None else self._seed(),
                        initial_state=self.initial)[..., 0]
                out[i] = v * (c * c)
            elif isinstance(m, ExpectationMP):
                continue
            elif shots is not None:
                out[i] = self._sampled(m, shots)
            elif isinstance(m, ProbabilityMP):
                circuit = self.conv.diagonalized(self.circuit, m.obs)
                wires = self.conv.wires(m.wires) if m.wires else None
                out[i] = probs(circuit, self.conv.params, wires, dtype=self.dtype,
                               initial_state=self.initial)
            else:
                out[i] = m.process_state(self._state(), wire_order=self.wire_order)
        return out[0] if len(mps) == 1 else tuple(out)

    def _expvals(self, mps: Sequence[MeasurementProcess], shots: int | None,
                 out: list[Any]) -> None:
        """Every expectation value of the tape from one QDL call."""
        which = [i for i, m in enumerate(mps) if isinstance(m, ExpectationMP)]
        if not which:
            return
        parts = [self.conv.leaves(mps[i].obs) for i in which]
        flat = [o for part in parts for _, o in part]
        method = "parameter-shift" if shots is not None else self.method
        values = expval(self.circuit, flat, self.conv.params, diff_method=method,
                        dtype=self.dtype, shots=shots,
                        seed=None if shots is None else self._seed(),
                        initial_state=self.initial)
        k = 0
        for i, part in zip(which, parts, strict=True):
            total = 0.0
            for j, (c, _) in enumerate(part):
                total = total + c * values[..., k + j]
            out[i], k = total, k + len(part)

    def _state(self) -> torch.Tensor:
        if self._psi is None:
            self._psi = state(self.circuit, self.conv.params, dtype=self.dtype,
                              initial_state=self.initial)
        return self._psi

    def _sampled(self, m: MeasurementProcess, shots: int) -> Any:
        """Sample-based results (samples, counts, probabilities) from QDL's sampler."""
        circuit = self.conv.diagonalized(self.circuit, m.obs)
        bits = sample(circuit, self.conv.params, shots, seed=self._seed(), dtype=self.dtype,
                      initial_state=self.initial).numpy()
        if bits.ndim == 2:
            return m.process_samples(bits, wire_order=self.wire_order)
        results = [m.process_samples(b, wire_order=self.wire_order)
                   for b in bits.reshape(-1, shots, bits.shape[-1])]
        if isinstance(results[0], dict):
            return tuple(results)
        return np.stack(results)
