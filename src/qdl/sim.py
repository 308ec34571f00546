"""Batched statevector simulation on torch: a few pure functions over new tensors.

Shapes: inside the simulator a state is ``(2, ..., 2, B)``: one axis per wire (wire ``w`` on
axis ``w``, wire 0 the most significant bit of a flat index) and the flattened batch
``B >= 1`` last. Batch-last makes a gate on some wires one GEMM whose columns run over the
other wires *and* the batch, and a basis permutation a gather of contiguous rows; measured
here both are 3-6x faster than with the batch first. Public results are batch-first. Dtype
``complex64`` (default) or ``complex128``; gate angles use the matching real dtype.

Gates are applied without ``2**n``-sized matrices: diagonal gates multiply by a phase vector,
permutation gates (``x``, ``cx``, ``swap``, ``ccx`` ...) move indices, general gates contract
a ``2**k × 2**k`` matrix with the target axes, controlled general gates touch only the
control-is-one slice.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from qdl.circuit import Circuit, Op
from qdl.errors import QDLError
from qdl.gates import GATES, Kind, controlled_diag, controlled_perm
from qdl.observables import Observable, PauliTerm

REAL = {torch.complex64: torch.float32, torch.complex128: torch.float64}
STATE_COPIES = 4  # a run keeps the state, its update and (adjoint) two more


@dataclass(frozen=True)
class Step:
    """One op compiled for the simulator.

    Attributes:
        op: the circuit op.
        kind: how it is applied.
        wires: wires the gate tensor spans (controls included for diagonal/permutation).
        controls: control wires handled by slicing (general gates only).
        perm: basis permutation over ``wires`` for permutation steps.
    """

    op: Op
    kind: Kind
    wires: tuple[int, ...]
    controls: tuple[int, ...]
    perm: tuple[int, ...] | None

    @property
    def trainable(self) -> bool:
        """Whether the gate's angles depend on a named parameter."""
        return any(p.symbols() for p in self.op.params)


@lru_cache(maxsize=256)
def _compile(ops: tuple[Op, ...]) -> tuple[Step, ...]:
    steps = []
    for op in ops:
        spec = GATES[op.name]
        base = GATES[spec.base] if spec.base else spec
        nc = op.num_controls
        if base.kind is Kind.GENERAL:
            steps.append(Step(op, base.kind, op.wires[nc:], op.wires[:nc], None))
        else:
            perm = controlled_perm(base.perm, nc) if base.perm else None
            steps.append(Step(op, base.kind, op.wires, (), perm))
    return tuple(steps)


def compile_circuit(circuit: Circuit) -> tuple[Step, ...]:
    """The circuit's ops as simulator steps (cached on the op sequence).

    >>> [s.kind.value for s in compile_circuit(Circuit(2).h(0).cx(0, 1))]
    ['general', 'permutation']
    """
    return _compile(circuit.ops)


@dataclass(frozen=True)
class Bound:
    """Parameters checked and converted for one run.

    Attributes:
        env: name -> real tensor of shape ``()`` or ``(B,)``.
        batch_shape: the broadcast batch shape users see (``()`` when unbatched).
        dtype: complex dtype of the state.
        device: where the run happens.
    """

    env: dict[str, torch.Tensor]
    batch_shape: tuple[int, ...]
    dtype: torch.dtype
    device: torch.device

    @property
    def batch(self) -> int:
        """Flattened batch size ``B`` (1 when unbatched)."""
        return math.prod(self.batch_shape)


