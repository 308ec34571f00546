"""Fused execution plans: a circuit compiled into few, large operations.

Shapes as in :mod:`qdl.sim.core`: states are ``(2, ..., 2, B)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch

from qdl.circuit import Circuit
from qdl.gates import GATES, Kind, fourier_terms
from qdl.sim.core import (
    Bound,
    Step,
    angles,
    apply,
    compile_circuit,
    gate_tensor,
    memo,
    tracing,
    zero_state,
)

FUSE_WIDTH = 4  # wires per fused single-qubit block: a 16 x 16 matrix applied as a GEMM


@dataclass(frozen=True)
class Block:
    """Single-qubit gates on the contiguous wires ``lo .. lo+width-1`` fused into one matrix.

    ``per_wire[i]`` lists the steps on wire ``lo + i`` in the order they act; the block's
    tensor is the Kronecker product of their per-wire products, ``(.., K, K)`` with
    ``K = 2**width`` (wire ``lo`` most significant). Applied as one GEMM on the state viewed
    as ``(2**lo, K, rest * B)``: one pass over memory instead of one per gate.
    """

    lo: int
    per_wire: tuple[tuple[Step, ...], ...]

    def apply(self, state: torch.Tensor, m: torch.Tensor, adjoint: bool = False,
              out: torch.Tensor | None = None) -> torch.Tensor:
        """``M`` (or ``M†``) on the block's wires; writes into ``out`` when given."""
        if adjoint:
            m = m.mT.conj()
        view = _block_view(state, self.lo, len(self.per_wire))
        if m.dim() == 3:
            view = view.reshape(*view.shape[:2], -1, m.shape[0])
            return torch.einsum("bij,xjrb->xirb", m, view).reshape(state.shape)
        dst = out.view(view.shape) if out is not None and out.is_contiguous() else None
        return torch.matmul(m, view, out=dst).view(state.shape)

    def grad(self, lam: torch.Tensor, phibar: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """``dL/dM = 2 Σ λ_i conj(φ_j)`` over the other wires (``phibar`` = conj(φ))."""
        k = len(self.per_wire)
        lv, pv = _block_view(lam, self.lo, k), _block_view(phibar, self.lo, k)
        if m.dim() == 3:
            shape = (*lv.shape[:2], -1, m.shape[0])
            return 2 * torch.einsum("xirb,xjrb->bij", lv.reshape(shape), pv.reshape(shape))
        g = lv @ pv.mT
        return 2 * (g.sum(0) if g.shape[0] > 1 else g[0])


@dataclass(frozen=True)
class Perm:
    """A run of permutation gates merged into one gather over all ``2**n`` basis states."""

    steps: tuple[Step, ...]
    n_qubits: int

    def tensor(self, bound: Bound) -> torch.Tensor:
        """Rows: the gather index and its inverse, ``(2, 2**n)`` int32 (int64 from 31 qubits)."""
        if self.n_qubits <= PERM_CACHE_QUBITS:
            return _full_perm(self.steps, self.n_qubits, bound.device)
        # Large indices go to a cache bounded in bytes: an lru_cache of them could pin
        # gigabytes, and rebuilding them on every call took most of a 22-qubit step.
        key = (self.steps, self.n_qubits, bound.device)
        index = _LARGE_PERMS.pop(key, None)
        if index is None:
            index = _full_perm.__wrapped__(self.steps, self.n_qubits, bound.device)
        _LARGE_PERMS[key] = index
        while sum(t.nbytes for t in _LARGE_PERMS.values()) > LARGE_PERM_CACHE_BYTES:
            del _LARGE_PERMS[next(iter(_LARGE_PERMS))]  # least recently used first
        return index

    def apply(self, state: torch.Tensor, index: torch.Tensor, adjoint: bool = False,
              out: torch.Tensor | None = None) -> torch.Tensor:
        flat = state.reshape(-1, state.shape[-1])
        dst = out.view(flat.shape) if out is not None and out.is_contiguous() else None
        return torch.index_select(flat, 0, index[int(adjoint)], out=dst).view(state.shape)


PERM_CACHE_QUBITS = 20  # cache gather indices (per device) up to this many qubits
LARGE_PERM_CACHE_BYTES = 2**28  # above that, keep at most 256 MiB of indices
_LARGE_PERMS: dict[tuple, torch.Tensor] = {}


@lru_cache(maxsize=64)
def _full_perm(steps: tuple[Step, ...], n: int, device: torch.device) -> torch.Tensor:
    # Built on the device itself (no host-to-device copy); cached up to PERM_CACHE_QUBITS.
    # int32 halves the index memory and the passes over it while 2**n fits in it, and the
    # inverse is one scatter, not a sort (python -m benchmarks.layout times both at 20 qubits).
    kind = torch.int32 if n < 31 else torch.int64
    index = torch.arange(2**n, dtype=kind, device=device).reshape((2,) * n + (1,))
    for step in steps:
        index = apply(index, step, None)
    index = index.reshape(-1)
    inverse = torch.empty_like(index)
    inverse[index.long()] = torch.arange(2**n, dtype=kind, device=device)
    return torch.stack([index, inverse])


@lru_cache(maxsize=16)
def _kron_index(width: int, device: torch.device) -> torch.Tensor:
    """For a ``width``-fold Kronecker product of 2×2 matrices flattened to ``(width * 4,)``:
    entry ``(i, j)`` of the product is the product over wires ``w`` of entry
    ``4w + 2 bit_w(i) + bit_w(j)``. Shape ``(width, K * K)``, wire 0 most significant."""
    k = 2**width
    i, j = torch.arange(k)[:, None], torch.arange(k)[None, :]
    rows = [4 * w + 2 * ((i >> (width - 1 - w)) & 1) + ((j >> (width - 1 - w)) & 1)
            for w in range(width)]
    return torch.stack([r.reshape(-1) for r in rows]).to(device)


def _kron(m: torch.Tensor) -> torch.Tensor:
    """Kronecker product over the wires of ``m`` ``(.., width, 2, 2)``: ``(.., K, K)``, wire 0
    most significant. One gather and ``width - 1`` products, however many blocks ``..``
    holds: a chain of pairwise products cost five torch calls per wire."""
    width = m.shape[-3]
    if width == 1:
        return m[..., 0, :, :]
    index = _kron_index(width, m.device)
    picked = m.reshape(*m.shape[:-3], 4 * width)[..., index.reshape(-1)]
    factors = picked.reshape(*m.shape[:-3], width, -1).unbind(-2)
    out = factors[0]
    for f in factors[1:]:
        out = out * f
    return out.reshape(*m.shape[:-3], 2**width, 2**width)


def _block_view(state: torch.Tensor, lo: int, width: int) -> torch.Tensor:
    """``(2**lo, 2**width, rest * B)``: the block's wires in the middle axis."""
    return state.reshape(2**lo, 2**width, -1)


@dataclass(frozen=True)
class Prep:
    """Leading single-qubit blocks acting on |0...0>, turned into a product state directly.

    Its tensor is the prepared state ``(2, ..., 2, B)``: the Kronecker product of each
    block's first column, built in about one pass over memory instead of one GEMM per block.
    Encoding layers (``ry(x_i)`` on every wire) usually sit here, batched.
    """

    blocks: tuple[Block, ...]
    n_qubits: int

    def grad(self, lam: torch.Tensor, phibar: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The prepared state's gradient: ``L = <ψ0|A|ψ0>`` with ``λ = A ψ0`` here, so
        ``∂L/∂Re ψ0 + i ∂L/∂Im ψ0 = 2λ``."""
        return 2 * lam


PlanItem = Block | Perm | Prep | Step


@lru_cache(maxsize=256)
def fuse(steps: tuple[Step, ...], n_qubits: int, width: int = FUSE_WIDTH, prep: bool = True
         ) -> tuple[PlanItem, ...]:
    """Fuse a step sequence into an equivalent, shorter plan.

    Single-qubit gates are collected per wire until a multi-qubit gate touches any wire, then
    emitted as :class:`Block` s of up to ``width`` contiguous wires (collected gates on other
    wires commute with the multi-qubit gate, so flushing them all keeps the order exact).
    Runs of two or more multi-qubit permutation gates become one :class:`Perm`. With
    ``prep`` (the run starts from ``|0...0>``) the leading blocks become a :class:`Prep`.
    """
    plan: list[PlanItem] = []
    pending: dict[int, list[Step]] = {}
    perms: list[Step] = []
    for step in steps:
        if len(step.wires) + len(step.controls) == 1:
            if perms:
                plan.extend(_flush_perms(perms, n_qubits))
            pending.setdefault(step.wires[0], []).append(step)
            continue
        plan.extend(_flush_blocks(pending, width))
        if step.kind is Kind.PERMUTATION:
            perms.append(step)
        else:
            plan.extend(_flush_perms(perms, n_qubits))
            plan.append(step)
    plan.extend(_flush_blocks(pending, width))
    plan.extend(_flush_perms(perms, n_qubits))
    lead = 0
    while prep and lead < len(plan) and isinstance(plan[lead], Block):
        lead += 1
    if lead:
        plan[:lead] = [Prep(tuple(plan[:lead]), n_qubits)]  # type: ignore[arg-type]
    return tuple(plan)


def _flush_blocks(pending: dict[int, list[Step]], width: int) -> list[PlanItem]:
    out: list[PlanItem] = []
    wires = sorted(pending)
    while wires:
        lo = wires[0]
        span = [w for w in wires if w < lo + width]
        hi = span[-1] + 1
        out.append(Block(lo, tuple(tuple(pending.get(w, ())) for w in range(lo, hi))))
        wires = wires[len(span):]
    pending.clear()
    return out


def _flush_perms(perms: list[Step], n_qubits: int) -> list[PlanItem]:
    out: list[PlanItem] = [Perm(tuple(perms), n_qubits)] if len(perms) > 1 else list(perms)
    perms.clear()
    return out


def sweep(items: Sequence[PlanItem], tensors: Sequence[torch.Tensor | None], psi: torch.Tensor,
          lam: torch.Tensor, wanted: Sequence[int]) -> list[torch.Tensor | None]:
    """The adjoint method's ``dL/dT = 2 Σ_rest λ_i conj(φ_j)`` (each item's ``grad``) for the
    items ``wanted`` (ascending) of a plan that ran to ``psi``, with ``lam = Σ_o g_o O_o ψ``
    (Jones & Gacon, arXiv:2009.02823); ``None`` for the others. (PyTorch's gradient for a
    complex input is ``∂L/∂Re + i ∂L/∂Im``.)

    The sweep keeps four states, whatever the depth: ``ψ``, ``φ`` (the state, un-computed item
    by item, kept conjugated), ``λ`` (carried back the same way) and one spare.
    """
    grads: list[torch.Tensor | None] = [None] * len(items)
    if not wanted:
        return grads
    # The sweep carries conj(φ): un-computing it is conj(U)† = Uᵀ, and the gradient
    # contraction λ_i·conj(φ_j) then needs no conjugated copy of a state per item.
    phi = psi.conj().resolve_conj()
    spare = torch.empty_like(phi)
    for i in range(len(items) - 1, wanted[0] - 1, -1):
        item, t = items[i], tensors[i]
        if i == 0 and isinstance(item, Prep):
            grads[0] = item.grad(lam, phi, t)  # type: ignore[arg-type]
            break
        tbar = None if t is None else t.conj()
        phi, spare = apply_into(phi, item, tbar, spare, adjoint=True)
        if i in wanted:
            grads[i] = item.grad(lam, phi, t)  # type: ignore[union-attr,arg-type]
        if i > wanted[0]:
            lam, spare = apply_into(lam, item, t, spare, adjoint=True)
    return grads


def plan_tensors(items: Sequence[PlanItem], bound: Bound) -> list[torch.Tensor | None]:
    """The tensor each plan item is applied with (``None`` for a single permutation gate).

    Block matrices are built for the whole plan at once: every single-qubit gate's 2×2 is
    computed in one vectorized call per gate type, then each block gathers its gates, multiplies
    along each wire and takes the Kronecker product across wires. A few dozen torch calls per
    circuit instead of a dozen per gate: that overhead, not arithmetic, dominates small circuits.
    """
    found = _blocks(items)
    built = iter(_block_tensors(found, bound)) if found.blocks else iter(())
    out: list[torch.Tensor | None] = []
    for item in items:
        if isinstance(item, Prep) and not item.blocks:
            out.append(bound.initial)  # the given initial state (see plan_for)
        elif isinstance(item, Prep):
            out.append(_product_state(item, [next(built) for _ in item.blocks], bound))
        elif isinstance(item, Block):
            out.append(next(built))
        else:
            out.append(item.tensor(bound) if isinstance(item, Perm) else gate_tensor(item, bound))
    return out


@dataclass(frozen=True)
class _Blocks:
    """A plan's blocks in order (Prep's included), their steps, and their layouts by
    (batchedness of each step, vectorize)."""

    blocks: tuple[Block, ...]
    steps: tuple[Step, ...]
    layouts: dict = field(default_factory=dict, compare=False)


_BLOCKS: dict[int, tuple[Sequence[PlanItem], _Blocks]] = {}


def _blocks(items: Sequence[PlanItem]) -> _Blocks:
    """The plan's :class:`_Blocks`, remembered per plan object (the entry keeps the plan
    alive, so its ``id`` cannot be reused): plans are memoized per circuit, and hashing their
    nested steps on every call cost more than building the blocks' tensors of a 4-qubit layer."""
    remember = isinstance(items, tuple) and not tracing()  # dynamo cannot trace id()
    hit = _BLOCKS.get(id(items)) if remember else None
    if hit is not None and hit[0] is items:
        return hit[1]
    blocks = tuple(b for item in items for b in (
        item.blocks if isinstance(item, Prep) else [item]) if isinstance(b, Block))
    found = _Blocks(blocks, tuple(s for b in blocks for chain in b.per_wire for s in chain))
    if remember:
        if len(_BLOCKS) > 512:
            _BLOCKS.clear()
        _BLOCKS[id(items)] = (items, found)
    return found


