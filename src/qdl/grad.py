"""Differentiable expectation values: one entry point, an enum of methods.

Every method differentiates with respect to the *gate tensors or angles*; torch autograd
then carries the gradient through the angle expressions (``2*theta + 0.1``, parameters
shared by many gates) back to the user's tensors and whatever layers produced them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

import torch

from qdl.circuit import Circuit, Op
from qdl.errors import QDLError
from qdl.expr import Sym
from qdl.gates import GATES, shift_rule
from qdl.noise import NoiseModel
from qdl.observables import (
    AnyObservable,
    Observable,
    Projector,
    SparseHamiltonian,
    parse_observables,
)
from qdl.sim import (
    REAL,
    Bound,
    PlanItem,
    Step,
    adapt_threads,
    angles,
    bind,
    check_shots,
    compile_circuit,
    dense,
    density_expectation,
    density_run,
    density_shot_expectation,
    expectation,
    final_state,
    fitting_chunk,
    fused,
    gate_tensor,
    make_generator,
    observable_apply,
    plan_for,
    plan_tensors,
    readout_matrices,
    run,
    shot_expectation,
    sweep,
    tracing,
    weighted_observables,
)


class DiffMethod(Enum):
    """How :func:`expval` computes gradients."""

    BACKPROP = "backprop"
    ADJOINT = "adjoint"
    PARAMETER_SHIFT = "parameter-shift"
    FINITE_DIFF = "finite-diff"
    BEST = "best"

    @classmethod
    def parse(cls, value: str | DiffMethod) -> DiffMethod:
        """The method named ``value``; ``QDLError`` listing the valid names otherwise.

        >>> DiffMethod.parse("adjoint")
        <DiffMethod.ADJOINT: 'adjoint'>
        """
        if isinstance(value, DiffMethod):
            return value
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(repr(m.value) for m in cls)
            raise QDLError(f"unknown diff_method {value!r}; choose one of {names}") from None


class Backend(Protocol):
    """What :func:`expval` needs from an external backend (hardware, another simulator)."""

    def expval(self, circuit: Circuit, observables: Sequence[Observable],
               params: Mapping[str, torch.Tensor]) -> Any:
        """``<O>`` of every observable for parameters of shape ``(B,)``: ``(B, len(obs))``."""
        ...


@dataclass(frozen=True)
class Evaluation:
    """Everything about one evaluation that is not a differentiable tensor."""

    steps: tuple[Step, ...]
    n_qubits: int
    bound: Bound
    observables: tuple[Observable, ...]
    shots: int | None = None
    generator: torch.Generator | None = None
    noise: NoiseModel | None = None
    readout: tuple | None = None
    stderr: bool = False  # shot estimates followed by their standard errors

    def evaluate(self, tensors: Sequence[torch.Tensor | None],
                 items: Sequence[PlanItem] | None = None) -> torch.Tensor:
        if self.noise is not None:
            return self._evaluate_density(tensors)
        state = run(self.steps if items is None else items, tensors, self.n_qubits, self.bound)
        if self.shots is None:
            return expectation(state, self.observables)
        return shot_expectation(state, self.observables, self.shots, self.generator,
                                self.stderr)

    def _evaluate_density(self, tensors: Sequence[torch.Tensor | None]) -> torch.Tensor:
        rho = density_run(self.steps, tensors, self.n_qubits, self.bound, self.noise)
        if self.shots is None:
            return density_expectation(rho, self.observables, self.readout)
        return density_shot_expectation(rho, self.observables, self.shots, self.generator,
                                        self.readout, self.stderr)


class AdjointExpval(torch.autograd.Function):
    """``<O>`` with gradients by the adjoint method (Jones & Gacon, arXiv:2009.02823).

    Inputs are the tensors of the fused plan's items (matrices ``(.., K, K)``, diagonals
    ``(.., K)``, or ``None``). The backward pass is :func:`qdl.sim.plan.sweep`: for a gate
    ``U`` on the way, the gradient of ``L = Σ_o g_o <O_o>`` with respect to its entries is
    ``dL/dU_ij = 2 Σ_rest λ_i conj(φ_j)`` (torch's convention for complex inputs), from which
    autograd reaches the angles.
    """

    @staticmethod
    def forward(ctx, plan: Evaluation, items: tuple[PlanItem, ...], *tensors: torch.Tensor | None):  # type: ignore[override]
        detached = tuple(None if t is None else t.detach() for t in tensors)
        state = run(items, detached, plan.n_qubits, plan.bound)
        ctx.plan, ctx.items, ctx.tensors = plan, items, detached
        # The inputs themselves are saved too: a backward with create_graph needs them
        # connected to the graph that produced them (see _backprop_grads).
        ctx.save_for_backward(state, *tensors)
        return expectation(state, plan.observables)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        items, tensors = ctx.items, ctx.tensors
        wanted = [i for i, need in enumerate(ctx.needs_input_grad[2:]) if need]
        grads: list[torch.Tensor | None] = [None] * len(items)
        if not wanted:
            return (None, None, *grads)
        psi, *inputs = ctx.saved_tensors
        if torch.is_grad_enabled():
            return (None, None, *_backprop_grads(ctx.plan, items, inputs, wanted, grad_out))
        lam = weighted_observables(psi, ctx.plan.observables, grad_out)
        return (None, None, *sweep(items, tensors, psi, lam, wanted))


def _backprop_grads(plan: Evaluation, items: tuple[PlanItem, ...], inputs: Sequence,
                    wanted: Sequence[int], grad_out: torch.Tensor) -> list[torch.Tensor | None]:
    """The adjoint's gradients as a differentiable function of the inputs and ``grad_out``.

    A backward with ``create_graph`` (Hessians, gradient penalties, meta-learning) needs
    ``dL/dT`` as a function it can differentiate again; the adjoint sweep runs on detached
    states and in-place buffers, so here the forward pass is re-run with autograd and
    differentiated once more, keeping its graph.
    """
    with torch.enable_grad():
        out = plan.evaluate(inputs, items)
        found = torch.autograd.grad(out, [inputs[i] for i in wanted], grad_out,
                                    create_graph=True, allow_unused=True)
    grads: list[torch.Tensor | None] = [None] * len(items)
    for i, g in zip(wanted, found, strict=True):
        grads[i] = torch.zeros_like(inputs[i]) if g is None else g
    return grads


class ShiftExpval(torch.autograd.Function):
    """``<O>`` with gradients by shift rules on the gate angles.

    ``rule(frequencies)`` gives ``((c, s), ...)`` so that ``df/dθ = Σ c·(f(θ+s) − f(θ−s))``:
    the exact parameter-shift rule derived from the gate's frequencies
    (:func:`qdl.gates.shift_rule`), or a central finite difference. Shot noise, when
    ``plan.shots`` is set, enters every evaluation as it would on hardware.
    """

    @staticmethod
    def forward(ctx, plan: Evaluation, slots: tuple, rule: Callable, *values: torch.Tensor):  # type: ignore[override]
        ctx.plan, ctx.slots, ctx.rule = plan, slots, rule
        ctx.values = [v.detach() for v in values]
        ctx.save_for_backward(*values)  # connected to their graph, for create_graph
        return plan.evaluate(_tensors_with(plan, slots, ctx.values))

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        plan, values = ctx.plan, ctx.values
        # With create_graph every shifted evaluation is itself a ShiftExpval of the saved
        # (graph-connected) angles, so the derivative is differentiable again: the shift
        # rule of the shift rule, exact for every order when the rule is exact.
        again = torch.is_grad_enabled()
        if not again:
            return (None, None, None, *_batched_shift_grads(ctx, grad_out))
        values = list(ctx.saved_tensors)
        derivatives = [torch.zeros_like(grad_out) for _ in values]
        for v, c, s in _shift_jobs(plan, ctx.slots, ctx.rule):
            shifted = list(values)
            shifted[v] = values[v] + s
            value = ShiftExpval.apply(plan, ctx.slots, _deeper(ctx.rule), *shifted)
            derivatives[v] = derivatives[v] + c * value
        return (None, None, None, *_angle_grads(grad_out, derivatives, values))


def _shift_jobs(plan: Evaluation, slots: tuple, rule: Callable) -> list[tuple[int, float, float]]:
    """``(slot, coefficient, signed shift)`` for every evaluation the rule asks for."""
    jobs = []
    for v, (i, j) in enumerate(slots):
        freqs = GATES[plan.steps[i].op.name].controlled_frequencies(plan.steps[i].op.ctrl)[j]
        jobs += [(v, sign * c, sign * s) for c, s in rule(freqs) for sign in (1, -1)]
    return jobs


def _angle_grads(grad_out: torch.Tensor, derivatives: Sequence[torch.Tensor],
                 values: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """``Σ grad_out · d<O>/dθ`` per angle, summed over the batch for unbatched angles."""
    grads = []
    for derivative, value in zip(derivatives, values, strict=True):
        g = (grad_out * derivative).sum(-1)
        grads.append(g if value.dim() else g.sum())
    return grads


def _batched_shift_grads(ctx: Any, grad_out: torch.Tensor) -> list[torch.Tensor]:
    """First-order shift-rule gradients with every shifted copy of the batch in one run.

    Each (slot, shift, sign) is a job; the jobs' angle values are stacked job-major into a
    batch of ``jobs × B`` items, so a circuit with P shifted angles costs a few simulations
    of a large batch instead of 2·P (or 4·P) of a small one. Jobs are grouped when all of
    them at once would not fit in memory.
    """
    plan, values, slots = ctx.plan, ctx.values, ctx.slots
    jobs = _shift_jobs(plan, slots, ctx.rule)
    batch = plan.bound.batch
    width = plan.n_qubits * (1 if plan.noise is None else 2)
    fits = fitting_chunk(width, dataclasses.replace(plan.bound, batch_shape=(len(jobs) * batch,)))
    size = max(1, fits // batch)
    derivative = torch.zeros(len(values), *grad_out.shape, dtype=grad_out.dtype,
                             device=grad_out.device)
    for start in range(0, len(jobs), size):
        group = jobs[start:start + size]
        out = _evaluate_jobs(plan, slots, values, group).reshape(len(group), *grad_out.shape)
        for (v, c, _), o in zip(group, out, strict=True):
            derivative[v] += c * o
    return _angle_grads(grad_out, derivative, values)


def _evaluate_jobs(plan: Evaluation, slots: tuple, values: Sequence[torch.Tensor],
                   jobs: Sequence[tuple[int, float, float]]) -> torch.Tensor:
    """``plan`` evaluated once for every job's shifted angles: ``(len(jobs)·B, n_obs)``."""
    bound, k = plan.bound, len(jobs)
    env = {n: t.repeat(k) if t.dim() else t for n, t in bound.env.items()}
    initial = None if bound.initial is None else bound.initial.repeat(
        *([1] * (bound.initial.dim() - 1)), k)
    big = dataclasses.replace(plan, bound=Bound(env, (k * bound.batch,), bound.dtype,
                                                 bound.device, initial))
    stacked = []
    for v, value in enumerate(values):
        shift = torch.tensor([s if jv == v else 0.0 for jv, _, s in jobs], dtype=value.dtype,
                             device=value.device)
        base = value.expand(bound.batch)
        stacked.append((base[None, :] + shift[:, None]).reshape(-1))
    return big.evaluate(_tensors_with(big, slots, stacked))


def _tensors_with(plan: Evaluation, slots: tuple, values: Sequence[torch.Tensor]) -> list:
    ops_with_slots = {i for i, _ in slots}
    return [_tensor_of(plan, slots, values, i) if i in ops_with_slots
            else gate_tensor(s, plan.bound) for i, s in enumerate(plan.steps)]


def _tensor_of(plan: Evaluation, slots: tuple, values: Sequence[torch.Tensor], i: int
               ) -> torch.Tensor | None:
    step = plan.steps[i]
    vals = angles(step, plan.bound)
    for v, (k, j) in enumerate(slots):
        if k == i:
            vals[j] = values[v]
    return gate_tensor(step, plan.bound, vals)


def _backprop(plan: Evaluation, circuit: Circuit) -> torch.Tensor:
    if plan.noise is not None:  # gate by gate: channels sit between the gates
        return plan.evaluate([gate_tensor(s, plan.bound) for s in plan.steps])
    items = plan_for(circuit, plan.bound.initial is not None)
    return plan.evaluate(plan_tensors(items, plan.bound), items)


class ClosedFormExpval(torch.autograd.Function):
    """``<O>`` by a closed-form path: :mod:`qdl.sim.dense` (small circuits as dense matrices)
    or :mod:`qdl.sim.fused` (the fused plan), with the adjoint method's gradients worked out
    by hand down to the angles: the backward pass builds no graph over the gates' matrices.

    Inputs are the angles of the parameterized gates, shared ``(m_s,)`` and per-row
    ``(B, m_b)``. A backward with ``create_graph`` differentiates the forward's torch
    operations instead, so derivatives of every order agree with the other methods.
    """

    @staticmethod
    def forward(ctx, job: tuple, shared: torch.Tensor, batched: torch.Tensor):  # type: ignore[override]
        engine, prog, lay, obs, batch = job
        out, saved = engine.forward(prog, lay, shared, batched, obs, batch)
        ctx.job, ctx.state = job, saved
        ctx.save_for_backward(shared, batched)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        engine, prog, lay, obs, batch = ctx.job
        if torch.is_grad_enabled():
            inputs = ctx.saved_tensors
            wanted = [x for x in inputs if x.requires_grad]
            with torch.enable_grad():
                out, _ = engine.forward(prog, lay, *inputs, obs, batch)
                found = iter(torch.autograd.grad(out, wanted, grad_out, create_graph=True,
                                                 allow_unused=True) if wanted else ())
            grads = [next(found) if x.requires_grad else None for x in inputs]
            return (None, *(torch.zeros_like(x) if g is None and x.requires_grad else g
                            for g, x in zip(grads, inputs, strict=True)))
        return (None, *engine.backward(prog, lay, ctx.state, grad_out, obs, batch))


ENGINES = (dense, fused)  # the closed-form paths, tried in this order


def _closed_form(plan: Evaluation, circuit: Circuit) -> torch.Tensor | None:
    """The expectations by :class:`ClosedFormExpval` when a closed-form path takes the
    circuit; ``None`` otherwise."""
    bound = plan.bound
    if bound.initial is not None or plan.shots is not None or plan.noise is not None:
        return None
    for engine in ENGINES:
        prog = engine.program(circuit)
        if prog is None or not prog.fits(bound.batch):
            continue
        values = [angles(s, bound)[0] for s in prog.steps]
        lay = engine.layout(prog, tuple(v.dim() > 0 for v in values), bound.dtype,
                            bound.device)
        if lay is None:
            continue
        real = REAL[bound.dtype]
        ids_s, ids_b = lay.tables.shared, lay.tables.batched
        shared = torch.stack([values[i] for i in ids_s]) if ids_s else \
            torch.zeros(0, dtype=real, device=bound.device)
        batched = torch.stack([values[i] for i in ids_b], -1) if ids_b else \
            torch.zeros(bound.batch, 0, dtype=real, device=bound.device)
        return _run_closed_form(engine, prog, lay, plan.observables, shared, batched,
                                bound.batch)
    return None


def _run_closed_form(engine: Any, prog: Any, lay: Any, obs: tuple[AnyObservable, ...],
                     shared: torch.Tensor, batched: torch.Tensor, batch: int) -> torch.Tensor:
    """:class:`ClosedFormExpval` on angles ``shared`` ``(m_s,)`` and ``batched`` ``(B, m_b)``."""
    measured = engine.observables_for(obs, prog, lay)
    return ClosedFormExpval.apply((engine, prog, lay, measured, batch), shared, batched)


def _adjoint(plan: Evaluation, circuit: Circuit) -> torch.Tensor:
    out = _closed_form(plan, circuit)
    if out is not None:
        return out
    items = plan_for(circuit, plan.bound.initial is not None)
    tensors = plan_tensors(items, plan.bound)
    return AdjointExpval.apply(plan, items, *tensors)


def _shift(rule: Callable) -> Callable[[Evaluation, Circuit], torch.Tensor]:
    def method(plan: Evaluation, circuit: Circuit) -> torch.Tensor:
        start = plan.bound.initial
        if start is not None and start.requires_grad and torch.is_grad_enabled():
            raise QDLError("shift rules differentiate gate angles only, not the initial state; "
                           "use diff_method 'adjoint' or 'backprop' (or detach the state)")
        slots, values = [], []
        for i, step in enumerate(plan.steps):
            for j, v in enumerate(angles(step, plan.bound)):
                if step.op.params[j].symbols() and v.requires_grad:
                    slots.append((i, j))
                    values.append(v)
        if not values:
            with torch.no_grad():
                return plan.evaluate([gate_tensor(s, plan.bound) for s in plan.steps])
        return ShiftExpval.apply(plan, tuple(slots), rule, *values)

    return method


class BackendExpval(torch.autograd.Function):
    """``<O>`` from an external backend; gradients by shift rules through the same backend.

    Inputs are the circuit's symbolic gate angles, one ``(B,)`` tensor per slot. ``call``
    evaluates an ``(N, slots)`` array of angle values in one backend request: the backward
    pass stacks every shifted copy of the batch into a single request, so hardware sees one
    job per gradient instead of one per parameter.
    """

    @staticmethod
    def forward(ctx, call: Callable, rules: tuple, orders: float, *slots: torch.Tensor):  # type: ignore[override]
        ctx.call, ctx.rules, ctx.orders = call, rules, orders
        ctx.save_for_backward(*slots)
        return call(torch.stack([v.detach() for v in slots], -1))

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        values = torch.stack(ctx.saved_tensors, -1)
        batch = values.shape[0]
        jobs, shifted = [], []
        for m, need in enumerate(ctx.needs_input_grad[3:]):
            for c, s in ctx.rules[m] if need else ():
                for sign in (1, -1):
                    shifted.append(values + sign * s * _unit(values, m))
                    jobs.append((m, sign * c))
        grads: list[torch.Tensor | None] = [None] * values.shape[1]
        if jobs:
            stacked = torch.cat(shifted)
            # With create_graph the shifted request is itself a BackendExpval: shift rules
            # of shift rules, one backend job per derivative order.
            out = (BackendExpval.apply(ctx.call, ctx.rules, _orders_left(ctx.orders),
                                       *stacked.unbind(-1))
                   if torch.is_grad_enabled() else ctx.call(stacked.detach()))
            out = out.reshape(len(jobs), batch, -1)
            for (m, c), o in zip(jobs, out, strict=True):
                d = c * (grad_out * o).sum(-1)
                grads[m] = d if grads[m] is None else grads[m] + d
        return (None, None, None, *grads)


def _unit(values: torch.Tensor, m: int) -> torch.Tensor:
    """A row of zeros with a one in column ``m``, broadcasting against ``values``."""
    unit = torch.zeros(values.shape[-1], dtype=values.dtype, device=values.device)
    unit[m] = 1
    return unit


def _backend_method(method: DiffMethod, shots: int | None, noise: NoiseModel | None,
                    backend: object) -> DiffMethod:
    if not callable(getattr(backend, "expval", None)):
        raise QDLError(f"backend must have an expval(circuit, observables, params) method, "
                       f"e.g. qdl.interop.qiskit.QiskitEstimator; got {type(backend).__name__}")
    if shots is not None or noise is not None:
        raise QDLError("shots and noise belong to the backend when one is given; configure "
                       "them there (e.g. QiskitEstimator(..., precision=...))")
    if method in (DiffMethod.ADJOINT, DiffMethod.BACKPROP):
        raise QDLError(f"diff_method {method.value!r} cannot differentiate through an external "
                       "backend; use 'parameter-shift' (the default) or 'finite-diff'")
    return DiffMethod.PARAMETER_SHIFT if method is DiffMethod.BEST else method


def _slot_circuit(circuit: Circuit, bound: Bound, rule: Callable
                  ) -> tuple[Circuit, list[torch.Tensor], tuple]:
    """The circuit with every symbolic angle renamed ``_a<k>``, the angles' values and the
    shift rule of each: the backend then shifts gate angles, not user parameters."""
    ops, values, rules = [], [], []
    for step in compile_circuit(circuit):
        params = list(step.op.params)
        evaluated = angles(step, bound)
        freqs = GATES[step.op.name].controlled_frequencies(step.op.ctrl)
        for j, p in enumerate(params):
            if p.symbols():
                params[j] = Sym(f"_a{len(values)}")
                values.append(evaluated[j].expand(bound.batch))
                rules.append(rule(freqs[j]))
        ops.append(Op(step.op.name, step.op.wires, tuple(params), step.op.ctrl))
    return Circuit(circuit.n_qubits, ops), values, tuple(rules)


def _backend_expval(backend: Backend, circuit: Circuit, obs: tuple[Observable, ...],
                    bound: Bound, method: DiffMethod) -> torch.Tensor:
    rule = shift_rule if method is DiffMethod.PARAMETER_SHIFT else _finite_diff_rule(
        bound.dtype)
    slots, values, rules = _slot_circuit(circuit, bound, rule)
    real = REAL[bound.dtype]

    def call(v: torch.Tensor) -> torch.Tensor:
        params = {f"_a{k}": v[:, k] for k in range(v.shape[1])}
        out = torch.as_tensor(backend.expval(slots, obs, params), dtype=real,
                              device=bound.device)
        return out.reshape(-1, len(obs)).expand(v.shape[0], len(obs))

    if not values:
        return call(torch.zeros(bound.batch, 0, dtype=real, device=bound.device))
    orders = rule.orders if isinstance(rule, FiniteDifference) else math.inf
    return BackendExpval.apply(call, rules, orders, *values)


@dataclass(frozen=True)
class FiniteDifference:
    """Central differences as a shift rule: ``df/dθ ≈ (f(θ+h) − f(θ−h)) / 2h``.

    ``orders`` is how many derivative orders may still be taken: differences of differences
    lose precision fast (the third, with ``h = eps^(1/3)``, is noise), so a third order is
    refused rather than returned wrong.
    """

    h: float
    orders: float = 2

    def __call__(self, freqs: object) -> tuple[tuple[float, float], ...]:
        return ((1 / (2 * self.h), self.h),)


def _finite_diff_rule(plan_dtype: torch.dtype) -> FiniteDifference:
    # Central differences: step eps^(1/3) balances truncation (h²) against rounding (eps/h).
    return FiniteDifference(float(torch.finfo(REAL[plan_dtype]).eps) ** (1 / 3))


def _orders_left(orders: float) -> float:
    if orders <= 1:
        raise QDLError("diff_method 'finite-diff' gives first and second derivatives only "
                       "(third differences are rounding noise); for higher orders use "
                       "'backprop', 'adjoint' or 'parameter-shift'")
    return orders - 1


def _deeper(rule: Callable) -> Callable:
    """The rule for the next derivative order (exact shift rules have no limit)."""
    if isinstance(rule, FiniteDifference):
        return FiniteDifference(rule.h, _orders_left(rule.orders))
    return rule


class Stacked(Mapping[str, torch.Tensor]):
    """Parameters stacked along the last axis of tensors: ``Stacked((names, tensor), ...)``
    maps ``names[i]`` to ``tensor[..., i]``.

    What :class:`qdl.nn.QuantumLayer` passes to :func:`expval` (its weights, then its input
    features): a small circuit then reads all its angles with one gather per tensor instead
    of one tensor per name, which on a few qubits costs more than the simulation.

    Raises:
        QDLError: if a tensor's last axis does not match its names, or a name repeats.

    >>> p = Stacked((["a", "b"], torch.tensor([0.1, 0.2])))
    >>> list(p), round(float(p["b"]), 3)
    (['a', 'b'], 0.2)
    """

    def __init__(self, *groups: tuple[Sequence[str], torch.Tensor]):
        self.groups = tuple((tuple(names), t) for names, t in groups)
        self.where: dict[str, tuple[int, int]] = {}
        for g, (names, t) in enumerate(self.groups):
            if not isinstance(t, torch.Tensor) or t.dim() == 0 or t.shape[-1] != len(names):
                got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
                raise QDLError(f"Stacked: a tensor of shape (..., {len(names)}) is needed for "
                               f"the names {list(names)}, got {got}")
            for i, name in enumerate(names):
                if name in self.where:
                    raise QDLError(f"Stacked: parameter {name!r} is given twice")
                self.where[name] = (g, i)
        self._values: dict[str, torch.Tensor] | None = None

    def __getitem__(self, name: str) -> torch.Tensor:
        if self._values is None:
            # One unbind per tensor when every value is wanted (the general simulator).
            self._values = {n: v for names, t in self.groups
                            for n, v in zip(names, t.unbind(-1), strict=True)}
        return self._values[name]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.where)

    def __len__(self) -> int:
        return len(self.where)


