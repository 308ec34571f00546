"""Small circuits as dense matrices: an evaluation and its gradient in a few dozen torch calls.

On a few qubits torch's cost per call, not arithmetic, sets the time of a simulation and its
backward pass. Here a circuit (single-qubit gates, constant multi-qubit gates) becomes

* ``ψ0 = ⊗_w v_w``: the single-qubit gates before each wire's first multi-qubit gate, acting
  on ``|0>``, give a product state;
* ``U = F_L ⋯ F_1`` with ``F_l = C_l · ⊗_w A_{l,w}``: layers of single-qubit gates (at most one
  per wire, the identity elsewhere), each followed by the constant multi-qubit gates ``C_l``
  scheduled after it;
* ``E_o = <ψ|O_o|ψ>`` with ``ψ = U ψ0``.

Every single-qubit gate is a row of one table of 2×2 matrices (one-parameter gates from their
Fourier terms, constant gates, the identity), so all layers are one gather and one product,
``U`` one parallel prefix scan, and the gradient closed-form (:func:`backward`).

Shapes: ``K = 2**n``; the batch comes first here, ``ψ`` is ``(B, K)`` (a few kilobytes: the
batch-last layout of :mod:`qdl.sim.core` is for states that fill memory). Parameter angles
are split into shared ones ``(m_s,)`` and per-row ones ``(B, m_b)``, real.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from qdl.circuit import Circuit
from qdl.gates import fourier_terms
from qdl.observables import AnyObservable
from qdl.sim.core import Bound, Step, apply, compile_circuit, gate_tensor, memo
from qdl.sim.measure import observable_apply

DENSE_QUBITS = 6  # largest register simulated densely (python -m benchmarks.dense)
DENSE_WORK = 2**24  # largest estimated complex multiply-adds of one dense evaluation


@dataclass(frozen=True)
class Program:
    """A circuit compiled for the dense path (no tensors: cached per circuit).

    Gate ids: ``0 .. P-1`` the parameterized single-qubit gates (``steps[i]`` their steps),
    ``P .. P+c-1`` the constant ones (``constants``), ``P+c`` the identity.

    Attributes:
        n: qubits.
        steps: the parameterized gates' steps, in table order.
        constants: ``(c, 2, 2)`` constant single-qubit gates.
        prep: per depth, per wire, the gate id applied to ``|0>`` (chains padded by identity).
        layers: per layer, per wire, the gate id.
        mixers: per layer, the constant ``K×K`` matrix applied after it, or ``None``.
    """

    n: int
    steps: tuple[Step, ...]
    constants: np.ndarray = field(compare=False)
    prep: tuple[tuple[int, ...], ...]
    layers: tuple[tuple[int, ...], ...]
    mixers: tuple[np.ndarray | None, ...] = field(compare=False)
    layouts: dict = field(default_factory=dict, compare=False)

    @property
    def identity(self) -> int:
        """The identity's gate id."""
        return len(self.steps) + len(self.constants)

    def work(self, batch: int, batched_layers: bool) -> float:
        """Estimated complex multiply-adds of one forward and backward pass."""
        k, depth = 2**self.n, len(self.layers)
        scan = depth * k**3 * (2 * math.ceil(math.log2(depth + 1)) + 4)
        return scan * (batch if batched_layers else 1) + 4 * batch * k * k


def program(circuit: Circuit) -> Program | None:
    """The circuit's dense program, or ``None`` when the dense path does not apply (too many
    qubits, or a gate it does not take: multi-qubit gates with free parameters, single-qubit
    gates with several free parameters). Remembered per circuit.

    >>> p = program(Circuit(2).ry(0, "x").cx(0, 1).rz(1, "w"))
    >>> len(p.steps), len(p.prep), len(p.layers)
    (2, 1, 1)
    """
    if circuit.n_qubits > DENSE_QUBITS or circuit.n_qubits == 0:
        return None
    return memo(circuit, "dense", lambda: _compile(compile_circuit(circuit), circuit.n_qubits))


def _free(step: Step) -> bool:
    return any(p.symbols() for p in step.op.params)


