"""Circuit-aware optimizers as ``torch.optim`` optimizers, and the Fubini–Study metric.

* :func:`metric_tensor` — the Fubini–Study metric ``g_ij = Re(<∂iψ|∂jψ> − <∂iψ|ψ><ψ|∂jψ>)``
  over a circuit's parameters, exact or block-diagonal (Stokes et al., Quantum 4, 269
  (2020)); computed per gate argument from the state's forward-mode derivatives, then
  carried to the parameters through the angle expressions.
* :class:`QNG` — quantum natural gradient descent ``θ ← θ − η (g + λI)⁺ ∇L``.
* :class:`SPSA` — simultaneous perturbation (Spall, IEEE TAES 34, 817 (1998)) with the
  standard gains ``a_k = a/(k+1+A)^α``, ``c_k = c/(k+1)^γ``, ``α = 0.602``, ``γ = 0.101``.
* :class:`Rotosolve` / :class:`Rotoselect` — exact coordinate-wise minimisation (Ostaszewski
  et al., Quantum 5, 391 (2021)): along one parameter the loss is a trigonometric polynomial
  whose frequencies QDL derives from the gate table (:func:`parameter_frequencies`), so
  ``2R + 1`` evaluations determine it and its minimum.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import torch

from qdl.circuit import Circuit, Op
from qdl.errors import QDLError
from qdl.expr import Binary, Const, Expr, Func, Sym
from qdl.gates import GATES
from qdl.sim import state

__all__ = ["QNG", "SPSA", "Rotoselect", "Rotosolve", "metric_tensor", "parameter_frequencies"]

APPROX = (None, "block-diag")


# --------------------------------------------------------------------------------------------
# The Fubini–Study metric
# --------------------------------------------------------------------------------------------


def _slots(circuit: Circuit) -> tuple[Circuit, list[Expr], list[int]]:
    """The circuit with every parametrised gate argument replaced by a symbol of its own.

    Returns the slot circuit, the original expression of each slot and, per slot, the
    index of its op (for the layer structure).
    """
    taken = set(circuit.parameters)
    prefix = "s"
    while any(n.startswith(prefix) for n in taken):
        prefix += "_"
    out = Circuit(circuit.n_qubits)
    exprs: list[Expr] = []
    owners: list[int] = []
    for i, op in enumerate(circuit.ops):
        params = []
        for p in op.params:
            if p.symbols():
                params.append(Sym(f"{prefix}{len(exprs)}"))
                exprs.append(p)
                owners.append(i)
            else:
                params.append(p)
        out.append(Op(op.name, op.wires, tuple(params), op.ctrl))
    return out, exprs, owners


def _layers(circuit: Circuit, owners: Sequence[int]) -> list[int]:
    """Layer of each slot's op: 1 + the deepest parametrised op it depends on (DAG order).

    Gates of one layer touch disjoint wires with no parametrised gate between them, so their
    generators commute: the block-diagonal approximation keeps exactly those pairs.
    """
    parametrised = set(owners)
    level = [0] * circuit.n_qubits
    layer_of: dict[int, int] = {}
    for i, op in enumerate(circuit.ops):
        depth = max((level[w] for w in op.wires), default=0)
        if i in parametrised:
            depth += 1
            layer_of[i] = depth
        for w in op.wires:
            level[w] = depth
    return [layer_of[i] for i in owners]


def metric_tensor(
    circuit: Circuit,
    params: Mapping[str, float | torch.Tensor] | None = None,
    approx: str | None = None,
    *,
    dtype: torch.dtype = torch.complex128,
) -> torch.Tensor:
    """The Fubini–Study metric tensor ``(P, P)`` over ``circuit.parameters`` (in that order).

    ``g_ij = Re(<∂iψ|∂jψ> − <∂iψ|ψ><ψ|∂jψ>)`` (PennyLane's ``qml.metric_tensor``
    convention: a quarter of the quantum Fisher information). It is computed per gate
    argument and then carried through the angle expressions (``Jᵀ g J``), so shared
    parameters and expressions such as ``2*a + 0.1`` are handled. With
    ``approx="block-diag"`` only pairs of arguments in the same parametrised layer are kept
    (gates with no parametrised gate between them), as in Stokes et al. and PennyLane.

    Args:
        circuit: the circuit.
        params: a number (or 0-d tensor) for every parameter of the circuit.
        approx: ``None`` (exact) or ``"block-diag"``.
        dtype: complex dtype of the simulation (complex128 by default: the metric is a
            difference of products of amplitudes).

    Returns:
        A real ``(P, P)`` tensor, float64 for complex128.

    Raises:
        QDLError: for an unknown ``approx``, a missing or batched parameter.

    >>> c = Circuit(1).ry(0, "a").rz(0, "b")
    >>> metric_tensor(c, {"a": math.pi / 2, "b": 0.0}).round(decimals=6).tolist()
    [[0.25, 0.0], [0.0, 0.25]]
    """
    if approx not in APPROX:
        raise QDLError(f"approx must be None or 'block-diag', got {approx!r}")
    names = circuit.parameters
    values = _param_vector(names, params, dtype)
    slot_circuit, exprs, owners = _slots(circuit)
    if not exprs:
        return torch.zeros(len(names), len(names), dtype=values.dtype)

    def angles(v: torch.Tensor) -> torch.Tensor:
        env = dict(zip(names, v.unbind(), strict=True))
        return torch.stack([torch.as_tensor(e.evaluate(env), dtype=v.dtype) for e in exprs])

    def amplitudes(s: torch.Tensor) -> torch.Tensor:
        env = {f"{n}": x for n, x in zip(slot_circuit.parameters, s.unbind(), strict=True)}
        return torch.view_as_real(state(slot_circuit, env, dtype=dtype))

    # Forward mode, one tangent per gate argument (vmapped); grad mode stays on because the
    # simulator's no-grad path writes into preallocated buffers, which forward AD refuses.
    with torch.enable_grad():
        slots = angles(values).detach()
        jac_angles = torch.func.jacfwd(angles)(values).detach()  # (S, P)
        psi = torch.view_as_complex(amplitudes(slots)).detach()
        jac = torch.func.jacfwd(amplitudes)(slots).detach()  # (2**n, 2, S)
    d = torch.complex(jac[:, 0], jac[:, 1])  # ∂ψ/∂s, (2**n, S)
    overlap = psi.conj() @ d  # <ψ|∂jψ>
    g = (d.mH @ d - overlap.conj()[:, None] * overlap[None, :]).real
    if approx == "block-diag":
        layer = torch.tensor(_layers(slot_circuit, owners))
        g = g * (layer[:, None] == layer[None, :])
    return jac_angles.T @ g @ jac_angles


def _param_vector(names: Sequence[str], params: Mapping[str, object] | None,
                  dtype: torch.dtype) -> torch.Tensor:
    params = dict(params or {})
    missing = [n for n in names if n not in params]
    if missing:
        raise QDLError(f"metric_tensor: no value for parameter(s) {missing}")
    real = torch.float64 if dtype == torch.complex128 else torch.float32
    out = [torch.as_tensor(params[n], dtype=real).detach() for n in names]
    if any(v.dim() for v in out):
        raise QDLError("metric_tensor: parameters must be single numbers (no batch)")
    return torch.stack(out) if out else torch.zeros(0, dtype=real)


# --------------------------------------------------------------------------------------------
# Frequencies of a parameter, from the gate table
# --------------------------------------------------------------------------------------------


def _scale(expr: Expr, name: str) -> float:
    """``c`` when ``expr`` is ``c·name`` (+ constants); otherwise QDLError."""
    if isinstance(expr, Sym):
        return 1.0 if expr.name == name else 0.0
    if isinstance(expr, Const):
        return 0.0
    if isinstance(expr, Binary) and expr.op in "+-":
        right = _scale(expr.right, name)
        return _scale(expr.left, name) + (right if expr.op == "+" else -right)
    if isinstance(expr, Binary) and expr.op == "*" and not expr.left.symbols():
        return float(expr.left.evaluate({})) * _scale(expr.right, name)
    if isinstance(expr, Binary) and expr.op in "*/" and not expr.right.symbols():
        k = float(expr.right.evaluate({}))
        return _scale(expr.left, name) * (k if expr.op == "*" else 1 / k)
    if isinstance(expr, Func) and expr.name == "neg":
        return -_scale(expr.arg, name)
    if name not in expr.symbols():
        return 0.0
    raise QDLError(f"parameter {name!r} enters {expr.qasm()!r} non-linearly: its frequencies "
                   "are not those of the gate; pass frequencies= explicitly")


def parameter_frequencies(circuit: Circuit, names: Iterable[str] | None = None
                          ) -> dict[str, tuple[float, ...]]:
    """Per parameter, the frequencies of ``θ ↦ <ψ(θ)|H|ψ(θ)>`` from the gate table.

    Each use of the parameter (``c·θ + const`` in a gate argument) contributes its
    generator's spectrum scaled by ``c`` (extra controls add eigenvalue 0); the spectra add
    (a Minkowski sum), and the frequencies are the positive differences.

    Raises:
        QDLError: when a parameter enters an angle non-linearly (``sin(θ)``).

    >>> parameter_frequencies(Circuit(2).rx(0, "a").crz(0, 1, "a").ry(1, "b"))
    {'a': (0.5, 1.0, 1.5, 2.0), 'b': (1.0,)}
    """
    out = {}
    for name in names or circuit.parameters:
        spectrum = {0.0}
        for op in circuit.ops:
            spec = GATES[op.name]
            for j, p in enumerate(op.params):
                c = _scale(p, name)
                if c:
                    eig = {c * e for e in spec.spectra[j]} | ({0.0} if op.ctrl else set())
                    spectrum = {round(a + b, 10) for a in spectrum for b in eig}
        diffs = {round(abs(a - b), 10) for a in spectrum for b in spectrum}
        out[name] = tuple(sorted(d for d in diffs if d > 0))
    return out


# --------------------------------------------------------------------------------------------
# Optimizers
# --------------------------------------------------------------------------------------------


class QNG(torch.optim.Optimizer):
    """Quantum natural gradient descent: ``θ ← θ − lr · (g(θ) + lam·I)⁺ ∇L(θ)``.

    ``params`` holds one 1-d tensor of the circuit's parameter values. The metric comes from
    ``metric(θ) -> (P, P)`` or, given a ``circuit``, from :func:`metric_tensor` with
    ``names`` (default ``circuit.parameters``) bound to the entries of ``θ``.

    >>> from qdl import expval
    >>> c = Circuit(1).ry(0, "a")
    >>> theta = torch.tensor([0.3], dtype=torch.float64, requires_grad=True)
    >>> opt = QNG([theta], lr=0.2, circuit=c)
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = expval(c, ["Z0"], {"a": theta[0]}).sum()
    ...     loss.backward()
    ...     return loss
    >>> for _ in range(20):
    ...     _ = opt.step(closure)
    >>> round(theta.item(), 4)  # <Z> = cos(a) is minimal at a = π
    3.1416
    """

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 0.01, *,
                 circuit: Circuit | None = None, names: Sequence[str] | None = None,
                 metric: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 approx: str | None = "block-diag", lam: float = 0.0):
        if (circuit is None) == (metric is None):
            raise QDLError("QNG needs exactly one of circuit= or metric=")
        if lr <= 0 or lam < 0:
            raise QDLError(f"QNG: lr must be > 0 and lam >= 0, got lr={lr}, lam={lam}")
        super().__init__(params, {"lr": lr, "lam": lam})
        if circuit is not None:
            keys = list(names or circuit.parameters)
            metric = lambda t: metric_tensor(  # noqa: E731
                circuit, dict(zip(keys, t.detach().double(), strict=True)), approx)
        self.metric = metric

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        """One natural-gradient step; ``closure`` (optional) recomputes loss and gradients."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = self.metric(p.detach().reshape(-1)).to(torch.float64)  # type: ignore[misc]
                g = g + group["lam"] * torch.eye(g.shape[0], dtype=g.dtype)
                direction = torch.linalg.pinv(g, hermitian=True) @ p.grad.reshape(-1).double()
                p.add_(direction.reshape(p.shape).to(p.dtype), alpha=-group["lr"])
        return loss