def _stacked_closed_form(circuit: Circuit, obs: tuple[AnyObservable, ...], params: Stacked,
                         dtype: torch.dtype, device: torch.device | str | None
                         ) -> torch.Tensor | None:
    """:class:`ClosedFormExpval` fed straight from stacked tensors, skipping the per-name
    binding; ``None`` (the general path then runs, and reports any error) unless a closed-form
    path takes the circuit, every angle is a bare parameter name, and the tensors are finite,
    real, on one device, with one batch shape."""
    tensors = [t for _, t in params.groups]
    shapes = {t.shape[:-1] for t in tensors if t.dim() > 1}
    devices = {t.device for t in tensors} | ({torch.device(device)} if device else set())
    if len(shapes) > 1 or len(devices) > 1 or not all(
            t.dtype in (torch.float32, torch.float64) for t in tensors):
        return None
    batch_shape = shapes.pop() if shapes else ()
    batch = math.prod(batch_shape)
    where = next(iter(devices), torch.device("cpu"))
    for engine in ENGINES:
        prog = engine.program(circuit)
        if prog is None or not prog.fits(batch):
            continue
        feed = _stacked_feed(circuit, engine, prog, params, dtype, where)
        if feed is None:
            continue
        real = REAL[dtype]
        flat = [t.to(real).reshape(-1, t.shape[-1]) if t.dim() > 2 else t.to(real)
                for t in tensors]
        lay, index_s, index_b = feed
        shared = _gather([t for t in flat if t.dim() == 1], index_s, real, (0,), where)
        batched = _gather([t for t in flat if t.dim() == 2], index_b, real, (batch, 0), where)
        out = _run_closed_form(engine, prog, lay, obs, shared, batched, batch)
        # A NaN or infinite angle reaches every output of its row, and so their sum: one
        # check here, and the general path then names the parameter.
        finite = math.isfinite(float(out.detach().sum()))
        return out.reshape(*batch_shape, len(obs)) if finite else None
    return None


