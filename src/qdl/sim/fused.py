"""The fused plan fed by two angle vectors, with its gradient in closed form.

:mod:`qdl.sim.plan` runs a circuit as a few fused items: blocks of single-qubit gates on up to
four wires, merged permutations, other gates one by one. Built from named angles with
autograd, the blocks' matrices cost a graph of a few hundred nodes, and going back through it
took most of a training step on 6 to 12 qubits. Here, when every parameterized gate is a
single-qubit gate with one angle (the tables of :mod:`qdl.sim.tables`):

* blocks of one shape (depth, width, batched or not) are built together: one gather from the
  tables, a product along each wire, one Kronecker gather;
* the blocks before the first multi-qubit gate act on ``|0...0>``: the state is the Kronecker
  product of their first columns (and ``|0>`` on the wires they leave alone);
* the backward pass is the adjoint sweep of :func:`qdl.sim.plan.sweep`, whose ``∂L/∂M`` per
  block (and ``∂L/∂ψ0``, taken apart into the prep blocks' columns) are turned into angle
  gradients by hand.

Shapes: states batch-last ``(2, ..., 2, B)`` as in :mod:`qdl.sim.core`; angles shared ``(m_s,)``
and per-row ``(B, m_b)``, real.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from qdl.circuit import Circuit
from qdl.observables import AnyObservable
from qdl.sim import tables
from qdl.sim.core import Bound, Step, gate_tensor, memo
from qdl.sim.measure import expectation, weighted_observables, z_matrix
from qdl.sim.plan import Block, Perm, PlanItem, Prep, plan_for, run, sweep
from qdl.sim.tables import TableGrads, Tables, gate_id, is_free, others

# Measured against the general adjoint, layer fwd+bwd, batch 32, W's circuit with L=2..8
# (python -m benchmarks.closed_form): 1.3-1.5x faster for 3-10 qubits, 1.3-1.4x at 12,
# 1.1-1.3x at 14, 0.9-1.05x at 16 (the simulation outweighs the autograd graph it saves);
# re-uploading 1.1-1.4x up to 8.
FUSED_QUBITS = 14
FUSED_BYTES = 2**28  # largest batch of states (with working copies) run without chunking


@dataclass(frozen=True)
class Program:
    """A circuit's fused plan with its single-qubit gates numbered for the tables (no
    tensors: cached per circuit).

    Attributes:
        n: qubits.
        items: the plan (:func:`qdl.sim.plan.plan_for`).
        steps: the parameterized gates' steps, in table order.
        constants: ``(c, 2, 2)`` constant single-qubit gates.
        blocks: per block (the Prep's first), per wire, its gate ids in the order they act.
        los: each block's first wire.
        n_prep: how many blocks form the plan's :class:`~qdl.sim.plan.Prep`.
        layouts: :class:`Layout` s by batching pattern, dtype and device.
        feeds: how stacked tensors feed the angles (filled by :mod:`qdl.grad`).
    """

    n: int
    items: tuple[PlanItem, ...]
    steps: tuple[Step, ...]
    constants: np.ndarray = field(compare=False)
    blocks: tuple[tuple[tuple[int, ...], ...], ...]
    los: tuple[int, ...]
    n_prep: int
    layouts: dict = field(default_factory=dict, compare=False)
    feeds: dict = field(default_factory=dict, compare=False)

    @property
    def identity(self) -> int:
        """The identity's gate id."""
        return len(self.steps) + len(self.constants)

    def fits(self, batch: int) -> bool:
        """Whether a batch runs at once (else the general path chunks it)."""
        return batch * 2**self.n * 16 * 8 <= FUSED_BYTES


def program(circuit: Circuit) -> Program | None:
    """The circuit's fused program, or ``None`` when this path does not apply (too many
    qubits, no parameterized gate, or one the tables do not take: a multi-qubit gate with a
    free angle, a single-qubit gate with several). Remembered per circuit.

    >>> p = program(Circuit(2).ry(0, "x").cx(0, 1).rz(1, "w"))
    >>> len(p.steps), p.n_prep, len(p.blocks)
    (2, 1, 2)
    """
    if circuit.n_qubits > FUSED_QUBITS or circuit.n_qubits == 0:
        return None
    return memo(circuit, "fused", lambda: _compile(plan_for(circuit), circuit.n_qubits))


def _compile(items: tuple[PlanItem, ...], n: int) -> Program | None:
    params: list[Step] = []
    constants: list[np.ndarray] = []
    blocks: list[list[list[int]]] = []
    los: list[int] = []
    n_prep = 0
    for item in items:
        if isinstance(item, Step) and (is_free(item) or "_live_" in item.op.name):
            return None
        if not isinstance(item, Block | Prep):
            continue
        found = item.blocks if isinstance(item, Prep) else (item,)
        n_prep += len(found) if isinstance(item, Prep) else 0
        for block in found:
            chains = [[gate_id(s, params, constants) for s in chain] for chain in block.per_wire]
            if any(g is None for chain in chains for g in chain):
                return None
            blocks.append(chains)  # type: ignore[arg-type]
            los.append(block.lo)
    if not params:
        return None
    final = tuple(tuple(tuple(tables.final_id(g, len(params)) for g in chain)
                        for chain in chains) for chains in blocks)
    return Program(n, items, tuple(params), np.array(constants).reshape(-1, 2, 2), final,
                   tuple(los), n_prep)


@dataclass(frozen=True)
class Group:
    """Blocks of one shape built together.

    Attributes:
        prep: the blocks act on ``|0...0>``: only their first columns are built.
        batched: they read the per-row table.
        depth: gates per wire (shorter chains padded with the identity).
        width: wires per block.
        members: the blocks' positions in ``program.blocks``.
        index: entries of the table, ``(depth, count, width, 4)`` flat (depth first: each
            depth's gates are then one contiguous tensor, multiplied without a copy).
        kron: ``(K*K, width)`` flat (``(K, width)`` for ``prep``): entry ``(i, j)`` of the
            Kronecker product is the product over wires ``w`` of entry
            ``4w + 2 bit_w(i) + bit_w(j)`` of the wires' matrices.
        kron_others: for ``prep``, its leave-one-out index
            (:func:`qdl.sim.tables.leave_one_out`; ``None``: products instead).
        trace: otherwise, the entries of a ``K×K`` matrix summed in its partial trace down to
            each wire, ``(width, 2, 2, K/2)`` flat (:func:`_trace_pattern`).
    """

    prep: bool
    batched: bool
    depth: int
    width: int
    members: tuple[int, ...]
    index: torch.Tensor
    kron: torch.Tensor
    kron_others: torch.Tensor | None
    trace: torch.Tensor | None


@dataclass(frozen=True)
class Layout:
    """A program's tables and groups for one batching pattern, dtype and device.

    Attributes:
        tables: how the angles become tables (:mod:`qdl.sim.tables`).
        groups: the blocks by shape.
        where: per block, its group and position in it.
        segments: the preparation's factors in wire order: a prep block's position in
            ``program.blocks``, or ``|0...0>`` on a run of wires no prep block covers
            ``(1, 2**width)``.
        constant: the tensors of the plan's other items (permutations, constant gates).
    """

    tables: Tables
    groups: tuple[Group, ...]
    where: tuple[tuple[int, int], ...]
    segments: tuple[int | torch.Tensor, ...]
    constant: tuple[torch.Tensor | None, ...]


def layout(prog: Program, batched: tuple[bool, ...], dtype: torch.dtype,
           device: torch.device) -> Layout:
    """The program's :class:`Layout` for gates batched as ``batched`` (one flag per
    parameterized gate), built once per pattern, dtype and device."""
    return tables.remembered_layout(prog, batched, dtype, device, _make_layout)


def _cells(prog: Program, k: int) -> np.ndarray:
    """Block ``k``'s gate ids ``(depth, width)``, chains padded with the identity."""
    chains = prog.blocks[k]
    depth = max(len(c) for c in chains)
    return np.array([[c[d] if d < len(c) else prog.identity for c in chains]
                     for d in range(depth)], dtype=int)


def _make_layout(prog: Program, batched: tuple[bool, ...], dtype: torch.dtype,
                 device: torch.device) -> Layout:
    is_b = np.zeros(prog.identity + 1, dtype=bool)
    is_b[:len(batched)] = batched
    cells = [_cells(prog, k) for k in range(len(prog.blocks))]
    shapes: dict[tuple[bool, bool, int, int], list[int]] = {}
    for k, c in enumerate(cells):
        shapes.setdefault((k < prog.n_prep, bool(is_b[c].any()), *c.shape), []).append(k)
    per_row = [c for c in cells if is_b[c].any()]
    tab = tables.tables(prog.steps, prog.constants, batched, bool(per_row),
                        all(is_b[c].all() for c in per_row), dtype, device)

    def as_index(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(a.reshape(-1), dtype=torch.long, device=device)

    groups, where = [], [(0, 0)] * len(cells)
    for (prep, is_batched, depth, width), members in shapes.items():
        rows = tab.rows_b if is_batched else tab.rows_s
        ids = np.stack([cells[k] for k in members], 1)  # (depth, count, width)
        kron = _kron_pattern(width, prep)
        for i, k in enumerate(members):
            where[k] = (len(groups), i)
        # Per-row prep blocks multiply their factors instead of gathering each one's others:
        # the gathered copy (width - 1 times the factors, per row) cost more than the simulation.
        groups.append(Group(prep, is_batched, depth, width, tuple(members),
                            as_index(4 * rows[ids][..., None] + np.arange(4)), as_index(kron),
                            tables.leave_one_out(kron, device) if prep and not is_batched
                            else None, None if prep else as_index(_trace_pattern(width))))
    constant = tuple(item.tensor(Bound({}, (), dtype, device)) if isinstance(item, Perm) else
                     gate_tensor(item, Bound({}, (), dtype, device))
                     if isinstance(item, Step) else None for item in prog.items)
    return Layout(tab, tuple(groups), tuple(where), _segments(prog, dtype, device), constant)


def _segments(prog: Program, dtype: torch.dtype, device: torch.device
              ) -> tuple[int | torch.Tensor, ...]:
    """The preparation's factors in wire order (see :class:`Layout`)."""
    starts = {prog.los[k]: k for k in range(prog.n_prep)}
    out: list[int | torch.Tensor] = []
    wire = 0
    while wire < prog.n:
        k = starts.get(wire)
        if k is not None:
            out.append(k)
            wire += len(prog.blocks[k])
            continue
        stop = min([lo for lo in starts if lo > wire], default=prog.n)
        zero = torch.zeros(1, 2**(stop - wire), dtype=dtype, device=device)
        zero[0, 0] = 1
        out.append(zero)
        wire = stop
    return tuple(out)


def _kron_pattern(width: int, column: bool) -> np.ndarray:
    """``(K*K, width)``: entry ``(i, j)`` of a Kronecker product of ``width`` 2×2 matrices
    (flattened to ``width*4``) is the product of these entries, wire 0 most significant;
    with ``column`` only the first column's, ``(K, width)``."""
    k = 2**width
    bits = (np.arange(k)[:, None] >> (width - 1 - np.arange(width))[None, :]) & 1
    if column:
        return 4 * np.arange(width) + 2 * bits
    pattern = 4 * np.arange(width) + 2 * bits[:, None, :] + bits[None, :, :]
    return pattern.reshape(k * k, width)


def _trace_pattern(width: int) -> np.ndarray:
    """``(width, 2, 2, K/2)``: for wire ``w`` and bits ``a``, ``c``, the flat entries
    ``(r, s)`` of a ``K×K`` matrix with bit ``a`` (row) and ``c`` (column) at wire ``w`` and
    the same bits ``i`` elsewhere; their sum over ``i`` is the partial trace's ``(a, c)``."""
    k = 2**width
    rest = np.arange(k // 2)
    out = np.empty((width, 2, 2, k // 2), dtype=int)
    for w in range(width):
        shift = width - 1 - w
        high, low = (rest >> shift) << (shift + 1), rest & ((1 << shift) - 1)
        for a in (0, 1):
            for c in (0, 1):
                out[w, a, c] = (high | a << shift | low) * k + (high | c << shift | low)
    return out


@dataclass(frozen=True)
class Measured:
    """The observables, and their Z matrix (:func:`qdl.sim.measure.z_matrix`) when they have
    one: then an expectation and the adjoint's first bra are one product each."""

    observables: tuple[AnyObservable, ...]
    z: torch.Tensor | None


def observables_for(observables: tuple[AnyObservable, ...], prog: Program, lay: Layout
                    ) -> Measured:
    """The observables as :func:`forward` takes them."""
    fixed = lay.tables.tensors["fixed"]
    return Measured(observables, z_matrix(observables, prog.n, fixed.real.dtype, fixed.device))


@dataclass
class Saved:
    """What the backward pass needs from the forward pass."""

    tables: tables.Built
    tensors: list[torch.Tensor | None]  # the plan items' tensors
    built: list[tuple[torch.Tensor, ...]] = field(default_factory=list)  # per group
    columns: list[torch.Tensor] = field(default_factory=list)  # the prep factors (B', 2**w)
    prefixes: list[torch.Tensor] = field(default_factory=list)  # their products so far (.., B')
    psi: torch.Tensor | None = None


def forward(prog: Program, lay: Layout, shared: torch.Tensor, batched: torch.Tensor,
            measured: Measured, batch: int) -> tuple[torch.Tensor, Saved]:
    """``(E, saved)``: expectations ``(B, O)`` for angles ``shared`` ``(m_s,)`` and ``batched``
    ``(B, m_b)``. Plain torch operations: autograd can differentiate them too (second
    derivatives go that way)."""
    built = tables.build(lay.tables, shared, batched, batch)
    saved = Saved(built, list(lay.constant))
    for g in lay.groups:
        saved.built.append(_block_matrices(g, built.per_row if g.batched else built.shared))
    mats = [saved.built[g][-1].select(-2 if lay.groups[g].prep else -3, i)
            for g, i in lay.where]
    k = 0
    for i, item in enumerate(prog.items):
        if isinstance(item, Prep):
            saved.tensors[i] = _product_state(prog.n, lay, mats, batch, saved)
            k += len(item.blocks)
        elif isinstance(item, Block):
            saved.tensors[i] = mats[k]
            k += 1
    bound = Bound({}, (batch,), built.shared.dtype, built.shared.device)
    psi = run(prog.items, saved.tensors, prog.n, bound)
    saved.psi = psi
    if measured.z is None:
        return expectation(psi, measured.observables), saved
    flat = psi.reshape(-1, batch)
    return (flat.real**2 + flat.imag**2).T @ measured.z, saved


def _block_matrices(g: Group, table: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The blocks' matrices ``(.., count, K, K)`` (first columns ``(.., count, K)`` for
    ``prep``), last; before them the gates
    ``(.., depth, count, width, 2, 2)``, the products along each wire after each depth, and
    the Kronecker factors ``(.., count, K*K, width)``."""
    lead, count = table.shape[:-1], len(g.members)
    gates = table.index_select(-1, g.index).view(*lead, g.depth, count, g.width, 2, 2)
    m = gates[..., 0, :, :, :, :]
    prefixes = [m]
    for d in range(1, g.depth):
        m = gates[..., d, :, :, :, :] @ m
        prefixes.append(m)
    factors = m.reshape(*lead, count, g.width * 4).index_select(-1, g.kron)
    factors = factors.view(*lead, count, -1, g.width)
    k = 2**g.width
    return (gates, *prefixes, factors, factors.prod(-1).view(*lead, count, k, *(
        () if g.prep else (k,))))


def _product_state(n: int, lay: Layout, mats: list[torch.Tensor], batch: int,
                   saved: Saved) -> torch.Tensor:
    """The prep blocks' first columns (and ``|0>`` elsewhere) in a Kronecker product: a state
    ``(2, ..., 2, B)``, built batch-last (built batch-first, it reached the next item as a
    transposed view, which that item copied)."""
    for seg in lay.segments:
        col = seg if isinstance(seg, torch.Tensor) else mats[seg]
        saved.columns.append(col if col.dim() == 2 else col.unsqueeze(0))
    state = saved.columns[0].T
    saved.prefixes.append(state)
    for col in saved.columns[1:]:
        state = (state.unsqueeze(1) * col.T.unsqueeze(0)).flatten(0, 1)
        saved.prefixes.append(state)
    return state.reshape((2,) * n + (state.shape[-1],)).expand(*(2,) * n, batch)


def backward(prog: Program, lay: Layout, saved: Saved, grad_out: torch.Tensor,
             measured: Measured, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients ``(∂L/∂shared, ∂L/∂batched)`` of ``L = Σ grad_out · E``: the adjoint sweep,
    then the product state, the blocks' Kronecker products, the products along wires and the
    tables differentiated by hand."""
    psi = saved.psi
    if measured.z is None:
        lam = weighted_observables(psi, measured.observables, grad_out)  # type: ignore[arg-type]
    else:
        lam = psi * (measured.z @ grad_out.T.to(measured.z.dtype)).view(psi.shape)  # type: ignore[union-attr]
    wanted = [i for i, item in enumerate(prog.items) if isinstance(item, Block | Prep)]
    found = sweep(prog.items, saved.tensors, psi, lam, wanted)  # type: ignore[arg-type]
    g_mats = [found[i] for i in wanted if isinstance(prog.items[i], Block)]
    if prog.n_prep:
        g_mats = _column_grads(prog, lay, saved, found[0]) + g_mats  # type: ignore[operator,arg-type]
    grads = TableGrads(lay.tables, batch, psi)  # type: ignore[arg-type]
    for g, out in zip(lay.groups, saved.built, strict=True):
        picked = [g_mats[k] for k in g.members]
        g_m = torch.stack(picked, -2 if g.prep else -3)  # type: ignore[arg-type]
        _block_grads(g, out, g_m, grads)
    return grads.angles(saved.tables.phases)


def _column_grads(prog: Program, lay: Layout, saved: Saved, g_state: torch.Tensor
                  ) -> list[torch.Tensor]:
    """The prep blocks' first columns' gradients from the product state's gradient
    ``(2, ..., 2, B)``.

    A factor's gradient is ``Σ G[a, i, c] conj(L[a]) conj(R[c])``, ``L`` and ``R`` the products
    of the factors before and after it: the factors after are contracted one by one from the
    last. Batch-last, as multiply-and-sum: batched products of one row and one column per
    sample were the slower kernel, the more so the more qubits.
    """
    rows = saved.prefixes[-1].shape[-1]
    t = g_state.reshape(-1, g_state.shape[-1])
    if rows == 1:
        t = t.sum(1, keepdim=True)
    found: list[torch.Tensor] = [t] * prog.n_prep
    for s in range(len(lay.segments) - 1, -1, -1):
        col, seg = saved.columns[s], lay.segments[s]
        tw = t.view(-1, col.shape[-1], t.shape[-1])  # (before, this factor, rows)
        if not isinstance(seg, torch.Tensor):
            g_col = (tw * saved.prefixes[s - 1].conj().unsqueeze(1)).sum(0) if s else tw[0]
            batched = lay.groups[lay.where[seg][0]].batched
            found[seg] = g_col.T if batched else g_col.sum(1)
        if s:
            t = (tw * col.conj().T).sum(1)
    return found


def _block_grads(g: Group, out: tuple[torch.Tensor, ...], g_m: torch.Tensor,
                 grads: TableGrads) -> None:
    """Table gradients of a group of blocks from their matrices' gradients
    ``(.., count, K, K)`` (first columns' ``(.., count, K)`` for prep blocks).

    A block ``M = A_w ⊗ R`` (wire ``w``'s matrix and the others', all unitary) has
    ``∂L/∂A_w = Tr_R(∂L/∂M · M†) · A_w``: one product, one gather and one sum for every wire
    of every block, instead of each entry's product of the other wires' entries.
    """
    gates, prefixes, factors = out[0], out[1:-2], out[-2]
    p = prefixes[-1]
    if g.prep:
        flat = p.flatten(-3)
        rest = others(factors, flat, g.kron_others)
        g_p = torch.zeros_like(flat).index_add_(
            -1, g.kron, (g_m.unsqueeze(-1) * rest.conj()).flatten(-2))
        s = g_p.view(p.shape)
    else:
        h = (g_m @ out[-1].mH).flatten(-2).index_select(-1, g.trace)  # type: ignore[arg-type]
        s = h.view(*p.shape, -1).sum(-1) @ p
    gate_grads = []
    for d in range(g.depth - 1, 0, -1):
        # m_d = A_d m_{d-1}: ∂L/∂A_d = S m_{d-1}†, and S goes back through A_d†.
        gate_grads.append(s @ prefixes[d - 1].mH)
        s = gates[..., d, :, :, :, :].mH @ s
    gate_grads.append(s)
    grads.add(g.batched, g.index, torch.stack(gate_grads[::-1], -5))