def _product_state(prep: Prep, mats: Sequence[torch.Tensor], bound: Bound) -> torch.Tensor:
    """Kronecker product of the blocks' first columns (|0> on uncovered wires)."""
    zero = torch.tensor([[1.0], [0.0]], dtype=bound.dtype, device=bound.device)
    columns: dict[int, torch.Tensor] = {}
    for block, m in zip(prep.blocks, mats, strict=True):
        col = m[..., :, 0]
        columns[block.lo] = col.T if col.dim() == 2 else col[:, None]
    state, wire = torch.ones(1, 1, dtype=bound.dtype, device=bound.device), 0
    while wire < prep.n_qubits:
        col = columns.get(wire, zero)
        state = (state[:, None, :] * col[None, :, :]).reshape(-1, max(state.shape[-1],
                                                                         col.shape[-1]))
        wire += round(math.log2(col.shape[0]))
    state = state.reshape((2,) * prep.n_qubits + (state.shape[-1],))
    return state.expand(*state.shape[:-1], bound.batch)


@dataclass(frozen=True)
class _Layout:
    """How the 2×2 tables of a plan's blocks are built and gathered (no tensors: cached).

    ``groups`` are ``(key, step positions, batched)``: key ``"fourier"`` collects every
    one-parameter gate, whatever its type, built from :func:`qdl.gates.fourier_terms` in one
    vectorized call; other keys are gate names built by their own function. ``shapes`` maps a
    block shape ``(depth, width, batched)`` to its blocks and their indices into the table.
    """

    groups: tuple[tuple[str, tuple[int, ...], bool], ...]
    shapes: tuple[tuple[tuple[int, int, bool], tuple[int, ...], tuple[int, ...]], ...]
    fourier: tuple[tuple[np.ndarray, np.ndarray], ...]  # per batchedness: λ, C
    tensors: dict = field(default_factory=dict, compare=False)  # (is_b, dtype, device) -> -iλ, C

    def fourier_tensors(self, is_b: bool, dtype: torch.dtype, device: torch.device
                        ) -> tuple[torch.Tensor, torch.Tensor]:
        """``-iλ`` and ``C`` of the batched or unbatched Fourier group as tensors, converted
        once per dtype and device."""
        key = (is_b, dtype, device)
        if key not in self.tensors:
            lam, mats = self.fourier[is_b]
            self.tensors[key] = (torch.as_tensor(-1j * lam, dtype=dtype, device=device),
                                 torch.as_tensor(mats, dtype=dtype, device=device))
        return self.tensors[key]


