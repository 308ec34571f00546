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
``U`` one chain of products, and the gradient closed-form (:func:`backward`).

Shapes: ``K = 2**n``; the batch comes first here, ``ψ`` is ``(B, K)`` (a few kilobytes: the
batch-last layout of :mod:`qdl.sim.core` is for states that fill memory). Parameter angles
are split into shared ones ``(m_s,)`` and per-row ones ``(B, m_b)``, real.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from qdl.circuit import Circuit
from qdl.observables import AnyObservable
from qdl.sim import tables
from qdl.sim.core import REAL, Step, compile_circuit, memo
from qdl.sim.measure import observable_apply
from qdl.sim.tables import TableGrads, Tables, full_matrix, gate_id, is_free, others

# Measured against the general simulator, fwd+bwd of embedding + L layers + CNOT ring, batch
# 32, L=2..8 (python -m benchmarks.closed_form): 1.6-2.0x faster at n=3, 1.7-1.9x at n=4,
# 1.3-1.5x at n=5, 0.7x at n=6 (where the fused path, 1.3x, takes over). Per-row gates after
# an entangler (data re-uploading) have no dense layout: the fused path takes them.
DENSE_QUBITS = 5  # largest register simulated densely
DENSE_ENTRIES = 2**22  # largest layers x 4**n (the prefix products kept for the gradient)
DENSE_BYTES = 2**26  # largest batch of states (with working copies) run without chunking


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
        layouts: :class:`Layout` s by batching pattern, dtype and device.
        feeds: how stacked tensors feed the angles, by their names and shapes (filled by
            :mod:`qdl.grad`).
    """

    n: int
    steps: tuple[Step, ...]
    constants: np.ndarray = field(compare=False)
    prep: tuple[tuple[int, ...], ...]
    layers: tuple[tuple[int, ...], ...]
    mixers: tuple[np.ndarray | None, ...] = field(compare=False)
    layouts: dict = field(default_factory=dict, compare=False)
    feeds: dict = field(default_factory=dict, compare=False)

    @property
    def identity(self) -> int:
        """The identity's gate id."""
        return len(self.steps) + len(self.constants)

    def fits(self, batch: int) -> bool:
        """Whether a batch of states (with working copies) stays small (``DENSE_BYTES``)."""
        return batch * 2**self.n * 64 <= DENSE_BYTES


def program(circuit: Circuit) -> Program | None:
    """The circuit's dense program, or ``None`` when the dense path does not apply (too many
    qubits, or a gate it does not take: multi-qubit gates with free parameters, single-qubit
    gates with several free parameters). Remembered per circuit.

    >>> p = program(Circuit(2).ry(0, "x").cx(0, 1).rz(1, "w"))
    >>> len(p.steps), len(p.prep), len(p.layers)
    (2, 1, 2)
    """
    if circuit.n_qubits > DENSE_QUBITS or circuit.n_qubits == 0:
        return None
    prog = memo(circuit, "dense", lambda: _compile(compile_circuit(circuit), circuit.n_qubits))
    # The prefix products of the layers are kept for the gradient: they must stay small.
    small = prog is not None and (len(prog.layers) + len(prog.prep)) * 4**prog.n <= DENSE_ENTRIES
    return prog if small else None


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
            gid = gate_id(step, params, constants)
            if gid is None:
                return None
            w = wires[0]
            if not started[w]:
                chains[w].append(gid)
                continue
            last[w] = _open(cells, mixers, last[w] + 1)
            cells[last[w]][w] = gid
            continue
        if is_free(step) or not wires:
            return None
        at = _open(cells, mixers, max(0, *(last[w] for w in wires)))
        m = full_matrix(step, n)
        if m is None:
            return None
        mixers[at] = m if mixers[at] is None else m @ mixers[at]
        for w in wires:
            started[w], last[w] = True, at
    ident = len(params) + len(constants)

    def final(gid: int) -> int:
        return tables.final_id(gid, len(params))

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


Observables = tuple[bool, torch.Tensor, "torch.Tensor | None"]


