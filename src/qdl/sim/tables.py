"""Tables of single-qubit gate matrices built from two angle vectors, with their gradient.

The closed-form paths (:mod:`qdl.sim.dense`, :mod:`qdl.sim.fused`) number a circuit's
single-qubit gates: ``0 .. P-1`` the parameterized ones (one angle each, a gate with
Fourier terms, :func:`qdl.gates.fourier_terms`), ``P .. P+c-1`` the constant ones, ``P+c`` the
identity. Angles come as a shared vector ``(m_s,)`` and a per-row one ``(B, m_b)``, real.
Every gate's 2×2 matrix is four consecutive entries of a flat table:

* the shared table ``(R_s*4,)``: the shared gates, then the constants and the identity;
* the per-row table ``(B, R_b*4)``: the per-row gates, then (unless ``per_row_only``) the
  shared table again, so that a per-row reader gathers from one tensor.

A gate's matrix is ``Σ_k exp(-iθλ_k) C_k``: all gates of a table in one product. Its gradient
goes the other way in one product too (:meth:`TableGrads.angles`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from qdl.gates import fourier_terms
from qdl.sim.core import Bound, Step, apply, gate_tensor


def is_free(step: Step) -> bool:
    """Whether the step has an angle that depends on a parameter."""
    return any(p.symbols() for p in step.op.params)


def full_matrix(step: Step, n: int) -> np.ndarray | None:
    """A constant step's ``2**n × 2**n`` matrix (wire 0 most significant); ``None`` when it
    depends on a tensor that may change between calls (a trainable ``unitary``)."""
    if "_live_" in step.op.name:
        return None
    k = 2**n
    bound = Bound({}, (), torch.complex128, torch.device("cpu"))
    eye = torch.eye(k, dtype=torch.complex128).reshape((2,) * n + (k,))
    out = apply(eye, step, gate_tensor(step, bound))
    return None if out.requires_grad else out.reshape(k, k).numpy()


def gate_id(step: Step, params: list[Step], constants: list[np.ndarray]) -> int | None:
    """Register a single-qubit gate: its id (constants get ``-1 - index`` until the number of
    parameterized gates is known), or ``None`` when no table takes it (several free angles, no
    Fourier terms, a live matrix)."""
    if not is_free(step):
        m = full_matrix(dataclasses.replace(step, wires=(0,)), 1)
        if m is None:
            return None
        constants.append(m)
        return -len(constants)
    if len(step.op.params) != 1 or fourier_terms(step.op.name) is None:
        return None
    params.append(step)
    return len(params) - 1


def final_id(gid: int, n_params: int) -> int:
    """A gate id from :func:`gate_id` once all ``n_params`` parameterized gates are known."""
    return gid if gid >= 0 else n_params + (-gid - 1)


@dataclass(frozen=True)
class Tables:
    """How a program's angles become tables, for one batching pattern, dtype and device.

    Attributes:
        shared: gate ids of the shared parameterized gates (their order in the shared
            vector).
        batched: those of the per-row ones.
        rows_s: per gate id, its row in the shared table (``-1``: not there).
        rows_b: per gate id, its row in the per-row table.
        per_row: the per-row table is built.
        per_row_only: the per-row table holds the per-row gates only.
        tensors: ``-iλ``, ``C`` and ``∂C/∂θ`` of both groups, and the constant rows.
    """

    shared: tuple[int, ...]
    batched: tuple[int, ...]
    rows_s: np.ndarray = field(compare=False)
    rows_b: np.ndarray = field(compare=False)
    per_row: bool
    per_row_only: bool
    tensors: dict[str, torch.Tensor] = field(compare=False)


def tables(steps: tuple[Step, ...], constants: np.ndarray, batched: tuple[bool, ...],
           per_row: bool, per_row_only: bool, dtype: torch.dtype, device: torch.device
           ) -> Tables:
    """The :class:`Tables` of parameterized gates ``steps`` (batched as ``batched``) and
    ``constants`` ``(c, 2, 2)``."""
    shared = tuple(i for i, b in enumerate(batched) if not b)
    per = tuple(i for i, b in enumerate(batched) if b)
    n_ids = len(steps) + len(constants) + 1
    rows_s = np.full(n_ids, -1)
    rows_s[list(shared)] = np.arange(len(shared))
    rows_s[len(steps):] = len(shared) + np.arange(n_ids - len(steps))
    rows_b = np.where(rows_s >= 0, rows_s + len(per), -1)
    rows_b[list(per)] = np.arange(len(per))
    t: dict[str, torch.Tensor] = {}
    for name, ids in (("shared", shared), ("batched", per)):
        lam, c = _fourier(steps, ids)
        c4 = c.reshape(len(ids), c.shape[1], 4)
        t[name + "_lam"] = torch.as_tensor(-1j * lam, dtype=dtype, device=device)
        t[name + "_c"] = torch.as_tensor(c4, dtype=dtype, device=device)
        # ∂C/∂θ terms, transposed for conj(∂L/∂T) @ them: (m, 4, J).
        t[name + "_dc"] = torch.as_tensor((-1j * lam[..., None] * c4).transpose(0, 2, 1),
                                          dtype=dtype, device=device).contiguous()
    fixed = np.concatenate([constants.reshape(-1, 2, 2), np.eye(2)[None]])
    t["fixed"] = torch.as_tensor(fixed.reshape(-1), dtype=dtype, device=device)
    return Tables(shared, per, rows_s, rows_b, per_row, per_row_only, t)


def _fourier(steps: tuple[Step, ...], ids: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``λ`` ``(m, J)`` and ``C`` ``(m, J, 2, 2)`` of the gates ``ids`` (padded with zeros)."""
    terms = [fourier_terms(steps[i].op.name) for i in ids]
    j = max((len(t[0]) for t in terms if t is not None), default=1)
    lam = np.zeros((len(ids), j))
    c = np.zeros((len(ids), j, 2, 2), dtype=complex)
    for i, t in enumerate(terms):
        values, mats = t  # type: ignore[misc]
        lam[i, :len(values)] = values
        c[i, :len(values)] = mats if mats.ndim == 3 else np.einsum("ki,ij->kij", mats,
                                                                     np.eye(2))
    return lam, c