def _layout(steps: tuple[Step, ...], blocks: tuple[Block, ...], batched: tuple[bool, ...],
            vectorize: bool) -> _Layout:
    """The layout of ``blocks`` (whose ``steps`` these are); without ``vectorize`` (under
    torch.compile / torch.func, which cannot trace the numpy fit behind the Fourier terms) one
    group per gate name."""
    groups: dict[tuple[str, bool], list[int]] = {}
    for j, step in enumerate(steps):
        vector = vectorize and fourier_terms(step.op.name) is not None
        key = "fourier" if vector else step.op.name
        groups.setdefault((key, batched[j]), []).append(j)
    position: dict[int, tuple[bool, int]] = {}
    sizes = {False: 0, True: 0}
    for (_, is_b), members in groups.items():
        position.update({j: (is_b, sizes[is_b] + i) for i, j in enumerate(members)})
        sizes[is_b] += len(members)
    identity = sizes[False]  # the unbatched table ends with the identity
    shapes: dict[tuple[int, int, bool], tuple[list[int], list[int]]] = {}
    j = 0
    for k, block in enumerate(blocks):
        width, depth = len(block.per_wire), max(len(c) for c in block.per_wire)
        cells = [[(False, identity)] * width for _ in range(depth)]
        for w, chain in enumerate(block.per_wire):
            for t in range(len(chain)):
                cells[t][w] = position[j]
                j += 1
        is_b = any(b for row in cells for b, _ in row)
        # A batched block reads the batched table: its batched gates first, then the rest.
        index = [pos + (0 if b or not is_b else sizes[True]) for row in cells for b, pos in row]
        members, indices = shapes.setdefault((depth, width, is_b), ([], []))
        members.append(k)
        indices.extend(index)
    fourier = []
    for is_b in (False, True) if vectorize else ():
        names = [steps[j].op.name for j in groups.get(("fourier", is_b), [])]
        terms = [fourier_terms(n) for n in names]
        k = max((len(t[0]) for t in terms), default=1)  # type: ignore[index]
        lam = np.zeros((len(names), k))
        mats = np.zeros((len(names), k, 2, 2), dtype=np.complex128)
        for i, (values, c) in enumerate(terms):  # type: ignore[misc]
            lam[i, :len(values)], mats[i, :len(values)] = values, _as_matrix(c)
        fourier.append((lam, mats))
    return _Layout(tuple((key, tuple(m), b) for (key, b), m in groups.items()),
                   tuple((sh, tuple(m), tuple(i)) for sh, (m, i) in shapes.items()),
                   tuple(fourier))  # type: ignore[arg-type]