class SPSA(torch.optim.Optimizer):
    """Simultaneous perturbation stochastic approximation (Spall 1998), two evaluations a step.

    Step ``k`` draws ``Δ`` of ±1 entries, evaluates ``closure()`` (the loss, no backward
    needed) at ``θ ± c_k Δ`` and moves ``θ ← θ − a_k (L₊ − L₋)/(2 c_k Δ)`` with
    ``a_k = a/(k+1+A)^α``, ``c_k = c/(k+1)^γ``.

    >>> x = torch.tensor([1.0, -2.0])
    >>> opt = SPSA([x], a=0.5, c=0.1, generator=torch.Generator().manual_seed(0))
    >>> for _ in range(200):
    ...     _ = opt.step(lambda: (x ** 2).sum())
    >>> bool((x ** 2).sum() < 1e-3)
    True
    """

    def __init__(self, params: Iterable[torch.Tensor], a: float = 0.2, c: float = 0.1,
                 A: float = 0.0, alpha: float = 0.602, gamma: float = 0.101,
                 generator: torch.Generator | None = None):
        if a <= 0 or c <= 0 or A < 0:
            raise QDLError(f"SPSA: a and c must be > 0 and A >= 0, got a={a}, c={c}, A={A}")
        super().__init__(params, {"a": a, "c": c, "A": A, "alpha": alpha, "gamma": gamma})
        self.generator = generator
        self.k = 0

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        """One SPSA step; returns the mean of the two perturbed losses."""
        if closure is None:
            raise QDLError("SPSA.step needs a closure that returns the loss")
        params = [p for g in self.param_groups for p in g["params"]]
        group = self.param_groups[0]
        ak = group["a"] / (self.k + 1 + group["A"]) ** group["alpha"]
        ck = group["c"] / (self.k + 1) ** group["gamma"]
        deltas = [torch.randint(0, 2, p.shape, generator=self.generator).to(p) * 2 - 1
                  for p in params]
        for p, d in zip(params, deltas, strict=True):
            p.add_(d, alpha=ck)
        plus = float(closure())
        for p, d in zip(params, deltas, strict=True):
            p.add_(d, alpha=-2 * ck)
        minus = float(closure())
        for p, d in zip(params, deltas, strict=True):
            p.add_(d, alpha=ck)
            p.add_((plus - minus) / (2 * ck) / d, alpha=-ak)
        self.k += 1
        return torch.tensor((plus + minus) / 2, dtype=torch.float64)