def _compile(steps: tuple[Step, ...], n: int) -> Program | None:
    params: list[Step] = []
    constants: list[np.ndarray] = []
    chains: list[list[int]] = [[] for _ in range(n)]  # prep gate ids per wire
    started = [False] * n  # a multi-qubit gate has touched the wire
    cells: list[dict[int, int]] = []  # per layer: wire -> gate id
    mixers: list[np.ndarray | None] = []
    last = [-1] * n  # last layer holding a gate (or ending with a mixer) on each wire
    for step in steps:
        wires = (*step.controls, *step.wires)
        if len(wires) == 1:
            gid = _gate_id(step, params, constants)
            if gid is None:
                return None
            w = wires[0]
            if not started[w]:
                chains[w].append(gid)
                continue
            last[w] = _open(cells, mixers, last[w] + 1)
            cells[last[w]][w] = gid
            continue
        if _free(step) or not wires:
            return None
        at = _open(cells, mixers, max(0, *(last[w] for w in wires)))
        m = _full_matrix(step, n)
        if m is None:
            return None
        mixers[at] = m if mixers[at] is None else m @ mixers[at]
        for w in wires:
            started[w], last[w] = True, at
    # Gate ids of constants follow the parameterized gates': shift them now P is known.
    shift = len(params)
    ident = shift + len(constants)

    def final(gid: int) -> int:
        return gid if gid >= 0 else shift + (-gid - 1)

    depth = max((len(c) for c in chains), default=0)
    prep = tuple(tuple(final(c[d]) if d < len(c) else ident for c in chains)
                 for d in range(depth))
    layers = tuple(tuple(final(cell[w]) if w in cell else ident for w in range(n))
                   for cell in cells)
    return Program(n, tuple(params), np.array(constants).reshape(-1, 2, 2), prep, layers,
                   tuple(mixers))


def _open(cells: list[dict[int, int]], mixers: list[np.ndarray | None], at: int) -> int:
    """Make sure layer ``at`` exists; returns ``at``."""
    while len(cells) <= at:
        cells.append({})
        mixers.append(None)
    return at


def _gate_id(step: Step, params: list[Step], constants: list[np.ndarray]) -> int | None:
    """Register a single-qubit gate: its id (constants get ``-1 - index`` until the number
    of parameterized gates is known), or ``None`` when it has several free parameters."""
    if not _free(step):
        m = _full_matrix(dataclasses.replace(step, wires=(0,)), 1)
        if m is None:
            return None
        constants.append(m)
        return -len(constants)
    if len(step.op.params) != 1 or fourier_terms(step.op.name) is None:
        return None
    params.append(step)
    return len(params) - 1


def _full_matrix(step: Step, n: int) -> np.ndarray | None:
    """A constant step's ``2**n × 2**n`` matrix (wire 0 most significant); ``None`` when it
    depends on a tensor that requires grad."""
    if "_live_" in step.op.name:  # its matrix is a tensor that may change between calls
        return None
    k = 2**n
    bound = Bound({}, (), torch.complex128, torch.device("cpu"))
    eye = torch.eye(k, dtype=torch.complex128).reshape((2,) * n + (k,))
    out = apply(eye, step, gate_tensor(step, bound))
    # A live matrix (a trainable ``unitary``) is not a constant: the general path takes it.
    return None if out.requires_grad else out.reshape(k, k).numpy()


@dataclass(frozen=True)
class Layout:
    """Index tensors and constants of a program for one batching pattern, dtype and device.

    Attributes:
        shared: gate ids (positions in ``program.steps``) of the shared parameterized gates.
        batched: those of the per-row ones.
        rows_s: table row of every gate id in the shared table (``-1``: per-row gate).
        rows_b: table row of every gate id in the per-row table (per-row gates first, then
            the shared table).
    """

    shared: tuple[int, ...]
    batched: tuple[int, ...]
    prep_batched: bool
    layers_batched: bool
    tensors: dict[str, torch.Tensor | None]


def layout(prog: Program, batched: tuple[bool, ...], dtype: torch.dtype,
           device: torch.device) -> Layout:
    """The program's :class:`Layout` for gates batched as ``batched`` (one flag per
    parameterized gate), built once per pattern, dtype and device."""
    key = (batched, dtype, device)
    found = prog.layouts.get(key)
    if found is None:
        found = prog.layouts[key] = _make_layout(prog, batched, dtype, device)
    return found