def bind(
    circuit: Circuit,
    params: Mapping[str, torch.Tensor | float] | None,
    dtype: torch.dtype = torch.complex64,
    device: torch.device | str | None = None,
) -> Bound:
    """Check ``params`` against the circuit's parameters and broadcast their batch shapes.

    Also checks, before anything is allocated, that the state fits in free memory.

    >>> bind(Circuit(1).rx(0, "a"), {"a": torch.zeros(3)}).batch_shape
    (3,)
    """
    if dtype not in REAL:
        raise QDLError(f"dtype must be torch.complex64 or torch.complex128, got {dtype}")
    params = dict(params or {})
    names = circuit.parameters
    missing = [n for n in names if n not in params]
    extra = [n for n in params if n not in names]
    if missing:
        raise QDLError(f"missing value for parameter(s) {', '.join(missing)}; the circuit's "
                       f"parameters are {list(names)}")
    if extra:
        raise QDLError(f"unknown parameter(s) {', '.join(map(str, extra))}; the circuit's "
                       f"parameters are {list(names)}")
    real = REAL[dtype]
    if device is None:
        device = next((v.device for v in params.values() if isinstance(v, torch.Tensor)), "cpu")
    device = torch.device(device)
    tensors = {n: _as_real(n, v, real, device) for n, v in params.items()}
    if tensors:
        # One finiteness check for all parameters; the slow search names the culprit.
        flat = torch.cat([t.detach().reshape(-1) for t in tensors.values()])
        if not bool(torch.isfinite(flat).all()):
            bad = next(n for n, t in tensors.items() if not torch.isfinite(t.detach()).all())
            raise QDLError(f"parameter {bad!r} contains NaN or inf values")
    try:
        batch_shape = torch.broadcast_shapes(*(t.shape for t in tensors.values()))
    except RuntimeError:
        shapes = {n: tuple(t.shape) for n, t in tensors.items()}
        raise QDLError(f"parameter batch shapes do not broadcast: {shapes}") from None
    env = {n: t.expand(batch_shape).reshape(-1) if t.dim() else t for n, t in tensors.items()}
    bound = Bound(env, tuple(batch_shape), dtype, device)
    check_memory(circuit.n_qubits, bound.batch, dtype, device)
    return bound


def _as_real(name: str, value: object, real: torch.dtype, device: torch.device) -> torch.Tensor:
    if isinstance(value, np.ndarray | np.generic):
        value = torch.from_numpy(np.asarray(value))
    if isinstance(value, bool) or not isinstance(value, int | float | torch.Tensor):
        raise QDLError(f"parameter {name!r} must be a float or a real tensor, got "
                       f"{type(value).__name__}")
    # A Python float goes straight to the target dtype: as_tensor would round it to float32.
    t = value if isinstance(value, torch.Tensor) else torch.tensor(float(value), dtype=real)
    if t.is_complex():
        raise QDLError(f"parameter {name!r} must be real, got a complex tensor")
    return t.to(device=device, dtype=real)


def check_memory(n_qubits: int, batch: int, dtype: torch.dtype, device: torch.device) -> None:
    """Raise ``QDLError`` before allocating when the run cannot fit in free memory.

    >>> check_memory(40, 1, torch.complex64, torch.device("cpu"))
    Traceback (most recent call last):
    qdl.errors.QDLError: a 40-qubit state with batch 1 in complex64 needs 32.0 TiB ...
    """
    item = torch.empty((), dtype=dtype).element_size()
    state = batch * item * 2.0**n_qubits
    need = STATE_COPIES * state
    free = _free_bytes(device)
    if need > free:
        raise QDLError(
            f"a {n_qubits}-qubit state with batch {batch} in {str(dtype).split('.')[-1]} "
            f"needs {_size(need)} ({STATE_COPIES} states of {_size(state)}) but only "
            f"{_size(free)} is free on {device}; reduce the qubit count or the batch size"
        )