def _minimise_trig(values: np.ndarray, shifts: np.ndarray, freqs: Sequence[float]
                   ) -> tuple[float, float]:
    """Fit ``a0 + Σ a_k cos(ω_k t) + b_k sin(ω_k t)`` to the samples; its minimiser and minimum."""
    w = np.asarray(freqs, dtype=float)
    design = np.hstack([np.ones((len(shifts), 1)), np.cos(np.outer(shifts, w)),
                        np.sin(np.outer(shifts, w))])
    coef = np.linalg.lstsq(design, values, rcond=None)[0]
    a0, a, b = coef[0], coef[1:1 + len(w)], coef[1 + len(w):]

    def f(t: np.ndarray) -> np.ndarray:
        return a0 + np.cos(np.outer(t, w)) @ a + np.sin(np.outer(t, w)) @ b

    # One period of the slowest common frequency (rationals assumed), a grid, then Newton.
    period = 2 * math.pi / min(w)
    grid = np.linspace(-period / 2, period / 2, 64 * len(w) + 1)
    t = float(grid[np.argmin(f(grid))])
    for _ in range(20):
        d1 = float(-(np.sin(t * w) * w) @ a + (np.cos(t * w) * w) @ b)
        d2 = float(-(np.cos(t * w) * w**2) @ a - (np.sin(t * w) * w**2) @ b)
        if d2 <= 0:
            break
        t -= d1 / d2
    return t, float(f(np.array([t]))[0])