def _make_layout(prog: Program, batched: tuple[bool, ...], dtype: torch.dtype,
                 device: torch.device) -> Layout:
    shared = tuple(i for i, b in enumerate(batched) if not b)
    per_row = tuple(i for i, b in enumerate(batched) if b)
    n_ids = prog.identity + 1
    rows_s = np.full(n_ids, -1)
    rows_s[list(shared)] = np.arange(len(shared))
    rows_s[len(prog.steps):] = len(shared) + np.arange(n_ids - len(prog.steps))
    rows_b = np.where(rows_s >= 0, rows_s + len(per_row), -1)
    rows_b[list(per_row)] = np.arange(len(per_row))
    is_b = np.zeros(n_ids, dtype=bool)
    is_b[list(per_row)] = True
    prep_b = bool(is_b[np.array(prog.prep, dtype=int)].any()) if prog.prep else False
    layers_b = bool(is_b[np.array(prog.layers, dtype=int)].any()) if prog.layers else False
    n, k = prog.n, 2**prog.n
    bits = (np.arange(k)[:, None] >> (n - 1 - np.arange(n))[None, :]) & 1  # (K, n)

    def as_index(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(a.reshape(-1), dtype=torch.long, device=device)

    t: dict[str, torch.Tensor | None] = {}
    for name, ids in (("shared", shared), ("batched", per_row)):
        lam, c = _fourier(prog, ids)
        t[name + "_lam"] = torch.as_tensor(-1j * lam, dtype=dtype, device=device)
        t[name + "_c"] = torch.as_tensor(c, dtype=dtype, device=device)
        t[name + "_dc"] = torch.as_tensor(-1j * lam[..., None, None] * c, dtype=dtype,
                                          device=device)
    fixed = np.concatenate([prog.constants, np.eye(2)[None]])
    t["fixed"] = torch.as_tensor(fixed, dtype=dtype, device=device)
    rows = rows_b if prep_b else rows_s
    prep = np.array(prog.prep, dtype=int).reshape(-1, n)
    if len(prep):
        # Depth 0 acts on |0>: only the first column of its gates is read.
        t["prep0"] = as_index(4 * rows[prep[0]][:, None] + 2 * np.arange(2)[None, :])
        t["prep_rest"] = as_index(4 * rows[prep[1:]][..., None] + np.arange(4))
    t["product"] = as_index(2 * np.arange(n)[None, :] + bits)  # (K, n) into (n, 2)
    rows = rows_b if layers_b else rows_s
    cells = np.array(prog.layers, dtype=int).reshape(-1, n)
    pattern = 2 * bits[:, None, :] + bits[None, :, :]  # (K, K, n): entry (r, c) per wire
    t["kron"] = as_index(4 * rows[cells][:, None, None, :] + pattern[None])
    mixers = [np.eye(k) if m is None else m for m in prog.mixers]
    t["mixers"] = torch.as_tensor(np.array(mixers), dtype=dtype, device=device) if any(
        m is not None for m in prog.mixers) else None
    return Layout(shared, per_row, prep_b, layers_b, t)


def _fourier(prog: Program, ids: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``λ`` ``(m, J)`` and ``C`` ``(m, J, 2, 2)`` of the gates ``ids`` (padded with zeros)."""
    terms = [fourier_terms(prog.steps[i].op.name) for i in ids]
    j = max((len(t[0]) for t in terms if t is not None), default=1)
    lam = np.zeros((len(ids), j))
    c = np.zeros((len(ids), j, 2, 2), dtype=complex)
    for i, t in enumerate(terms):
        values, mats = t  # type: ignore[misc]
        lam[i, :len(values)] = values
        c[i, :len(values)] = mats if mats.ndim == 3 else np.einsum("ki,ij->kij", mats,
                                                                     np.eye(2))
    return lam, c


def observable_matrices(observables: tuple[AnyObservable, ...], n: int, dtype: torch.dtype,
                        device: torch.device) -> tuple[bool, torch.Tensor]:
    """``(True, D)`` with ``D`` ``(K, O)`` real when every observable is diagonal, else
    ``(False, M)`` with ``M`` ``(O, K, K)``; remembered per observables, dtype and device."""
    key = (observables, n, dtype, device)
    found = _OBSERVABLES.get(key)
    if found is None:
        k = 2**n
        eye = torch.eye(k, dtype=torch.complex128).reshape((2,) * n + (k,))
        mats = torch.stack([observable_apply(eye, o).reshape(k, k) for o in observables])
        diagonal = bool((mats - torch.diag_embed(mats.diagonal(0, -2, -1))).abs().max() == 0)
        found = (True, mats.diagonal(0, -2, -1).real.T.to(device, _real(dtype))) if diagonal \
            else (False, mats.to(device, dtype))
        if len(_OBSERVABLES) > 64:
            _OBSERVABLES.clear()
        _OBSERVABLES[key] = found
    return found


_OBSERVABLES: dict[tuple, tuple[bool, torch.Tensor]] = {}


def _real(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.complex128 else torch.float32


@dataclass
class Saved:
    """What the backward pass needs from the forward: tables, gathered factors, states."""

    phases: tuple[torch.Tensor, torch.Tensor]
    prep: list[torch.Tensor]  # per depth: the per-wire vectors after it (..., n, 2)
    prep_gates: list[torch.Tensor]  # per depth >= 1: the gates (..., n, 2, 2)
    product: torch.Tensor  # ψ0's gathered factors (..., K, n)
    psi0: torch.Tensor  # (B | 1, K)
    factors: torch.Tensor | None  # gathered layer entries (..., L, K*K, n)
    stack: torch.Tensor | None  # F (..., L, K, K)
    prefix: torch.Tensor | None  # P_l = F_l ⋯ F_1 (..., L, K, K)
    psi: torch.Tensor  # (B, K)
    applied: torch.Tensor | None  # O ψ (O, B, K) for non-diagonal observables


def forward(prog: Program, lay: Layout, shared: torch.Tensor, batched: torch.Tensor,
            observables: tuple[bool, torch.Tensor], batch: int) -> tuple[torch.Tensor, Saved]:
    """``(E, saved)``: expectations ``(B, O)`` for angles ``shared`` ``(m_s,)`` and ``batched``
    ``(B, m_b)``. Plain torch operations: autograd can differentiate them too (second
    derivatives go that way)."""
    t = lay.tensors
    phase_s = torch.exp(shared[:, None] * t["shared_lam"])
    table_s = torch.cat([(phase_s[..., None, None] * t["shared_c"]).sum(-3), t["fixed"]])
    phase_b = torch.exp(batched[..., None] * t["batched_lam"])
    table_b = None
    if lay.prep_batched or lay.layers_batched:
        per_row = (phase_b[..., None, None] * t["batched_c"]).sum(-3)
        table_b = torch.cat([per_row, table_s.expand(batch, *table_s.shape)], -3)
    saved = Saved((phase_s, phase_b), [], [], torch.empty(0), torch.empty(0), None, None, None,
                  torch.empty(0), None)
    psi0 = _prep(prog, t, table_b if lay.prep_batched else table_s, saved)
    psi = psi0
    if prog.layers:
        table = table_b if lay.layers_batched else table_s
        flat = table.reshape(*table.shape[:-3], -1)
        k = 2**prog.n
        factors = flat[..., t["kron"]].reshape(*flat.shape[:-1], len(prog.layers), k * k,
                                                prog.n)
        stack = factors.prod(-1).reshape(*factors.shape[:-2], k, k)
        if t["mixers"] is not None:
            stack = t["mixers"] @ stack
        prefix = _scan(stack, reverse=False)
        u = prefix[..., -1, :, :]
        psi = psi0 @ u.mT if u.dim() == 2 else (u @ psi0[..., None])[..., 0]
        saved.factors, saved.stack, saved.prefix = factors, stack, prefix
    saved.psi0, saved.psi = psi0, psi
    diagonal, mats = observables
    if diagonal:
        out = torch.view_as_real(psi).square().sum(-1) @ mats
    else:
        saved.applied = psi @ mats.mT
        out = (psi.conj() * saved.applied).sum(-1).real.T
    # Every row is the same when no angle is per-row (a batch from unused parameters).
    return (out if out.shape[0] == batch else out.expand(batch, -1)), saved


def _prep(prog: Program, t: dict, table: torch.Tensor, saved: Saved) -> torch.Tensor:
    """``ψ0`` ``(B | 1, K)``: the per-wire chains on ``|0>``, then their Kronecker product."""
    lead = table.shape[:-3]
    flat = table.reshape(*lead, -1)
    if prog.prep:
        v = flat[..., t["prep0"]].reshape(*lead, prog.n, 2)
        saved.prep.append(v)
        rest = flat[..., t["prep_rest"]].reshape(*lead, len(prog.prep) - 1, prog.n, 2, 2)
        for gates in rest.unbind(-4):
            v = (gates * v[..., None, :]).sum(-1)
            saved.prep_gates.append(gates)
            saved.prep.append(v)
    else:
        v = torch.zeros(prog.n, 2, dtype=table.dtype, device=table.device)
        v[:, 0] = 1
    product = v.reshape(*lead, -1)[..., t["product"]].reshape(*lead, 2**prog.n, prog.n)
    saved.product = product
    psi0 = product.prod(-1)
    return psi0 if lead else psi0[None]


def _scan(stack: torch.Tensor, reverse: bool) -> torch.Tensor:
    """Inclusive products along the layer axis ``-3``: ``F_l ⋯ F_1`` (or, ``reverse``,
    ``F_L ⋯ F_l``) for every ``l``, in ``⌈log2 L⌉`` batched products (Hillis–Steele)."""
    x, d, depth = stack, 1, stack.shape[-3]
    while d < depth:
        if reverse:
            x = torch.cat([x[..., d:, :, :] @ x[..., :-d, :, :], x[..., -d:, :, :]], -3)
        else:
            x = torch.cat([x[..., :d, :, :], x[..., d:, :, :] @ x[..., :-d, :, :]], -3)
        d *= 2
    return x


def _others(v: torch.Tensor) -> torch.Tensor:
    """Products over the last axis leaving one entry out: ``out_j = Π_{i≠j} v_i`` (no
    division, so zero entries are fine)."""
    if v.shape[-1] == 1:
        return torch.ones_like(v)
    ones = torch.ones_like(v[..., :1])
    left = torch.cat([ones, v[..., :-1].cumprod(-1)], -1)
    right = torch.cat([v[..., 1:].flip(-1).cumprod(-1).flip(-1), ones], -1)
    return left * right


def backward(prog: Program, lay: Layout, saved: Saved, grad_out: torch.Tensor,
             observables: tuple[bool, torch.Tensor], batch: int
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients ``(∂L/∂shared, ∂L/∂batched)`` of ``L = Σ grad_out · E``, in closed form: the
    adjoint method on dense matrices (prefix and suffix products of the layers), then the
    Kronecker products and the Fourier terms differentiated by hand."""
    diagonal, mats = observables
    psi = saved.psi
    if psi.shape[0] != grad_out.shape[0]:
        grad_out = grad_out.sum(0, keepdim=True)
    if diagonal:
        g_psi = 2 * psi * (grad_out.to(mats.dtype) @ mats.T)
    else:
        g_psi = 2 * torch.einsum("bo,obk->bk", grad_out.to(psi.dtype), saved.applied)
    table_grads = _TableGrads(lay, batch, psi.dtype, psi.device, prog)
    g_psi0 = g_psi
    if prog.layers:
        g_psi0 = _layer_grads(prog, lay, saved, g_psi, table_grads)
    _prep_grads(prog, lay, saved, g_psi0, table_grads)
    return table_grads.angles(saved.phases)


class _TableGrads:
    """Accumulates ``∂L/∂T`` for the shared table and the per-row one."""

    def __init__(self, lay: Layout, batch: int, dtype: torch.dtype, device: torch.device,
                 prog: Program):
        self.lay, self.batch = lay, batch
        self.n_s = (len(lay.shared) + prog.identity + 1 - len(prog.steps)) * 4
        self.n_b = len(lay.batched) * 4
        self.g_s = torch.zeros(self.n_s, dtype=dtype, device=device)
        self.g_b = torch.zeros(batch, self.n_b + self.n_s, dtype=dtype, device=device) \
            if lay.prep_batched or lay.layers_batched else None

    def add(self, is_batched: bool, index: torch.Tensor, values: torch.Tensor) -> None:
        if is_batched:
            self.g_b.index_add_(1, index, values.reshape(self.batch, -1))  # type: ignore[union-attr]
        else:
            self.g_s.index_add_(0, index, values.reshape(-1))

    def angles(self, phases: tuple[torch.Tensor, torch.Tensor]
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """``∂L/∂θ = Re Σ_k conj(∂L/∂T)·(−iλ_k) e^{−iθλ_k} C_k`` for both tables."""
        g_s, t = self.g_s, self.lay.tensors
        per_row = None
        if self.g_b is not None:
            g_s = g_s + self.g_b[:, self.n_b:].sum(0)
            per_row = self.g_b[:, :self.n_b]
        m_s = len(self.lay.shared)
        g = g_s[:m_s * 4].reshape(m_s, 1, 2, 2).conj()
        shared = ((g * t["shared_dc"]).sum((-1, -2)) * phases[0]).sum(-1).real
        m_b = len(self.lay.batched)
        if per_row is None:
            return shared, torch.zeros_like(phases[1].real[..., 0])
        g = per_row.reshape(self.batch, m_b, 1, 2, 2).conj()
        return shared, ((g * t["batched_dc"]).sum((-1, -2)) * phases[1]).sum(-1).real


def _layer_grads(prog: Program, lay: Layout, saved: Saved, g_psi: torch.Tensor,
                 grads: _TableGrads) -> torch.Tensor:
    """Table gradients of the layers; returns ``∂L/∂ψ0``."""
    t, stack, prefix = lay.tensors, saved.stack, saved.prefix
    u = prefix[..., -1, :, :]  # type: ignore[index]
    if u.dim() == 2:
        g_u = g_psi.T @ saved.psi0.conj()
        g_psi0 = g_psi @ u.conj()
    else:
        g_u = g_psi[:, :, None] * saved.psi0.conj()[:, None, :]
        g_psi0 = (u.mH @ g_psi[..., None])[..., 0]
    # ∂L/∂F_l = S_{l+1}† ∂L/∂U P_{l-1}†, with S_l = F_L ⋯ F_l and P_l = F_l ⋯ F_1.
    suffix = _scan(stack, reverse=True)  # type: ignore[arg-type]
    eye = torch.eye(stack.shape[-1], dtype=stack.dtype, device=stack.device)  # type: ignore[union-attr]
    eye = eye.expand(*stack.shape[:-3], 1, *eye.shape)  # type: ignore[union-attr]
    after = torch.cat([suffix[..., 1:, :, :], eye], -3)
    before = torch.cat([eye, prefix[..., :-1, :, :]], -3)  # type: ignore[index]
    g_f = after.mH @ g_u[..., None, :, :] @ before.mH
    if t["mixers"] is not None:
        g_f = t["mixers"].mH @ g_f
    factors = saved.factors
    g_factors = g_f.reshape(*g_f.shape[:-2], -1, 1) * _others(factors).conj()  # type: ignore[arg-type]
    grads.add(lay.layers_batched, t["kron"], g_factors)
    return g_psi0


def _prep_grads(prog: Program, lay: Layout, saved: Saved, g_psi0: torch.Tensor,
                grads: _TableGrads) -> None:
    """Table gradients of the product-state preparation from ``∂L/∂ψ0``."""
    if not prog.prep:
        return
    t, product = lay.tensors, saved.product
    if not lay.prep_batched:
        g_psi0 = g_psi0.sum(0)
    g_product = g_psi0[..., None] * _others(product).conj()
    lead = g_product.shape[:-2]
    g_v = torch.zeros(*lead, prog.n * 2, dtype=g_psi0.dtype, device=g_psi0.device)
    g_v.index_add_(-1, t["product"], g_product.reshape(*lead, -1))
    g_v = g_v.reshape(*lead, prog.n, 2)
    gate_grads = []
    for d in range(len(prog.prep) - 1, 0, -1):
        gates, v_in = saved.prep_gates[d - 1], saved.prep[d - 1]
        gate_grads.append(g_v[..., :, None] * v_in.conj()[..., None, :])
        g_v = (gates.conj() * g_v[..., :, None]).sum(-2)
    if gate_grads:
        stacked = torch.stack(gate_grads[::-1], -4)
        grads.add(lay.prep_batched, t["prep_rest"], stacked)
    grads.add(lay.prep_batched, t["prep0"], g_v)