def remembered_layout(prog: Any, batched: tuple[bool, ...], dtype: torch.dtype,
                      device: torch.device, make: Callable[..., Any]) -> Any:
    """``make(prog, batched, dtype, device)``, built once per batching pattern, dtype and
    device and kept in ``prog.layouts`` (the dense and the fused programs alike)."""
    key = (batched, dtype, device)
    if key not in prog.layouts:
        prog.layouts[key] = make(prog, batched, dtype, device)
    return prog.layouts[key]


@dataclass
class Built:
    """Tables for one call: the phases ``e^{-iθλ}`` (shared ``(m_s, J)``, per-row
    ``(B, m_b, J)``), the shared table ``(R_s*4,)`` and the per-row one ``(B, R_b*4)``."""

    phases: tuple[torch.Tensor, torch.Tensor]
    shared: torch.Tensor
    per_row: torch.Tensor | None


def build(tab: Tables, shared: torch.Tensor, batched: torch.Tensor, batch: int) -> Built:
    """The tables for angles ``shared`` ``(m_s,)`` and ``batched`` ``(B, m_b)``. Plain torch
    operations: autograd can differentiate them too."""
    t = tab.tensors
    phase_s = torch.exp(shared.unsqueeze(-1) * t["shared_lam"])
    table_s = torch.cat([(phase_s.unsqueeze(-2) @ t["shared_c"]).view(-1), t["fixed"]])
    phase_b = torch.exp(batched.unsqueeze(-1) * t["batched_lam"])
    table_b = None
    if tab.per_row:
        table_b = (phase_b.unsqueeze(-2) @ t["batched_c"]).view(batch, -1)
        if not tab.per_row_only:
            table_b = torch.cat([table_b, table_s.expand(batch, -1)], -1)
    return Built((phase_s, phase_b), table_s, table_b)