def _as_matrix(c: np.ndarray) -> np.ndarray:
    """Fourier terms of a diagonal gate, ``(K, 2)``, as matrices ``(K, 2, 2)``."""
    return c if c.ndim == 3 else np.einsum("ki,ij->kij", c, np.eye(2))


def _block_tensors(found: _Blocks, bound: Bound) -> list[torch.Tensor]:
    values = [angles(s, bound) for s in found.steps]
    key = (tuple(any(v.dim() for v in vals) for vals in values), not tracing())
    layout = found.layouts.get(key)
    if layout is None:
        layout = found.layouts[key] = _layout(found.steps, found.blocks, *key)
    blocks = found.blocks
    tables: dict[bool, list[torch.Tensor]] = {False: [], True: []}
    for key, members, is_b in layout.groups:
        vals = [values[j] for j in members]
        if key == "fourier":
            terms = layout.fourier_tensors(is_b, bound.dtype, bound.device)
            tables[is_b].append(_fourier_matrices(vals, terms, is_b, bound))
        else:
            tables[is_b].append(_group_matrices(key, vals, is_b, bound))
    table_u = torch.cat([*tables[False], _eye(bound.dtype, bound.device)], -3)
    table_all = torch.cat([*tables[True], table_u.expand(bound.batch, *table_u.shape)], -3
                          ) if tables[True] else None
    out: list[torch.Tensor] = [table_u] * len(blocks)
    # Blocks of the same shape are assembled together: one gather, one product chain and one
    # Kronecker chain for all of them (a layer of n qubits is n/4 such blocks).
    for (depth, width, is_b), members, index in layout.shapes:
        mats = _assemble(table_all if is_b else table_u, index,  # type: ignore[arg-type]
                         len(members), depth, width)
        for k, m in zip(members, mats.unbind(-3), strict=True):
            out[k] = m
    return out