@dataclass(frozen=True)
class Layout:
    """Index tensors and constants of a program for one batching pattern, dtype and device.

    Attributes:
        tables: how the angles become the tables of 2×2 matrices (:mod:`qdl.sim.tables`).
        prep_depth: depths of the program's preparation kept as such: trailing depths of
            shared gates become layers when the layers are shared (one 2**n matrix more is
            cheaper than a per-row 2×2 chain and its gradient).
        depth: layers (those moved from the preparation first).
        tensors: the gathers into the tables, the identity and the mixers.
    """

    tables: Tables
    prep_depth: int
    depth: int
    tensors: dict[str, torch.Tensor | None]


def layout(prog: Program, batched: tuple[bool, ...], dtype: torch.dtype,
           device: torch.device) -> Layout | None:
    """The program's :class:`Layout` for gates batched as ``batched`` (one flag per
    parameterized gate), built once per pattern, dtype and device; ``None`` when a per-row
    gate sits after a multi-qubit gate (the layers would differ per row: slower than the
    general simulator)."""
    return tables.remembered_layout(prog, batched, dtype, device, _make_layout)


def _make_layout(prog: Program, batched: tuple[bool, ...], dtype: torch.dtype,
                 device: torch.device) -> Layout | None:
    is_b = np.zeros(prog.identity + 1, dtype=bool)
    is_b[:len(batched)] = batched
    n, k = prog.n, 2**prog.n
    prep = np.array(prog.prep, dtype=int).reshape(-1, n)
    cells = np.array(prog.layers, dtype=int).reshape(-1, n)
    mixer_list = list(prog.mixers)
    if is_b[cells].any():
        return None
    level_b = is_b[prep].any(axis=1)
    keep = int(np.nonzero(level_b)[0].max()) + 1 if level_b.any() else 0
    cells = np.concatenate([prep[keep:], cells])
    mixer_list = [None] * (len(prep) - keep) + mixer_list
    prep = prep[:keep]
    prep_b = bool(level_b.any())
    tab = tables.tables(prog.steps, prog.constants, batched, prep_b, bool(is_b[prep].all()),
                        dtype, device)
    bits = (np.arange(k)[:, None] >> (n - 1 - np.arange(n))[None, :]) & 1  # (K, n)

    def as_index(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(a.reshape(-1), dtype=torch.long, device=device)

    t: dict[str, torch.Tensor | None] = {"eye": torch.eye(k, dtype=dtype, device=device)}
    rows = tab.rows_b if prep_b else tab.rows_s
    if len(prep):
        # Depth 0 acts on |0>: only the first column of its gates is read.
        t["prep0"] = as_index(4 * rows[prep[0]][:, None] + 2 * np.arange(2)[None, :])
        t["prep_rest"] = as_index(4 * rows[prep[1:]][..., None] + np.arange(4))
    product = 2 * np.arange(n)[None, :] + bits  # (K, n) into the wires' vectors (n, 2)
    t["product"] = as_index(product)
    t["product_others"] = tables.leave_one_out(product, device)
    pattern = 2 * bits[:, None, :] + bits[None, :, :]  # (K, K, n): entry (r, c) per wire
    kron = 4 * tab.rows_s[cells][:, None, None, :] + pattern[None]
    t["kron"], t["kron_others"] = as_index(kron), tables.leave_one_out(kron, device)
    mixers = [np.eye(k) if m is None else m for m in mixer_list]
    t["mixers"] = torch.as_tensor(np.array(mixers), dtype=dtype, device=device) if any(
        m is not None for m in mixer_list) else None
    return Layout(tab, len(prep), len(cells), t)


def observables_for(observables: tuple[AnyObservable, ...], prog: Program, lay: Layout
                    ) -> Observables:
    """The observables as :func:`forward` takes them (:func:`observable_matrices`)."""
    eye = lay.tensors["eye"]
    return observable_matrices(observables, prog.n, eye.dtype, eye.device)  # type: ignore[union-attr]


def observable_matrices(observables: tuple[AnyObservable, ...], n: int, dtype: torch.dtype,
                        device: torch.device) -> Observables:
    """``(True, D, 2Dᵀ)`` with ``D`` ``(K, O)`` real when every observable is diagonal, else
    ``(False, M, None)`` with ``M`` ``(O, K, K)``; remembered per observables, dtype and
    device."""
    key = (observables, n, dtype, device)
    found = _OBSERVABLES.get(key)
    if found is None:
        k = 2**n
        eye = torch.eye(k, dtype=torch.complex128).reshape((2,) * n + (k,))
        mats = torch.stack([observable_apply(eye, o).reshape(k, k) for o in observables])
        diagonal = bool((mats - torch.diag_embed(mats.diagonal(0, -2, -1))).abs().max() == 0)
        if diagonal:
            d = mats.diagonal(0, -2, -1).real.to(device, REAL[dtype])
            found = (True, d.T.contiguous(), 2 * d)
        else:
            found = (False, mats.to(device, dtype), None)
        if len(_OBSERVABLES) > 64:
            _OBSERVABLES.clear()
        _OBSERVABLES[key] = found
    return found


_OBSERVABLES: dict[tuple, Observables] = {}



@dataclass
class Saved:
    """What the backward pass needs from the forward pass."""

    tables: tables.Built
    prep: list[torch.Tensor] = field(default_factory=list)  # wire vectors per depth (.., n*2)
    prep_gates: torch.Tensor | None = None  # gates of depths >= 1 (.., D-1, n, 2, 2)
    product: torch.Tensor | None = None  # ψ0's gathered factors (.., K, n)
    psi0: torch.Tensor | None = None  # (B | 1, K)
    factors: torch.Tensor | None = None  # gathered layer entries (.., L, K*K, n)
    prefix: torch.Tensor | None = None  # P_l = F_l ⋯ F_1 (.., L, K, K)
    psi: torch.Tensor | None = None  # (B | 1, K)
    applied: torch.Tensor | None = None  # O ψ (O, B, K) for non-diagonal observables


def forward(prog: Program, lay: Layout, shared: torch.Tensor, batched: torch.Tensor,
            observables: Observables, batch: int) -> tuple[torch.Tensor, Saved]:
    """``(E, saved)``: expectations ``(B, O)`` for angles ``shared`` ``(m_s,)`` and ``batched``
    ``(B, m_b)``. Plain torch operations: autograd can differentiate them too (second
    derivatives go that way)."""
    t = lay.tensors
    built = tables.build(lay.tables, shared, batched, batch)
    table_s, table_b = built.shared, built.per_row
    saved = Saved(built)
    psi0 = _prep(prog.n, lay, table_s if table_b is None else table_b, saved)
    psi = psi0
    if lay.depth:
        k, depth = 2**prog.n, lay.depth
        factors = table_s.index_select(-1, t["kron"]).view(depth, k * k, prog.n)
        stack = factors.prod(-1).view(depth, k, k)
        if t["mixers"] is not None:
            stack = t["mixers"] @ stack
        prefix = _prefix_products(stack)
        u = prefix.select(-3, -1)
        psi = psi0 @ u.mT
        saved.factors, saved.prefix = factors, prefix
    saved.psi0, saved.psi = psi0, psi
    diagonal, mats, _ = observables
    if diagonal:
        out = (psi * psi.conj()).real @ mats
    else:
        saved.applied = psi @ mats.mT
        out = (psi.conj() * saved.applied).sum(-1).real.mT
    # Every row is the same when no angle is per-row (a batch from unused parameters).
    return (out if out.shape[0] == batch else out.expand(batch, -1)), saved


def _prep(n: int, lay: Layout, table: torch.Tensor, saved: Saved) -> torch.Tensor:
    """``ψ0`` ``(B | 1, K)``: the per-wire chains on ``|0>``, then their Kronecker product."""
    lead, t = table.shape[:-1], lay.tensors
    if lay.prep_depth:
        v = table.index_select(-1, t["prep0"])
        saved.prep.append(v)
        if lay.prep_depth > 1:
            gates = table.index_select(-1, t["prep_rest"]).view(*lead, -1, n, 2, 2)
            saved.prep_gates = gates
            for level in gates.unbind(-4):
                v = (level @ v.view(*lead, n, 2, 1)).view(*lead, 2 * n)
                saved.prep.append(v)
    else:
        v = lay.tables.tensors["fixed"].new_zeros(2 * n)
        v[::2] = 1
    product = v.index_select(-1, t["product"]).view(*lead, 2**n, n)
    saved.product = product
    psi0 = product.prod(-1)
    return psi0 if lead else psi0.unsqueeze(0)


def _prefix_products(stack: torch.Tensor) -> torch.Tensor:
    """Inclusive products along the layer axis ``-3``: ``F_l ⋯ F_1`` for every ``l``. One
    product after another: a log-depth (Hillis–Steele) scan measured 1.2–15× slower for
    every size the dense path takes (its copies cost more than the products it saves)."""
    layers = stack.unbind(-3)
    out = [layers[0]]
    for f in layers[1:]:
        out.append(f @ out[-1])
    return torch.stack(out, -3)


def backward(prog: Program, lay: Layout, saved: Saved, grad_out: torch.Tensor,
             observables: Observables, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients ``(∂L/∂shared, ∂L/∂batched)`` of ``L = Σ grad_out · E`` in closed form: the
    adjoint method on dense matrices, then the Kronecker products and the Fourier terms
    differentiated by hand."""
    diagonal, _, twice = observables
    psi = saved.psi
    if psi.shape[0] != grad_out.shape[0]:  # type: ignore[union-attr]
        grad_out = grad_out.sum(0, keepdim=True)
    if diagonal:
        g_psi = psi * (grad_out @ twice)
    else:
        g_psi = 2 * (grad_out.mT.unsqueeze(-1) * saved.applied).sum(0)
    grads = TableGrads(lay.tables, batch, psi)  # type: ignore[arg-type]
    if lay.depth:
        g_psi = _layer_grads(prog, lay, saved, g_psi, grads)
    _prep_grads(prog, lay, saved, g_psi, grads)
    return grads.angles(saved.tables.phases)


def _layer_grads(prog: Program, lay: Layout, saved: Saved, g_psi: torch.Tensor,
                 grads: TableGrads) -> torch.Tensor:
    """Table gradients of the layers; returns ``∂L/∂ψ0``."""
    t, prefix, psi0 = lay.tensors, saved.prefix, saved.psi0
    u = prefix.select(-3, -1)  # type: ignore[union-attr]
    g_u = g_psi.mT @ psi0.conj()  # type: ignore[union-attr]
    g_psi0 = g_psi @ u.conj()
    # ∂L/∂F_l = S_{l+1}† ∂L/∂U P_{l-1}† with S_{l+1} = F_L ⋯ F_{l+1} = U P_l† (every layer is
    # unitary): no suffix products needed.
    depth = lay.depth
    eye = t["eye"].expand(*u.shape[:-2], 1, *u.shape[-2:])
    before = torch.cat([eye, prefix.narrow(-3, 0, depth - 1)], -3)  # type: ignore[union-attr]
    # One plain product for every layer (a broadcast one is slower).
    k = u.shape[-1]
    g_f = (prefix.reshape(-1, k) @ (u.mH @ g_u)).view(prefix.shape) @ before.mH  # type: ignore[union-attr]
    if t["mixers"] is not None:
        g_f = t["mixers"].mH @ g_f
    rest = others(saved.factors, saved.tables.shared, t["kron_others"])  # type: ignore[arg-type]
    grads.add(False, t["kron"], g_f.flatten(-2).unsqueeze(-1) * rest.conj())
    return g_psi0


def _prep_grads(prog: Program, lay: Layout, saved: Saved, g_psi0: torch.Tensor,
                grads: TableGrads) -> None:
    """Table gradients of the product-state preparation from ``∂L/∂ψ0``."""
    if not lay.prep_depth:
        return
    t, n = lay.tensors, prog.n
    if not lay.tables.per_row:
        g_psi0 = g_psi0.sum(0)
    lead = g_psi0.shape[:-1]
    rest = others(saved.product, saved.prep[-1], t["product_others"])  # type: ignore[arg-type]
    g_v = g_psi0.new_zeros(*lead, 2 * n).index_add_(
        -1, t["product"], (g_psi0.unsqueeze(-1) * rest.conj()).flatten(-2))
    if saved.prep_gates is not None:
        gate_grads = []
        for d in range(lay.prep_depth - 1, 0, -1):
            gates, v_in = saved.prep_gates.select(-4, d - 1), saved.prep[d - 1]
            g_col = g_v.view(*lead, n, 2, 1)
            gate_grads.append(g_col @ v_in.view(*lead, n, 1, 2).conj())
            g_v = (gates.mH @ g_col).view(*lead, 2 * n)
        grads.add(lay.tables.per_row, t["prep_rest"], torch.stack(gate_grads[::-1], -4))
    grads.add(lay.tables.per_row, t["prep0"], g_v)