def _gather(tensors: list[torch.Tensor], index: torch.Tensor | None, real: torch.dtype,
            empty: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """The program's angles from stacked tensors: their last axes joined, then ``index``
    (``None``: already in order, no gather)."""
    if not tensors:
        return torch.zeros(empty, dtype=real, device=device)
    out = tensors[0] if len(tensors) == 1 else torch.cat(tensors, -1)
    return out if index is None else out.index_select(-1, index)


def _stacked_feed(circuit: Circuit, engine: Any, prog: Any, params: Stacked,
                  dtype: torch.dtype, device: torch.device) -> tuple | None:
    """The layout and the gathers from stacked tensors to the program's angles (cached)."""
    key = (tuple(n for n, _ in params.groups), tuple(t.dim() > 1 for _, t in params.groups),
           dtype, device)
    if key in prog.feeds:
        return prog.feeds[key]
    if set(params) != set(circuit.parameters):
        return None  # the general path says which names are wrong
    names = []
    for step in prog.steps:
        angle = step.op.params[0]
        if not isinstance(angle, Sym):
            return None
        names.append(angle.name)
    # Positions in the shared vector (1-D tensors concatenated) and in the per-row one.
    offsets, start = {False: {}, True: {}}, {False: 0, True: 0}
    for g, (group, t) in enumerate(params.groups):
        offsets[t.dim() > 1][g] = start[t.dim() > 1]
        start[t.dim() > 1] += len(group)
    position, batched = [], []
    for name in names:
        g, i = params.where[name]
        is_b = params.groups[g][1].dim() > 1
        position.append(offsets[is_b][g] + i)
        batched.append(is_b)
    lay = engine.layout(prog, tuple(batched), dtype, device)
    if lay is None:
        prog.feeds[key] = None
        return None
    indices = []
    for ids, is_b in ((lay.tables.shared, False), (lay.tables.batched, True)):
        order = [position[i] for i in ids]
        indices.append(None if order == list(range(start[is_b])) else
                       torch.tensor(order, dtype=torch.long, device=device))
    prog.feeds[key] = (lay, *indices)
    return prog.feeds[key]


def expval(
    circuit: Circuit,
    observables: Sequence[str] | str,
    params: Mapping[str, torch.Tensor | float] | None = None,
    *,
    diff_method: str | DiffMethod = "best",
    dtype: torch.dtype = torch.complex64,
    shots: int | None = None,
    seed: int | None = None,
    device: torch.device | str | None = None,
    noise: NoiseModel | None = None,
    backend: Backend | None = None,
    chunk_size: int | None = None,
    initial_state: torch.Tensor | None = None,
) -> torch.Tensor:
    """Expectation values of Pauli-sum observables, differentiable w.r.t. the parameters.

    Args:
        circuit: the circuit.
        observables: strings such as ``"Z0"``, ``"X0 Y2"``, ``"0.5 Z0 Z1 + -1.2 X3"``.
        params: name -> float or real tensor; batch dimensions broadcast.
        diff_method: ``backprop``, ``adjoint``, ``parameter-shift``, ``finite-diff`` or
            ``best`` (adjoint when exact, backprop with noise, parameter-shift with shots or
            a backend).
        dtype: ``torch.complex64`` or ``torch.complex128``.
        shots: estimate from this many samples per Pauli term instead of exactly.
        seed: seeds the sampler when ``shots`` is set.
        device: where to simulate; defaults to the device of the parameter tensors.
        noise: a :class:`qdl.noise.NoiseModel`: simulate density matrices with its channels
            after the gates and its readout errors on every measured term.
        backend: evaluate on an external backend instead (any object with an
            ``expval(circuit, observables, params)`` method returning ``(B, len(observables))``
            for parameters of shape ``(B,)``, e.g. :class:`qdl.interop.qiskit.QiskitEstimator`);
            gradients by parameter shift through the same backend.
        chunk_size: simulate at most this many batch items at once. By default the whole
            batch runs at once when its working states fit in free memory (of the GPU for
            CUDA), and otherwise in the largest chunks that fit; results are the same.
        initial_state: the state the circuit acts on instead of ``|0...0>``: statevectors
            ``(*batch, 2**n)`` (normalised; batch dimensions broadcast with the
            parameters'), or with ``noise`` also density matrices ``(*batch, 2**n, 2**n)``
            (pass ``noise=NoiseModel()`` for noiseless mixed states). Gradients reach it
            with ``backprop`` and ``adjoint``; shift rules refuse it when it requires grad.

    Returns:
        Real tensor of shape ``(*batch, len(observables))``.

    >>> c = Circuit(1).rx(0, "theta")
    >>> expval(c, ["Z0"], {"theta": 0.0}).tolist()
    [1.0]
    """
    method = _choose_method(diff_method, shots, noise, backend)
    obs = tuple(parse_observables(observables, circuit.n_qubits))
    if isinstance(params, Stacked) and method is DiffMethod.ADJOINT and backend is None \
            and shots is None and noise is None and initial_state is None \
            and chunk_size is None:
        adapt_threads()
        out = _stacked_closed_form(circuit, obs, params, dtype, device)
        if out is not None:
            return out
    if backend is not None and not all(isinstance(o, Observable) for o in obs):
        raise QDLError("an external backend measures Pauli sums only; write the observable "
                       "as a Pauli sum, or simulate with QDL (no backend)")
    if backend is not None and initial_state is not None:
        raise QDLError("initial_state cannot be sent to an external backend; prepare the "
                       "state with gates in the circuit instead")
    bound = bind(circuit, params, dtype, device, check=False, initial_state=initial_state,
                 density=noise is not None)
    if backend is not None:
        out = _backend_expval(backend, circuit, obs, bound, method)
    else:
        # A density matrix over n qubits takes the memory of a 2n-qubit state.
        width = circuit.n_qubits * (1 if noise is None else 2)
        size = fitting_chunk(width, bound, chunk_size)
        generator = _generator(shots, seed)
        adapt_threads()
        parts = [_evaluate(circuit, obs, part, method, shots, generator, noise)
                 for part in bound.chunks(size)]
        out = parts[0] if len(parts) == 1 else torch.cat(parts)
    return out.reshape(*bound.batch_shape, len(obs))


def _generator(shots: int | None, seed: int | None) -> torch.Generator | None:
    """One sampler for the whole call, so chunks draw independent samples."""
    if shots is None:
        return None
    check_shots(shots)
    return make_generator(seed)


def expval_with_stderr(
    circuit: Circuit,
    observables: Sequence[str] | str,
    params: Mapping[str, torch.Tensor | float] | None = None,
    *,
    shots: int,
    seed: int | None = None,
    diff_method: str | DiffMethod = "best",
    dtype: torch.dtype = torch.complex64,
    device: torch.device | str | None = None,
    noise: NoiseModel | None = None,
    initial_state: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Shot estimates of :func:`expval` and their standard errors, from the same samples.

    Each Pauli term ``c_t P_t`` is measured ``shots`` times; with ``m_t`` its sample mean,
    the standard error of an observable is ``√(Σ_t c_t² (1 − m_t²)/(shots − 1))``. The
    estimates are differentiable as in :func:`expval` (parameter shift); the errors are not.
    ``initial_state`` as in :func:`expval`.

    Returns:
        ``(estimates, stderr)``, both of shape ``(*batch, len(observables))``.

    >>> est, err = expval_with_stderr(Circuit(1).h(0), ["Z0", "X0"], shots=400, seed=0)
    >>> bool(abs(est[0]) < 5 * err[0]), err[1].item()
    (True, 0.0)
    """
    if shots is None:
        raise QDLError("expval_with_stderr needs shots=N (exact values have no shot error)")
    method = _choose_method(diff_method, shots, noise, None)
    obs = tuple(parse_observables(observables, circuit.n_qubits))
    bound = bind(circuit, params, dtype, device, initial_state=initial_state,
                 density=noise is not None)
    out = _evaluate(circuit, obs, bound, method, shots, _generator(shots, seed), noise,
                    stderr=True)
    out = out.reshape(*bound.batch_shape, 2 * len(obs))
    # The errors are detached, so backward never sends a gradient into their columns.
    return out[..., : len(obs)], out[..., len(obs):].detach()


def _choose_method(diff_method: str | DiffMethod, shots: int | None, noise: NoiseModel | None,
                   backend: Backend | None) -> DiffMethod:
    method = DiffMethod.parse(diff_method)
    if noise is not None and not isinstance(noise, NoiseModel):
        raise QDLError(f"noise must be a qdl.noise.NoiseModel, got {type(noise).__name__}")
    if backend is not None:
        if tracing():
            raise QDLError("torch.func transforms and torch.compile cannot trace an external "
                           "backend; call it outside them")
        return _backend_method(method, shots, noise, backend)
    method = _local_method(method, shots, noise)
    if tracing():
        # Transforms and the compiler differentiate the traced torch operations themselves,
        # so the simulation is written out as such: adjoint and parameter shift have the
        # same derivatives (finite differences their exact value).
        if shots is not None:
            raise QDLError("shots cannot be drawn inside torch.func transforms or "
                           "torch.compile (sampling is not traceable); use shots=None there")
        return DiffMethod.BACKPROP
    return method


def _local_method(method: DiffMethod, shots: int | None, noise: NoiseModel | None
                  ) -> DiffMethod:
    """The method QDL's own simulator uses: ``best`` resolved, impossible pairs refused."""
    if method is DiffMethod.BEST:
        if shots is not None:
            return DiffMethod.PARAMETER_SHIFT
        return DiffMethod.BACKPROP if noise is not None else DiffMethod.ADJOINT
    if shots is not None and method in (DiffMethod.ADJOINT, DiffMethod.BACKPROP):
        raise QDLError(f"diff_method {method.value!r} needs exact expectations; with shots use "
                       "'parameter-shift' (or 'finite-diff')")
    if noise is not None and method is DiffMethod.ADJOINT:
        raise QDLError("diff_method 'adjoint' needs pure states and cannot run with noise; "
                       "use 'backprop' (the default with noise) or 'parameter-shift'")
    return method


def _evaluate(circuit: Circuit, obs: tuple[Observable, ...], bound: Bound, method: DiffMethod,
              shots: int | None, generator: torch.Generator | None,
              noise: NoiseModel | None, stderr: bool = False) -> torch.Tensor:
    readout = readout_matrices(noise, circuit.n_qubits, bound.dtype, bound.device)
    plan = Evaluation(compile_circuit(circuit), circuit.n_qubits, bound, obs, shots, generator,
                 noise, readout, stderr)
    if method is DiffMethod.FINITE_DIFF:
        return _shift(_finite_diff_rule(bound.dtype))(plan, circuit)
    return _METHODS[method](plan, circuit)


def var(
    circuit: Circuit,
    observables: Sequence[str] | str,
    params: Mapping[str, torch.Tensor | float] | None = None,
    *,
    dtype: torch.dtype = torch.complex64,
    device: torch.device | str | None = None,
    shots: int | None = None,
    seed: int | None = None,
    initial_state: torch.Tensor | None = None,
) -> torch.Tensor:
    """Variances ``<O²> − <O>²``: ``(*batch, len(observables))``.

    Exact values are differentiable by backprop, for every observable kind. With ``shots``,
    ``<O>`` and ``<O²>`` are both estimated from shots (``O²`` computed by the observables'
    algebra), differentiable by parameter shift like :func:`expval`; sparse Hamiltonians are
    exact only. ``initial_state``: statevectors
    ``(*batch, 2**n)`` the circuit acts on, as in :func:`expval`.

    >>> var(Circuit(1).h(0), ["Z0", "X0"], dtype=torch.complex128).round(decimals=9).tolist()
    [1.0, 0.0]
    """
    obs = parse_observables(observables, circuit.n_qubits)
    if shots is not None:
        return _shot_var(circuit, obs, params, dtype, device, shots, seed, initial_state)
    bound = bind(circuit, params, dtype, device, initial_state=initial_state)
    psi = final_state(circuit, bound)
    mean = expectation(psi, obs)
    flat = -1, psi.shape[-1]
    second = torch.stack([observable_apply(psi, o).reshape(flat).abs().square().sum(0)
                          for o in obs], -1)
    return (second - mean**2).clamp_min(0).reshape(*bound.batch_shape, len(obs))


def _shot_var(circuit: Circuit, obs: Sequence[AnyObservable], params: Mapping | None,
              dtype: torch.dtype, device: torch.device | str | None, shots: int,
              seed: int | None, initial_state: torch.Tensor | None) -> torch.Tensor:
    """``<O²> − <O>²`` with both terms estimated from shots (``O²`` by the observables'
    own algebra: Pauli words multiplied and collected, a Hermitian squared)."""
    squares = []
    for o in obs:
        if isinstance(o, SparseHamiltonian):
            raise QDLError(f"{o.text} is measured exactly only; use var(..., shots=None)")
        squares.append(o if isinstance(o, Projector) else o @ o)
    both = expval(circuit, [*obs, *squares], params, dtype=dtype, device=device, shots=shots,
                  seed=seed, initial_state=initial_state)
    mean, second = both[..., : len(obs)], both[..., len(obs):]
    return (second - mean.square()).clamp_min(0)


_METHODS: dict[DiffMethod, Callable[[Evaluation, Circuit], torch.Tensor]] = {
    DiffMethod.BACKPROP: _backprop,
    DiffMethod.ADJOINT: _adjoint,
    DiffMethod.PARAMETER_SHIFT: _shift(shift_rule),
}