def _shifts(freqs: Sequence[float]) -> np.ndarray:
    r = len(freqs)
    return np.array([2 * math.pi * m / ((2 * r + 1) * min(freqs)) for m in range(-r, r + 1)])


class Rotosolve(torch.optim.Optimizer):
    """Exact minimisation along one parameter entry at a time (a sweep over all per step).

    ``closure()`` returns the loss (no backward). ``frequencies`` gives, per parameter
    tensor, the frequencies of every entry (one tuple for all entries, or a sequence of
    tuples, one per entry); :func:`parameter_frequencies` derives them from a circuit. For
    ``R`` frequencies ``2R + 1`` evaluations determine the loss along that entry exactly
    (one of them is the current value, reused).

    >>> x = torch.tensor([0.3, 2.0])
    >>> opt = Rotosolve([x], frequencies=[(1.0,)])
    >>> loss = opt.step(lambda: torch.cos(x[0]) + torch.sin(x[1]))
    >>> round(float(loss), 6)
    -2.0
    """

    def __init__(self, params: Iterable[torch.Tensor],
                 frequencies: Sequence[tuple[float, ...] | Sequence[tuple[float, ...]]]):
        super().__init__(params, {})
        tensors = [p for g in self.param_groups for p in g["params"]]
        if len(frequencies) != len(tensors):
            raise QDLError(f"Rotosolve: {len(tensors)} parameter tensor(s) but "
                           f"{len(frequencies)} frequency entries")
        self.frequencies = [self._per_entry(f, p.numel()) for f, p in
                            zip(frequencies, tensors, strict=True)]

    @staticmethod
    def _per_entry(freqs: object, size: int) -> list[tuple[float, ...]]:
        items = list(freqs)  # type: ignore[call-overload]
        if items and all(isinstance(x, int | float) for x in items):
            items = [tuple(items)] * size
        if len(items) != size or any(not f or min(f) <= 0 for f in items):
            raise QDLError(f"Rotosolve: need positive frequencies for each of {size} entries")
        return [tuple(float(x) for x in f) for f in items]

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        """One sweep over every entry; returns the loss after the sweep."""
        if closure is None:
            raise QDLError("Rotosolve.step needs a closure that returns the loss")
        tensors = [p for g in self.param_groups for p in g["params"]]
        loss = float(closure())
        for p, freqs in zip(tensors, self.frequencies, strict=True):
            flat = p.view(-1)
            for j, f in enumerate(freqs):
                start = float(flat[j])
                shifts = _shifts(f)
                values = []
                for s in shifts:
                    flat[j] = start + s
                    values.append(loss if s == 0 else float(closure()))
                best, loss = _minimise_trig(np.array(values), shifts, f)
                flat[j] = start + best
        return torch.tensor(loss, dtype=torch.float64)