@lru_cache(maxsize=64)
def _eye(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.eye(2, dtype=dtype, device=device)[None]


def _fourier_matrices(values: list[list[torch.Tensor]], terms: tuple[torch.Tensor, torch.Tensor],
                      is_batched: bool, bound: Bound) -> torch.Tensor:
    """``Σ_k exp(-iθλ_k) C_k`` for every one-parameter gate at once: ``(.., m, 2, 2)``;
    ``terms`` are ``-iλ`` ``(m, K)`` and ``C`` ``(m, K, 2, 2)``."""
    lam, mats = terms
    col = [v[0] if not is_batched or v[0].shape == (bound.batch,) else
           v[0].expand(bound.batch) for v in values]
    phase = torch.exp(torch.stack(col, -1)[..., None] * lam)
    # Broadcast multiply-and-sum, not einsum: a third of the autograd nodes for these sizes.
    return (phase[..., None, None] * mats).sum(-3)


def _assemble(table: torch.Tensor, index: Sequence[int], count: int, depth: int, width: int
              ) -> torch.Tensor:
    """Gather ``count`` blocks' gates as ``(.., count, depth, width, 2, 2)``, multiply along
    depth, take the Kronecker product across wires: ``(.., count, K, K)``."""
    chain = table.index_select(-3, torch.tensor(index, device=table.device))
    layers = chain.reshape(*chain.shape[:-3], count, depth, width, 2, 2).unbind(-4)
    m = layers[0]
    for layer in layers[1:]:
        # A 2×2 product as broadcast multiply-and-sum: matmul's broadcasting adds ~7 autograd
        # nodes per product, this adds 4.
        m = (layer[..., :, :, None] * m[..., None, :, :]).sum(-2)
    return _kron(m)


def _group_matrices(name: str, values: list[list[torch.Tensor]], is_batched: bool,
                    bound: Bound) -> torch.Tensor:
    """2×2 matrices of ``len(values)`` gates named ``name``: ``(m, 2, 2)`` or ``(B, m, 2, 2)``."""
    spec = GATES[name]
    m = len(values)
    if spec.kind is Kind.PERMUTATION:
        mat = torch.eye(2, dtype=bound.dtype, device=bound.device)[list(spec.perm)]
    else:
        cols = []
        for k in range(spec.num_params):
            col = [v[k] for v in values]
            if is_batched:
                col = [c.expand(bound.batch) for c in col]
            cols.append(torch.stack(col, -1))
        mat = spec.fn(cols).to(device=bound.device, dtype=bound.dtype)  # type: ignore[misc]
        if spec.kind is Kind.DIAGONAL:
            mat = torch.diag_embed(mat)
    shape = ((bound.batch,) if is_batched else ()) + (m, 2, 2)
    return mat.expand(shape)


def apply_into(
    state: torch.Tensor, item: PlanItem, tensor: torch.Tensor | None,
    spare: torch.Tensor | None, adjoint: bool = False, owned: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Apply ``item`` writing into ``spare`` where it can; returns ``(state, next spare)``.

    When the result went into the spare, the old state becomes the next spare (unless it is
    not ours to overwrite). Measured at n=16, a fresh 2**n-sized tensor per gate costs page
    faults that double a GEMM's time; two buffers in turn avoid them.
    """
    new = item.apply(state, tensor, adjoint, out=spare)  # type: ignore[union-attr,arg-type]
    if spare is not None and new.data_ptr() == spare.data_ptr():
        spare = state if owned and state.is_contiguous() else torch.empty_like(new)
    return new, spare


def plan_for(circuit: Circuit, initial: bool = False) -> tuple[PlanItem, ...]:
    """The fused execution plan of a circuit (cached on its op sequence).

    With ``initial`` the run starts from a given state: the plan opens with an empty
    :class:`Prep` whose tensor is that state (``bound.initial`` in :func:`plan_tensors`), so
    the adjoint method returns its gradient like any other input's.
    """
    if initial:
        return memo(circuit, "plan-from-state", lambda: (
            Prep((), circuit.n_qubits),
            *fuse(compile_circuit(circuit), circuit.n_qubits, prep=False)))
    return memo(circuit, "plan", lambda: fuse(compile_circuit(circuit), circuit.n_qubits))


def run(
    items: Sequence[PlanItem], tensors: Sequence[torch.Tensor | None], n_qubits: int,
    bound: Bound
) -> torch.Tensor:
    """Apply steps or plan items to ``bound.initial`` (default |0...0>); returns the state
    ``(2, ..., 2, B)``. A leading :class:`Prep` item supplies the starting state instead."""
    owned = not (items and isinstance(items[0], Prep)) and bound.initial is None
    if items and isinstance(items[0], Prep):
        state, items, tensors = tensors[0], items[1:], tensors[1:]
    elif bound.initial is not None:
        state = bound.initial
    else:
        state = zero_state(n_qubits, bound.batch, bound.dtype, bound.device)
    spare = None if torch.is_grad_enabled() else torch.empty(
        state.shape, dtype=state.dtype, device=state.device)
    for item, tensor in zip(items, tensors, strict=True):
        state, spare = apply_into(state, item, tensor, spare, owned=owned)
        owned = True
    return state


def final_state(circuit: Circuit, bound: Bound) -> torch.Tensor:
    """The circuit's output state ``(2, ..., 2, B)`` with autograd through every angle (and
    ``bound.initial``)."""
    plan = plan_for(circuit, bound.initial is not None)
    return run(plan, plan_tensors(plan, bound), circuit.n_qubits, bound)