def _free_bytes(device: torch.device) -> float:
    if device.type == "cuda":
        return float(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        return float(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def _size(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if nbytes < 1024 or unit == "PiB":
            return f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f} PiB"


def zero_state(
    n_qubits: int, batch: int = 1, dtype: torch.dtype = torch.complex64, device: object = None
) -> torch.Tensor:
    """|0...0> for a batch: shape ``(2, ..., 2, batch)``.

    >>> zero_state(2).reshape(-1).tolist()
    [(1+0j), 0j, 0j, 0j]
    """
    state = torch.zeros((2,) * n_qubits + (batch,), dtype=dtype, device=device)
    state.view(-1, batch)[0] = 1
    return state


def angles(step: Step, bound: Bound) -> list[torch.Tensor]:
    """The step's evaluated angles, each a real tensor of shape ``()`` or ``(B,)``."""
    real = REAL[bound.dtype]
    return [_value(p.evaluate(bound.env), real, bound.device) for p in step.op.params]


def gate_tensor(
    step: Step, bound: Bound, values: Sequence[torch.Tensor] | None = None
) -> torch.Tensor | None:
    """The step's diagonal ``(.., K)`` or matrix ``(.., K, K)``, batched as its angles.

    Leading dimension ``B`` only when some angle is batched. ``None`` for permutations.
    ``values`` overrides the angles (parameter shifts use it).
    """
    if step.kind is Kind.PERMUTATION:
        return None
    spec = GATES[step.op.name]
    base = GATES[spec.base] if spec.base else spec
    values = angles(step, bound) if values is None else list(values)
    values = list(torch.broadcast_tensors(*values)) if values else values
    t = base.fn(values).to(device=bound.device, dtype=bound.dtype)  # type: ignore[misc]
    if step.kind is Kind.DIAGONAL and len(step.wires) > base.num_wires:
        t = controlled_diag(t, len(step.wires) - base.num_wires)
    return t


def _value(v: object, real: torch.dtype, device: torch.device) -> torch.Tensor:
    return v if isinstance(v, torch.Tensor) else torch.tensor(v, dtype=real, device=device)


def apply(state: torch.Tensor, step: Step, tensor: torch.Tensor | None, adjoint: bool = False
          ) -> torch.Tensor:
    """Apply one step (or its inverse) to ``state`` of shape ``(2, ..., 2, B)``."""
    if step.kind is Kind.PERMUTATION:
        perm = step.perm
        if adjoint:
            perm = tuple(sorted(range(len(perm)), key=perm.__getitem__))  # type: ignore[arg-type]
        return _apply_perm(state, perm, step.wires)  # type: ignore[arg-type]
    if adjoint:
        tensor = tensor.conj() if step.kind is Kind.DIAGONAL else tensor.mT.conj()  # type: ignore[union-attr]
    if step.kind is Kind.DIAGONAL:
        return state * _diag_view(tensor, step.wires, state.dim())  # type: ignore[arg-type]
    if not step.controls:
        return _apply_matrix(state, tensor, step.wires)  # type: ignore[arg-type]
    index = _control_index(step.controls, state.dim())
    out = state.clone()
    out[index] = _apply_matrix(state[index], tensor, step.wires)  # type: ignore[arg-type]
    return out


def _control_index(controls: Sequence[int], ndim: int) -> tuple[slice, ...]:
    index = [slice(None)] * ndim
    for c in controls:
        index[c] = slice(1, 2)
    return tuple(index)


def _to_front(state: torch.Tensor, wires: Sequence[int]) -> torch.Tensor:
    """The state with ``wires`` moved to the front, as ``(2**k, rest, B)``."""
    moved = state.movedim(list(wires), list(range(len(wires))))
    return moved.reshape(2 ** len(wires), -1, state.shape[-1])


def _from_front(flat: torch.Tensor, like: torch.Tensor, wires: Sequence[int]) -> torch.Tensor:
    k = len(wires)
    shape = (2,) * k + tuple(d for a, d in enumerate(like.shape) if a not in wires)
    return flat.reshape(shape).movedim(list(range(k)), list(wires))


def _apply_matrix(state: torch.Tensor, m: torch.Tensor, wires: Sequence[int]) -> torch.Tensor:
    flat = _to_front(state, wires)
    if m.dim() == 2:
        out = (m @ flat.reshape(flat.shape[0], -1)).reshape(flat.shape)
    else:
        out = torch.einsum("bij,jrb->irb", m, flat)
    return _from_front(out, state, wires)


def _diag_view(d: torch.Tensor, wires: Sequence[int], ndim: int) -> torch.Tensor:
    """Reshape a diagonal ``(K,)`` or ``(B, K)`` to broadcast against the state."""
    k = len(wires)
    batch = d.shape[0] if d.dim() == 2 else 1
    d = d.reshape((batch,) + (2,) * k)
    order = sorted(range(k), key=lambda i: wires[i])
    d = d.permute(*(i + 1 for i in order), 0)
    shape = [1] * (ndim - 1) + [batch]
    for w in wires:
        shape[w] = 2
    return d.reshape(shape)


def _apply_perm(state: torch.Tensor, perm: Sequence[int], wires: Sequence[int]) -> torch.Tensor:
    if len(wires) == 1:
        return state.flip(wires[0])
    index = torch.tensor(perm, device=state.device)
    return _from_front(_to_front(state, wires).index_select(0, index), state, wires)


FUSE_WIDTH = 4  # wires per fused single-qubit block: a 16 x 16 matrix applied as a GEMM


@dataclass(frozen=True)
class Block:
    """Single-qubit gates on the contiguous wires ``lo .. lo+width-1`` fused into one matrix.

    ``per_wire[i]`` lists the steps on wire ``lo + i`` in the order they act; the block's
    tensor is the Kronecker product of their per-wire products, ``(.., K, K)`` with
    ``K = 2**width`` (wire ``lo`` most significant). Applied as one GEMM on the state viewed
    as ``(B, 2**lo, K, rest)``: one pass over memory instead of one per gate.
    """

    lo: int
    per_wire: tuple[tuple[Step, ...], ...]

    @property
    def wires(self) -> tuple[int, ...]:
        return tuple(range(self.lo, self.lo + len(self.per_wire)))

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
        """Rows: the gather index and its inverse, ``(2, 2**n)`` int64."""
        return _full_perm(self.steps, self.n_qubits).to(bound.device)

    def apply(self, state: torch.Tensor, index: torch.Tensor, adjoint: bool = False,
              out: torch.Tensor | None = None) -> torch.Tensor:
        flat = state.reshape(-1, state.shape[-1])
        dst = out.view(flat.shape) if out is not None and out.is_contiguous() else None
        return torch.index_select(flat, 0, index[int(adjoint)], out=dst).view(state.shape)


@lru_cache(maxsize=64)
def _full_perm(steps: tuple[Step, ...], n: int) -> torch.Tensor:
    index = torch.arange(2**n).reshape((2,) * n + (1,))
    for step in steps:
        index = apply(index, step, None)
    index = index.reshape(-1)
    return torch.stack([index, torch.argsort(index)])


def _kron(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Kronecker product of (optionally batched) square matrices, ``a`` most significant."""
    ka, kb = a.shape[-1], b.shape[-1]
    out = a[..., :, None, :, None] * b[..., None, :, None, :]
    return out.reshape(*out.shape[:-4], ka * kb, ka * kb)


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


PlanItem = Block | Perm | Prep | Step


@lru_cache(maxsize=256)
def fuse(steps: tuple[Step, ...], n_qubits: int, width: int = FUSE_WIDTH) -> tuple[PlanItem, ...]:
    """Fuse a step sequence into an equivalent, shorter plan.

    Single-qubit gates are collected per wire until a multi-qubit gate touches any wire, then
    emitted as :class:`Block` s of up to ``width`` contiguous wires (collected gates on other
    wires commute with the multi-qubit gate, so flushing them all keeps the order exact).
    Runs of two or more multi-qubit permutation gates become one :class:`Perm`.
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
    while lead < len(plan) and isinstance(plan[lead], Block):
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


def item_grad(lam: torch.Tensor, phibar: torch.Tensor, item: PlanItem, t: torch.Tensor
              ) -> torch.Tensor:
    """``dL/dT = 2 Σ_rest λ_i conj(φ_j)`` for the tensor ``t`` of a plan item, shaped like it.

    ``lam`` is the loss-weighted bra and ``phibar`` the conjugated state, both just before the
    item in the adjoint sweep. (PyTorch's gradient for a complex input is ``∂L/∂Re + i ∂L/∂Im``.)
    """
    if isinstance(item, Block):
        return item.grad(lam, phibar, t)
    if isinstance(item, Prep):
        # L = <ψ0|A|ψ0> with λ = A ψ0 here, so ∂L/∂Re ψ0 + i ∂L/∂Im ψ0 = 2λ.
        return 2 * lam
    if item.controls:
        index = _control_index(item.controls, lam.dim())
        lam, phibar = lam[index], phibar[index]
    lam, phibar = _to_front(lam, item.wires), _to_front(phibar, item.wires)
    batched = t.dim() == (1 if item.kind is Kind.DIAGONAL else 2) + 1
    if item.kind is Kind.DIAGONAL:
        g = (lam * phibar).sum(1)
        return 2 * (g.T if batched else g.sum(-1))
    if batched:
        return 2 * torch.einsum("irb,jrb->bij", lam, phibar)
    return 2 * (lam.reshape(lam.shape[0], -1) @ phibar.reshape(phibar.shape[0], -1).T)


def plan_tensors(items: Sequence[PlanItem], bound: Bound) -> list[torch.Tensor | None]:
    """The tensor each plan item is applied with (``None`` for a single permutation gate).

    Block matrices are built for the whole plan at once: every single-qubit gate's 2×2 is
    computed in one vectorized call per gate type, then each block gathers its gates, multiplies
    along each wire and takes the Kronecker product across wires. A few dozen torch calls per
    circuit instead of a dozen per gate: that overhead, not arithmetic, dominates small circuits.
    """
    blocks = [b for item in items for b in (item.blocks if isinstance(item, Prep) else [item])
              if isinstance(b, Block)]
    built = iter(_block_tensors(blocks, bound)) if blocks else iter(())
    out: list[torch.Tensor | None] = []
    for item in items:
        if isinstance(item, Prep):
            out.append(_product_state(item, [next(built) for _ in item.blocks], bound))
        elif isinstance(item, Block):
            out.append(next(built))
        else:
            out.append(item.tensor(bound) if isinstance(item, Perm) else gate_tensor(item, bound))
    return out


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


def _block_tensors(blocks: Sequence[Block], bound: Bound) -> list[torch.Tensor]:
    steps = [s for b in blocks for chain in b.per_wire for s in chain]
    values = [angles(s, bound) for s in steps]
    batched = [any(v.dim() for v in vals) for vals in values]
    groups: dict[tuple[str, bool], list[int]] = {}
    for j, step in enumerate(steps):
        groups.setdefault((step.op.name, batched[j]), []).append(j)
    eye = torch.eye(2, dtype=bound.dtype, device=bound.device)
    unbatched, batched_mats = [], []
    position: dict[int, tuple[bool, int]] = {}
    for (name, is_batched), members in groups.items():
        mats = _group_matrices(name, [values[j] for j in members], is_batched, bound)
        target = batched_mats if is_batched else unbatched
        offset = sum(m.shape[-3] for m in target)
        target.append(mats)
        position.update({j: (is_batched, offset + i) for i, j in enumerate(members)})
    table_u = torch.cat([*unbatched, eye[None]], -3)
    identity_u = table_u.shape[-3] - 1
    table_all = None
    if batched_mats:
        table_b = torch.cat(batched_mats, -3)
        table_all = torch.cat([table_b, table_u.expand(bound.batch, *table_u.shape)], -3)
    out, j = [], 0
    for block in blocks:
        depth = max(len(c) for c in block.per_wire)
        idx = [[identity_u] * len(block.per_wire) for _ in range(depth)]
        any_batched = False
        for w, chain in enumerate(block.per_wire):
            for t, _ in enumerate(chain):
                is_b, pos = position[j]
                any_batched |= is_b
                idx[t][w] = (pos, is_b)  # type: ignore[assignment]
                j += 1
        out.append(_assemble(idx, any_batched, table_u, table_all, identity_u))
    return out


def _assemble(idx: list[list], any_batched: bool, table_u: torch.Tensor,
              table_all: torch.Tensor | None, identity_u: int) -> torch.Tensor:
    """Gather a block's gates as ``(.., depth, width, 2, 2)``, multiply along depth, kron."""
    n_b = 0 if table_all is None else table_all.shape[1] - table_u.shape[0]
    flat = []
    for row in idx:
        for cell in row:
            pos, is_b = cell if isinstance(cell, tuple) else (cell, False)
            flat.append(pos if (is_b or not any_batched) else n_b + pos)
    index = torch.tensor(flat, device=table_u.device)
    table = table_all if any_batched else table_u
    chain = table.index_select(-3, index)
    layers = chain.reshape(*chain.shape[:-3], len(idx), len(idx[0]), 2, 2).unbind(-4)
    m = layers[0]
    for layer in layers[1:]:
        m = torch.matmul(layer, m)
    wires = m.unbind(-3)
    out = wires[0]
    for w in wires[1:]:
        out = _kron(out, w)
    return out


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


def item_apply(state: torch.Tensor, item: PlanItem, tensor: torch.Tensor | None,
               adjoint: bool = False, out: torch.Tensor | None = None) -> torch.Tensor:
    """Apply a plan item (or its inverse) to a state ``(2, ..., 2, B)``.

    Fused items write into ``out`` when given (the adjoint sweep reuses two buffers);
    single steps return a new tensor.
    """
    if isinstance(item, Step):
        return apply(state, item, tensor, adjoint)
    return item.apply(state, tensor, adjoint, out)  # type: ignore[arg-type]


def plan_for(circuit: Circuit) -> tuple[PlanItem, ...]:
    """The fused execution plan of a circuit (cached on its op sequence)."""
    return fuse(compile_circuit(circuit), circuit.n_qubits)


def run(
    items: Sequence[PlanItem], tensors: Sequence[torch.Tensor | None], n_qubits: int,
    bound: Bound
) -> torch.Tensor:
    """Apply steps or plan items to |0...0>; returns the state ``(2, ..., 2, B)``."""
    owned = not (items and isinstance(items[0], Prep))
    if owned:
        state = zero_state(n_qubits, bound.batch, bound.dtype, bound.device)
    else:
        state, items, tensors = tensors[0], items[1:], tensors[1:]
    # Without autograd, fused items write into a spare buffer and the old state becomes the
    # next spare: a fresh 2**n-sized tensor per gate costs page faults that, measured at
    # n=16, double the time of a GEMM. (The prepared input state is never overwritten.)
    spare = None if torch.is_grad_enabled() else torch.empty(
        state.shape, dtype=state.dtype, device=state.device)
    for item, tensor in zip(items, tensors, strict=True):
        new = item_apply(state, item, tensor, out=spare)
        if spare is not None and new.data_ptr() == spare.data_ptr():
            spare = state if owned and state.is_contiguous() else torch.empty_like(new)
        state, owned = new, True
    return state


def final_state(circuit: Circuit, bound: Bound) -> torch.Tensor:
    """The circuit's output state ``(2, ..., 2, B)`` with autograd through every angle."""
    plan = plan_for(circuit)
    return run(plan, plan_tensors(plan, bound), circuit.n_qubits, bound)


def apply_pauli(state: torch.Tensor, paulis: Sequence[tuple[int, str]]) -> torch.Tensor:
    """``P|ψ>`` for a Pauli word ``((wire, "X"|"Y"|"Z"), ...)`` on a batched state."""
    flips = [w for w, p in paulis if p in "XY"]
    out = state.flip(flips) if flips else state
    n_y = sum(p == "Y" for _, p in paulis)
    if any(p in "YZ" for _, p in paulis):
        # (Zψ)[b] = (-1)^b ψ[b] and (Yψ)[b] = i·(-1)^(1-b) ψ[1-b]: after the flip both are a
        # sign on the output bit b, with the i's collected once below.
        signs = torch.tensor([1.0, -1.0], dtype=state.real.dtype, device=state.device)
        for w, p in paulis:
            if p in "YZ":
                view = [1] * state.dim()
                view[w] = 2
                out = out * (signs if p == "Z" else -signs).reshape(view)
    if n_y:
        out = out * (1j**n_y)
    return out


ZMATRIX_MAX = 2**25  # entries; above this Z terms are reduced one by one


def _is_z(term: PauliTerm) -> bool:
    return all(p == "Z" for _, p in term.paulis)


@lru_cache(maxsize=32)
def _zmatrix(observables: tuple[Observable, ...], n: int, dtype: torch.dtype,
             device: torch.device) -> torch.Tensor:
    """``M[i, o] = Σ_t c_t Π_{w∈t} (−1)^{bit_w(i)}`` over the Z-only terms of observable o.

    With it every Z-type expectation is one product ``p @ M`` of the probabilities, and the
    adjoint's starting bra is ``ψ ⊙ (g @ Mᵀ)``: one pass instead of one per term.
    """
    index = torch.arange(2**n, device=device)
    signs = 1 - 2 * ((index[:, None] >> torch.arange(n - 1, -1, -1, device=device)) & 1)
    cols = []
    for obs in observables:
        col = torch.zeros(2**n, dtype=torch.float64, device=device)
        for term in filter(_is_z, obs.terms):
            wires = [w for w, _ in term.paulis]
            col += term.coeff * signs[:, wires].prod(-1).to(torch.float64)
        cols.append(col)
    return torch.stack(cols, -1).to(dtype)


def _use_zmatrix(n: int, observables: Sequence[Observable]) -> bool:
    return 2**n * len(observables) <= ZMATRIX_MAX and any(
        _is_z(t) for o in observables for t in o.terms)


def _batch_view(weights: torch.Tensor, ndim: int) -> torch.Tensor:
    """Per-batch values ``(B,)`` shaped to broadcast against a ``(2, ..., 2, B)`` state."""
    return weights.reshape((1,) * (ndim - 1) + (-1,))


def observable_apply(state: torch.Tensor, obs: Observable,
                     weights: torch.Tensor | None = None) -> torch.Tensor:
    """``O|ψ>`` (times per-batch ``weights`` of shape ``(B,)`` if given)."""
    out = torch.zeros_like(state)
    for term in obs.terms:
        out = out + term.coeff * apply_pauli(state, term.paulis)
    if weights is not None:
        out = out * _batch_view(weights, state.dim()).to(state.dtype)
    return out


def weighted_observables(state: torch.Tensor, observables: Sequence[Observable],
                         weights: torch.Tensor) -> torch.Tensor:
    """``Σ_o weights[:, o] · O_o|ψ>`` for weights ``(B, len(observables))``."""
    n = state.dim() - 1
    zfast = _use_zmatrix(n, observables)
    out = torch.zeros_like(state)
    if zfast:
        m = _zmatrix(tuple(observables), n, state.real.dtype, state.device)
        out = state * (m @ weights.to(m.dtype).T).reshape(state.shape)
    for k, obs in enumerate(observables):
        w = _batch_view(weights[:, k], state.dim()).to(state.dtype)
        for term in obs.terms:
            if not (zfast and _is_z(term)):
                out = out + (term.coeff * w) * apply_pauli(state, term.paulis)
    return out


def expectation(state: torch.Tensor, observables: Sequence[Observable]) -> torch.Tensor:
    """Exact ``<ψ|O|ψ>`` for each observable: shape ``(B, len(observables))``, real dtype."""
    n = state.dim() - 1
    flat = state.reshape(-1, state.shape[-1])
    zfast = _use_zmatrix(n, observables)
    if zfast:
        m = _zmatrix(tuple(observables), n, state.real.dtype, state.device)
        out = (flat.real**2 + flat.imag**2).T @ m
    else:
        out = torch.zeros(flat.shape[1], len(observables), dtype=state.real.dtype,
                          device=state.device)
    cols = []
    for k, obs in enumerate(observables):
        total = out[:, k]
        for term in obs.terms:
            if zfast and _is_z(term):
                continue
            if _is_z(term):
                total = total + term.coeff * _z_expectation(state, [w for w, _ in term.paulis])
            else:
                other = apply_pauli(state, term.paulis).reshape(flat.shape)
                total = total + term.coeff * (flat.conj() * other).sum(0).real
        cols.append(total)
    return torch.stack(cols, -1)


def _z_expectation(state: torch.Tensor, wires: Sequence[int]) -> torch.Tensor:
    p = probabilities(state, wires)
    if not wires:
        return p.sum(-1)
    index = torch.arange(2 ** len(wires), device=p.device)
    parity = torch.zeros_like(index)
    for k in range(len(wires)):
        parity ^= (index >> k) & 1
    return p @ (1 - 2 * parity).to(p.dtype)


def probabilities(state: torch.Tensor, wires: Sequence[int] | None = None) -> torch.Tensor:
    """Basis-state probabilities ``(B, 2**len(wires))`` over ``wires`` in the order given.

    >>> probabilities(zero_state(2), [1]).tolist()
    [[1.0, 0.0]]
    """
    n = state.dim() - 1
    wires = list(range(n)) if wires is None else list(wires)
    if len(set(wires)) != len(wires) or any(not 0 <= w < n for w in wires):
        raise QDLError(f"wires {wires} must be distinct qubits in 0..{n - 1}")
    p = state.real**2 + state.imag**2
    other = [a for a in range(n) if a not in wires]
    p = p.sum(other) if other else p
    kept = sorted(wires)
    p = p.permute(n - len(other), *(kept.index(w) for w in wires))
    return p.reshape(p.shape[0], -1)


def sample_indices(
    probs: torch.Tensor, shots: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``shots`` basis indices per batch row drawn from ``probs`` ``(B, K)``: ``(B, shots)``."""
    if not isinstance(shots, int) or isinstance(shots, bool) or shots < 1:
        raise QDLError(f"shots must be a positive int, got {shots!r}")
    p = probs.detach().to(torch.float64)
    p = p.clamp_min(0) / p.sum(-1, keepdim=True)
    return torch.multinomial(p.cpu(), shots, replacement=True, generator=generator).to(
        probs.device
    )


def bits(indices: torch.Tensor, n_bits: int) -> torch.Tensor:
    """Integer basis indices -> bits ``(..., n_bits)``, most significant first."""
    shifts = torch.arange(n_bits - 1, -1, -1, device=indices.device)
    return (indices[..., None] >> shifts) & 1


_ROTATE = {"X": ("h",), "Y": ("sdg", "h"), "Z": ()}


def shot_expectation(
    state: torch.Tensor,
    observables: Sequence[Observable],
    shots: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Estimates of ``<O>`` from ``shots`` samples per Pauli term: ``(B, len(observables))``.

    Each term is measured in its own basis (X via H, Y via S†·H), as hardware would.
    """
    state = state.detach()
    cols = []
    for obs in observables:
        total = torch.zeros(state.shape[-1], dtype=state.real.dtype, device=state.device)
        for term in obs.terms:
            if not term.paulis:
                total = total + term.coeff
                continue
            rotated = state
            for w, p in term.paulis:
                for g in _ROTATE[p]:
                    step = _compile((Op(g, (w,)),))[0]
                    base = GATES[g].fn([]).to(state.dtype) if GATES[g].fn else None  # type: ignore[misc]
                    rotated = apply(rotated, step, base)
            wires = [w for w, _ in term.paulis]
            idx = sample_indices(probabilities(rotated, wires), shots, generator)
            parity = bits(idx, len(wires)).sum(-1) % 2
            total = total + term.coeff * (1 - 2 * parity.to(total.dtype)).mean(-1)
        cols.append(total)
    return torch.stack(cols, -1)


def state(
    circuit: Circuit,
    params: Mapping[str, torch.Tensor | float] | None = None,
    *,
    dtype: torch.dtype = torch.complex64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The circuit's output statevector, shape ``(*batch, 2**n_qubits)``.

    Differentiable by autograd with respect to every parameter tensor.

    >>> state(Circuit(2).h(0).cx(0, 1)).abs().square().round(decimals=6).tolist()
    [0.5, 0.0, 0.0, 0.5]
    """
    bound = bind(circuit, params, dtype, device)
    psi = final_state(circuit, bound).reshape(2**circuit.n_qubits, bound.batch).T
    return psi.reshape(*bound.batch_shape, 2**circuit.n_qubits)


def probs(
    circuit: Circuit,
    params: Mapping[str, torch.Tensor | float] | None = None,
    wires: Sequence[int] | None = None,
    *,
    dtype: torch.dtype = torch.complex64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Probabilities of the basis states of ``wires`` (default all): ``(*batch, 2**k)``.

    >>> probs(Circuit(2).x(1), wires=[1]).tolist()
    [0.0, 1.0]
    """
    bound = bind(circuit, params, dtype, device)
    p = probabilities(final_state(circuit, bound), wires)
    return p.reshape(*bound.batch_shape, p.shape[-1])


def sample(
    circuit: Circuit,
    params: Mapping[str, torch.Tensor | float] | None = None,
    shots: int = 1000,
    wires: Sequence[int] | None = None,
    *,
    seed: int | None = None,
    dtype: torch.dtype = torch.complex64,
) -> torch.Tensor:
    """Measured bits ``(*batch, shots, len(wires))`` (int64, wire order as given).

    >>> sample(Circuit(2).x(0), shots=3, seed=1).tolist()
    [[1, 0], [1, 0], [1, 0]]
    """
    bound = bind(circuit, params, dtype)
    wires = list(range(circuit.n_qubits)) if wires is None else list(wires)
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    with torch.no_grad():
        p = probabilities(final_state(circuit, bound), wires)
    out = bits(sample_indices(p, shots, generator), len(wires))
    return out.reshape(*bound.batch_shape, shots, len(wires))