class TableGrads:
    """Accumulates ``∂L/∂T`` for the shared table and the per-row one, then turns them into
    angle gradients."""

    def __init__(self, tab: Tables, batch: int, like: torch.Tensor):
        self.tab, self.batch = tab, batch
        self.n_b = len(tab.batched) * 4
        n_s = 4 * len(tab.shared) + tab.tensors["fixed"].numel()  # the shared table's length
        self.g_s = like.new_zeros(n_s)
        self.g_b = like.new_zeros(batch, self.n_b + (0 if tab.per_row_only else n_s)) \
            if tab.per_row else None

    def add(self, is_batched: bool, index: torch.Tensor, values: torch.Tensor) -> None:
        """Add ``values`` to the entries ``index`` of the per-row or the shared table."""
        if is_batched:
            self.g_b.index_add_(1, index, values.reshape(self.batch, -1))  # type: ignore[union-attr]
        else:
            self.g_s.index_add_(0, index, values.reshape(-1))

    def angles(self, phases: tuple[torch.Tensor, torch.Tensor]
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """``∂L/∂θ = Re Σ_k conj(∂L/∂T)·(−iλ_k) e^{−iθλ_k} C_k`` for both tables."""
        g_s, t, m_s = self.g_s, self.tab.tensors, len(self.tab.shared)
        if self.g_b is not None and not self.tab.per_row_only:
            g_s = g_s + self.g_b[:, self.n_b:].sum(0)
        g = g_s[:m_s * 4].view(m_s, 1, 4).conj() @ t["shared_dc"]
        shared = (g.squeeze(-2) * phases[0]).sum(-1).real
        if self.g_b is None or not self.n_b:
            return shared, phases[1].real.sum(-1) * 0
        g = self.g_b[:, :self.n_b].reshape(self.batch, -1, 1, 4).conj() @ t["batched_dc"]
        return shared, (g.squeeze(-2) * phases[1]).sum(-1).real


OTHERS_INDEX = 2**20  # largest leave-one-out index kept (else products, see others)


def leave_one_out(index: np.ndarray, device: torch.device) -> torch.Tensor | None:
    """For an index ``(..., n)`` of factors, ``(..., n, n-1)``: each factor's others, so that
    the products of all factors but one are one gather and one product (``None`` when that
    index would exceed ``OTHERS_INDEX`` entries)."""
    n = index.shape[-1]
    if index.size * (n - 1) > OTHERS_INDEX:
        return None
    keep = ~np.eye(n, dtype=bool)
    out = np.broadcast_to(index[..., None, :], (*index.shape, n))[..., keep]
    return torch.as_tensor(out.reshape(-1), dtype=torch.long, device=device)


def others(values: torch.Tensor, source: torch.Tensor, index: torch.Tensor | None
           ) -> torch.Tensor:
    """``out_j = Π_{i≠j} values_i`` over the last axis of ``values`` (gathered from ``source``
    by a :func:`leave_one_out` ``index`` when there is one, else from products of the factors
    before and after each one; never by division, so zero entries are fine).

    >>> v = torch.tensor([2.0, 3.0, 0.0])
    >>> others(v, v, None).tolist()
    [0.0, 0.0, 6.0]
    """
    n = values.shape[-1]
    if index is not None:
        return source.index_select(-1, index).view(*values.shape, n - 1).prod(-1)
    f = values.unbind(-1)
    if n == 1:
        return torch.ones_like(values)
    # Products of the factors before (left) and after (right) each one: 3n - 4 products, no
    # gathered copies (for per-row blocks the gathered index costs n - 1 times the factors).
    left, right = [f[0]], [f[-1]]
    for i in range(1, n - 1):
        left.append(left[-1] * f[i])
        right.append(right[-1] * f[n - 1 - i])
    out = [right[-1]] + [left[i - 1] * right[n - 2 - i] for i in range(1, n - 1)] + [left[-1]]
    return torch.stack(out, -1)