class Rotoselect:
    """Rotoselect: per parameter, the best of several rotation gates and its best angle.

    ``build(gates)`` makes the circuit with ``gates[j]`` (e.g. ``"rx"``) as the gate of
    parameter ``j``; ``cost(circuit, weights)`` returns the loss. Each :meth:`step` visits
    every parameter, tries each candidate gate with :class:`Rotosolve`'s exact line
    minimisation (frequencies from the gate table) and keeps the best.

    >>> from qdl import expval
    >>> def build(g):  # one rotation, then measure X: rx cannot help, ry can
    ...     return getattr(Circuit(1), g[0])(0, "w0")
    >>> def cost(c, w):
    ...     return expval(c, ["X0"], {"w0": w[0]}).sum()
    >>> w, gates, loss = Rotoselect(build, cost).step(torch.tensor([0.1]), ["rx"])
    >>> gates, round(loss, 4)
    (['ry'], -1.0)
    """

    def __init__(self, build: Callable[[Sequence[str]], Circuit],
                 cost: Callable[[Circuit, torch.Tensor], torch.Tensor],
                 gates: Sequence[str] = ("rx", "ry", "rz")):
        self.build, self.cost, self.gates = build, cost, tuple(gates)

    def step(self, weights: torch.Tensor, choice: Sequence[str]
             ) -> tuple[torch.Tensor, list[str], float]:
        """One sweep: new weights, new gate choice and the loss after it."""
        weights, choice = weights.detach().clone(), list(choice)
        loss = math.inf
        for j in range(weights.numel()):
            best = (math.inf, float(weights[j]), choice[j])
            for gate in self.gates:
                trial = [*choice[:j], gate, *choice[j + 1:]]
                circuit = self.build(trial)
                w = weights.clone()
                freqs = parameter_frequencies(circuit).get(circuit.parameters[j], (1.0,))
                opt = Rotosolve([w[j:j + 1]], frequencies=[freqs or (1.0,)])
                value = float(opt.step(lambda c=circuit, w=w: self.cost(c, w)))
                if value < best[0] - 1e-12:
                    best = (value, float(w[j]), gate)
            loss, weights[j], choice[j] = best[0], best[1], best[2]
        return weights, choice, loss
