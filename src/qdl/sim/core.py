"""Batched statevector simulation on torch: a few pure functions over new tensors.

Shapes: inside the simulator a state is ``(2, ..., 2, B)``: one axis per wire (wire ``w`` on
axis ``w``, wire 0 the most significant bit of a flat index) and the flattened batch
``B >= 1`` last. Batch-last makes a gate on some wires one GEMM whose columns run over the
other wires *and* the batch, and a basis permutation a gather of contiguous rows
(``python -m benchmarks.layout`` times both against batch-first). Public results are
batch-first. Dtype
``complex64`` (default) or ``complex128``; gate angles use the matching real dtype.

Gates are applied without ``2**n``-sized matrices: diagonal gates multiply by a phase vector,
permutation gates (``x``, ``cx``, ``swap``, ``ccx`` ...) move indices, general gates contract
a ``2**k × 2**k`` matrix with the target axes, controlled general gates touch only the
control-is-one slice.
"""

from __future__ import annotations

import math
import os
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

import numpy as np
import torch

from qdl.circuit import Circuit, Op
from qdl.errors import QDLError
from qdl.gates import GATES, Kind, controlled_diag, controlled_perm

T = TypeVar("T")
REAL = {torch.complex64: torch.float32, torch.complex128: torch.float64}
# State-sized buffers a run may hold at its peak, for the memory guard. The adjoint sweep
# keeps four states (ψ, conj(φ), λ, a spare), but GEMM outputs, transposed copies and gather
# indices come on top: peak RSS measured 12-16 states for an adjoint step at 22 qubits.
# Backprop keeps one state per fused block besides, which the guard does not count.
STATE_COPIES = 16
SMALL_BYTES = 2**26  # allocations up to 64 MiB are not checked against free memory


def check_dtype(dtype: torch.dtype) -> torch.dtype:
    """The simulation dtype, checked: amplitudes are ``torch.complex64`` or
    ``torch.complex128`` (a key of :data:`REAL`).

    Args:
        dtype: the requested amplitude dtype.

    Returns:
        ``dtype`` itself.

    Raises:
        QDLError: for any other dtype (a real dtype such as ``torch.float64`` included).

    >>> check_dtype(torch.complex128)
    torch.complex128
    >>> check_dtype(torch.float64)
    Traceback (most recent call last):
    qdl.errors.QDLError: dtype must be torch.complex64 or torch.complex128, got torch.float64
    """
    # Checked as a torch.dtype first: a dict lookup would raise TypeError for an unhashable
    # argument instead of this message.
    if not isinstance(dtype, torch.dtype) or dtype not in REAL:
        raise QDLError(f"dtype must be torch.complex64 or torch.complex128, got {dtype}")
    return dtype


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

    def apply(self, state: torch.Tensor, t: torch.Tensor | None, adjoint: bool = False,
              out: torch.Tensor | None = None) -> torch.Tensor:
        """The step (or its inverse) on ``state`` ``(2, ..., 2, B)``: a new tensor (``out``
        is for fused items, which write into it)."""
        return apply(state, self, t, adjoint)

    def grad(self, lam: torch.Tensor, phibar: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``dL/dT = 2 Σ_rest λ_i conj(φ_j)`` for the step's tensor ``t``, shaped like it
        (``phibar`` = conj(φ); see :func:`qdl.sim.plan.sweep`)."""
        if self.controls:
            index = control_index(self.controls, lam.dim())
            lam, phibar = lam[index], phibar[index]
        lam, phibar = to_front(lam, self.wires), to_front(phibar, self.wires)
        batched = t.dim() == (1 if self.kind is Kind.DIAGONAL else 2) + 1
        if self.kind is Kind.DIAGONAL:
            g = (lam * phibar).sum(1)
            return 2 * (g.T if batched else g.sum(-1))
        if batched:
            return 2 * torch.einsum("irb,jrb->bij", lam, phibar)
        return 2 * (lam.reshape(lam.shape[0], -1) @ phibar.reshape(phibar.shape[0], -1).T)


@lru_cache(maxsize=256)
def compile_ops(ops: tuple[Op, ...]) -> tuple[Step, ...]:
    """Simulator steps of a sequence of ops (kinds, wires and permutations resolved), cached.

    >>> compile_ops((Op("cx", (0, 1)),))[0].perm
    (0, 1, 3, 2)
    """
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
    return memo(circuit, "steps", lambda: compile_ops(circuit.ops))


_MEMO: dict[int, tuple[weakref.ref, int, dict]] = {}


def memo(circuit: Circuit, key: object, make: Callable[[], T]) -> T:
    """``make()``, remembered for this circuit object until gates are appended to it.

    The lru caches behind it key on the op sequence, and hashing ~100 frozen ops (angle
    expressions included) on every call cost more than a 4-qubit simulation; a circuit only
    ever grows, so its identity and length identify its contents.
    """
    if tracing():  # dynamo cannot carry id()-keyed state across a trace; it traces make()
        return make()
    entry = _MEMO.get(id(circuit))
    if entry is None or entry[0]() is not circuit or entry[1] != len(circuit):
        ident = id(circuit)
        entry = (weakref.ref(circuit, lambda _, ident=ident: _MEMO.pop(ident, None)),
                 len(circuit), {})
        _MEMO[ident] = entry
    values = entry[2]
    if key not in values:
        values[key] = make()
    return values[key]


@dataclass(frozen=True)
class Bound:
    """Parameters checked and converted for one run.

    Attributes:
        env: name -> real tensor of shape ``()`` or ``(B,)``.
        batch_shape: the broadcast batch shape users see (``()`` when unbatched).
        dtype: complex dtype of the state.
        device: where the run happens.
        initial: the state the circuit acts on instead of ``|0...0>``, batch-last: a
            statevector ``(2,)*n + (B,)`` or a density matrix ``(2,)*2n + (B,)``; ``None``
            for ``|0...0>``.
    """

    env: dict[str, torch.Tensor]
    batch_shape: tuple[int, ...]
    dtype: torch.dtype
    device: torch.device
    initial: torch.Tensor | None = None

    @property
    def batch(self) -> int:
        """Flattened batch size ``B`` (1 when unbatched)."""
        return math.prod(self.batch_shape)

    def chunks(self, size: int) -> list[Bound]:
        """The batch split into consecutive pieces of at most ``size`` items (flat batches).

        >>> b = bind(Circuit(1).rx(0, "a"), {"a": torch.zeros(5)})
        >>> [c.batch_shape for c in b.chunks(2)]
        [(2,), (2,), (1,)]
        """
        if size >= self.batch or not self.batch_shape:
            return [self]
        return [Bound({n: t[i:i + size] if t.dim() else t for n, t in self.env.items()},
                      (min(size, self.batch - i),), self.dtype, self.device,
                      None if self.initial is None else self.initial[..., i:i + size])
                for i in range(0, self.batch, size)]


def bind(
    circuit: Circuit,
    params: Mapping[str, torch.Tensor | float] | None,
    dtype: torch.dtype = torch.complex64,
    device: torch.device | str | None = None,
    check: bool = True,
    initial_state: torch.Tensor | None = None,
    density: bool = False,
) -> Bound:
    """Check ``params`` against the circuit's parameters and broadcast their batch shapes.

    ``initial_state`` (statevectors ``(*batch, 2**n)``, or with ``density`` also density
    matrices ``(*batch, 2**n, 2**n)``) is checked by :func:`check_state` and its batch
    dimensions broadcast with the parameters'.

    Also checks (unless ``check`` is false: nothing will be simulated here, e.g. for an
    external backend), before anything is allocated, that the state fits in free memory.

    >>> bind(Circuit(1).rx(0, "a"), {"a": torch.zeros(3)}).batch_shape
    (3,)
    """
    check_dtype(dtype)
    params = dict(params or {})
    _check_names(circuit, params)
    if device is None:
        device = next((v.device for v in (*params.values(), initial_state)
                       if isinstance(v, torch.Tensor)), "cpu")
    device = check_device(device)
    tensors = {n: _as_real(n, v, REAL[dtype], device) for n, v in params.items()}
    n = circuit.n_qubits
    start = None if initial_state is None else check_state(initial_state, n, dtype, device,
                                                           density)
    matrix = start is not None and is_density(start, n, density)
    shapes = {k: t.shape for k, t in tensors.items()}
    if start is not None:
        shapes["initial_state"] = start.shape[:-2] if matrix else start.shape[:-1]
    try:
        # Most calls mix scalars with one batch shape: no need for torch's (slow) general rule.
        distinct = {s for s in shapes.values() if s}
        batch_shape = tuple(distinct.pop() if len(distinct) == 1 else
                            torch.broadcast_shapes(*shapes.values()))
    except RuntimeError:
        raise QDLError(f"parameter batch shapes do not broadcast: "
                       f"{ {k: tuple(v) for k, v in shapes.items()} }") from None
    # Each batched parameter is expanded to the whole batch below (a broadcast view of 10**11
    # elements costs nothing until then): count that, and the outputs, before allocating.
    batch = math.prod(batch_shape)
    copies = 2 + sum(1 for t in tensors.values() if t.dim())
    check_allocation(copies * 8.0 * batch, f"{len(tensors)} parameter(s) broadcast to batch "
                     f"{batch_shape}", device, "use a smaller batch")
    # Inside torch.func / torch.compile a value cannot steer Python: the check is skipped
    # there (a NaN angle then gives NaN outputs, never a wrong finite number).
    if tensors and not tracing():
        _check_finite(tensors)
    env = {k: t if not t.dim() or t.shape == batch_shape == t.shape[:1] else
           t.expand(batch_shape).reshape(-1) for k, t in tensors.items()}
    initial = None if start is None else _batch_last(start, n, matrix, batch_shape)
    bound = Bound(env, batch_shape, dtype, device, initial)
    if check:
        check_memory(n, bound.batch, dtype, device)
    return bound


def _check_names(circuit: Circuit, params: Mapping[str, object]) -> None:
    names = circuit.parameters
    missing = [n for n in names if n not in params]
    extra = [n for n in params if n not in names]
    if missing:
        raise QDLError(f"missing value for parameter(s) {', '.join(missing)}; the circuit's "
                       f"parameters are {list(names)}")
    if extra:
        raise QDLError(f"unknown parameter(s) {', '.join(map(str, extra))}; the circuit's "
                       f"parameters are {list(names)}")


def check_state(psi: object, n_qubits: int, dtype: torch.dtype, device: torch.device,
                density: bool = False) -> torch.Tensor:
    """``psi`` as a ``dtype`` tensor on ``device``, checked to be a state of ``n_qubits``.

    A statevector batch ``(*batch, 2**n)``, normalised; with ``density`` (the noisy path) a
    tensor ending in ``(2**n, 2**n)`` is a batch of density matrices instead, Hermitian with
    unit trace. ``QDLError`` naming what is wrong otherwise.

    >>> check_state(torch.tensor([1.0, 1.0]), 1, torch.complex64, torch.device("cpu"))
    Traceback (most recent call last):
    qdl.errors.QDLError: initial_state is not normalised: its squared norm is 2 ...
    """
    if isinstance(psi, np.ndarray):
        psi = torch.from_numpy(psi)
    dim = 2**n_qubits
    if not isinstance(psi, torch.Tensor) or psi.dtype == torch.bool:
        raise QDLError(f"initial_state must be a complex tensor of shape (*batch, {dim}), got "
                       f"{type(psi).__name__}")
    if psi.dim() == 0 or psi.shape[-1] != dim or psi.numel() == 0:
        matrices = f" or (*batch, {dim}, {dim}) (density matrices)" if density else ""
        raise QDLError(f"initial_state must have shape (*batch, {dim}) (statevectors of "
                       f"{n_qubits} qubits){matrices}, got {tuple(psi.shape)}")
    if psi.dtype != dtype or psi.device != device:
        check_allocation(16.0 * psi.numel(), f"initial_state of shape {tuple(psi.shape)}",
                         device, "use a smaller batch")
    psi = psi.to(device=device, dtype=dtype)
    if not tracing():
        _check_normalised(psi, is_density(psi, n_qubits, density))
    return psi


def is_density(psi: torch.Tensor, n_qubits: int, density: bool) -> bool:
    """Whether a checked ``initial_state`` holds density matrices (only on the noisy path)."""
    return density and psi.dim() >= 2 and psi.shape[-2] == 2**n_qubits


def _check_normalised(psi: torch.Tensor, matrix: bool) -> None:
    tol = 1e-4 if psi.dtype == torch.complex64 else 1e-8
    values = psi.detach()
    if not bool(torch.isfinite(torch.view_as_real(values)).all()):
        raise QDLError("initial_state contains NaN or inf values")
    if not matrix:
        error = (values.abs().square().sum(-1) - 1).reshape(-1)
        worst = int(error.abs().argmax())
        if abs(float(error[worst])) > tol:
            raise QDLError(f"initial_state is not normalised: its squared norm is "
                           f"{1 + float(error[worst]):.6g} (tolerance {tol:g}); divide it by "
                           "its norm")
        return
    skew = float((values - values.mT.conj()).abs().max())
    trace = float((values.diagonal(dim1=-2, dim2=-1).sum(-1) - 1).abs().max())
    if skew > tol or trace > tol:
        raise QDLError(f"initial_state as density matrices must be Hermitian with unit trace "
                       f"(largest |ρ - ρ†| {skew:.3g}, largest |tr ρ - 1| {trace:.3g}; "
                       f"tolerance {tol:g})")


def _batch_last(psi: torch.Tensor, n: int, matrix: bool, batch_shape: tuple[int, ...]
                ) -> torch.Tensor:
    """``(*batch, 2**n)`` -> ``(2,)*n + (B,)``; matrices -> ``(2,)*2n + (B,)``."""
    size = 4**n if matrix else 2**n
    tail = (2**n, 2**n) if matrix else (2**n,)
    flat = psi.expand(*batch_shape, *tail).reshape(-1, size)
    return flat.T.reshape((2,) * (2 * n if matrix else n) + (flat.shape[0],))


def _check_finite(tensors: Mapping[str, torch.Tensor]) -> None:
    # One finiteness check for all parameters; the slow search names the culprit. Scalars
    # (a layer's weights, one per gate) are stacked in one call, not reshaped one by one.
    with torch.no_grad():
        scalars = [t for t in tensors.values() if not t.dim()]
        parts = [t.reshape(-1) for t in tensors.values() if t.dim()]
        parts += [torch.stack(scalars)] if scalars else []
        finite = bool(torch.isfinite(torch.cat(parts) if len(parts) > 1 else parts[0]).all())
    if not finite:
        bad = next(n for n, t in tensors.items() if not torch.isfinite(t.detach()).all())
        raise QDLError(f"parameter {bad!r} contains NaN or inf values")


def check_device(device: object) -> torch.device:
    """``device`` as a ``torch.device`` QDL can simulate on (CPU or a present CUDA GPU).

    >>> check_device("tpu")
    Traceback (most recent call last):
    qdl.errors.QDLError: unknown device 'tpu'; QDL simulates on 'cpu' or 'cuda'
    """
    try:
        dev = torch.device(device)  # type: ignore[arg-type]
    except (RuntimeError, TypeError, ValueError):
        raise QDLError(f"unknown device {device!r}; QDL simulates on 'cpu' or 'cuda'") from None
    if dev.type not in ("cpu", "cuda"):
        raise QDLError(f"device {str(dev)!r} is not supported; QDL simulates on 'cpu' or "
                       "'cuda' (move the parameters there)")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise QDLError("device 'cuda' was asked for but torch sees no CUDA GPU; use 'cpu'")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise QDLError(f"device {str(dev)!r}: torch sees {torch.cuda.device_count()} CUDA "
                       "GPU(s)")
    return dev


ACTIVE_WAIT = False
"""Set by ``import qdl``: OpenMP threads spin a while before they sleep (``OMP_WAIT_POLICY``
is not ``PASSIVE``). A fact for diagnostics: :func:`adapt_threads` acts the same either
way."""
_LOAD: list = [-1.0, False]  # when the load average was last read, and whether it was high


def adapt_threads() -> None:
    """Lower torch's intra-op threads to one while other processes keep the cores busy, and
    restore them after.

    On a busy machine every parallel region waits for a descheduled thread:
    ``python -m benchmarks.busy`` (one spinning process per core) measured torch's 2 threads
    1.4-1.8x slower than one thread for 4-12 qubits when the threads wait passively, and up to
    23x slower at 4 qubits when they spin (:data:`ACTIVE_WAIT`, OpenMP's default). The setting
    is process-wide, because the backward pass runs outside QDL's calls (each call lowers it
    again if something raised it); the count found first is restored on the first call that
    finds the machine no longer busy. Nothing changes inside
    ``torch.compile`` / ``torch.func``, or when the environment sets ``QDL_ADAPT_THREADS=0``
    (threads as you set them, busy or not).

    >>> adapt_threads()
    """
    if tracing() or os.environ.get("QDL_ADAPT_THREADS") == "0":
        return
    busy = _busy()
    if busy and torch.get_num_threads() > 1:
        if _LOWERED[0] is None:
            _LOWERED[0] = torch.get_num_threads()
        torch.set_num_threads(1)
    elif not busy and _LOWERED[0] is not None:
        torch.set_num_threads(_LOWERED[0])
        _LOWERED[0] = None


_LOWERED: list[int | None] = [None]  # the thread count adapt_threads lowered, if it did


def _busy() -> bool:
    """Whether others keep every core this process may use busy: the 1-minute load average
    above the cores, or as many other runnable threads as cores right now (a load that just
    started takes a minute to show in the average). Read at most once a second."""
    now = time.monotonic()
    if now - _LOAD[0] > 1.0:
        try:
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
                os.cpu_count() or 1)
            _LOAD[:] = [now, os.getloadavg()[0] > cores or _running_others() >= cores]
        except OSError:
            _LOAD[:] = [now, False]
    return bool(_LOAD[1])


def _running_others() -> int:
    """Runnable threads of other processes right now (Linux's ``/proc``; 0 where there is
    none). This process's own are left out: spinning OpenMP threads of another library loaded
    here would otherwise count as a busy machine."""
    try:
        with open("/proc/loadavg") as f:
            total = int(f.read().split()[3].split("/")[0])
        own = 0
        for task in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{task}/stat") as f:
                    own += f.read().rsplit(")", 1)[1].split()[0] == "R"
            except (OSError, IndexError):
                continue  # the thread ended meanwhile
        return total - max(own, 1)
    except (OSError, IndexError, ValueError):
        return 0


def tracing() -> bool:
    """True inside a ``torch.func`` transform (``grad``, ``vmap``, ``jacrev``, ``jacfwd``) or
    while ``torch.compile`` traces: no Python branch may then depend on a tensor's value.

    >>> tracing()
    False
    """
    # The interpreter stack is how functorch itself knows a transform is active; there is
    # no public equivalent in torch 2.3-2.13.
    return (torch._C._functorch.peek_interpreter_stack() is not None
            or torch.compiler.is_compiling())


def _as_real(name: str, value: object, real: torch.dtype, device: torch.device) -> torch.Tensor:
    if isinstance(value, torch.Tensor):  # first: the common case, and traceable by dynamo
        t = value
    elif isinstance(value, bool) or not isinstance(
            value, int | float | list | tuple | np.ndarray | np.generic):
        raise QDLError(f"parameter {name!r} must be a float or a real tensor, got "
                       f"{type(value).__name__}")
    else:
        # A Python float goes straight to the target dtype: as_tensor would round it to
        # float32. Lists and numpy arrays are taken as tensors of their numbers.
        try:
            t = torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=real)
        except (TypeError, ValueError, OverflowError):
            raise QDLError(f"parameter {name!r} must be real numbers (a float, a list of "
                           f"floats or a real tensor), got {_short(value)}") from None
    if t.is_complex():
        raise QDLError(f"parameter {name!r} must be real, got a complex tensor")
    if t.dtype == torch.bool:
        raise QDLError(f"parameter {name!r} must be real numbers, got a bool tensor")
    if t.numel() == 0:
        raise QDLError(f"parameter {name!r} is empty (shape {tuple(t.shape)}); give at least "
                       "one value")
    if t.dtype == real and t.device == device:
        return t
    if t.dtype != real or t.device != device:  # a conversion materialises broadcast views
        check_allocation(8.0 * t.numel(), f"parameter {name!r} of shape {tuple(t.shape)}",
                         device, "use a smaller batch")
    return t.to(device=device, dtype=real)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_memory(n_qubits: int, batch: int, dtype: torch.dtype, device: torch.device) -> None:
    """Raise ``QDLError`` before allocating when the run cannot fit in free memory.

    >>> check_memory(40, 1, torch.complex64, torch.device("cpu"))
    Traceback (most recent call last):
    qdl.errors.QDLError: a 40-qubit state with batch 1 in complex64 needs 32.0 TiB ...
    """
    item = torch.empty((), dtype=dtype).element_size()
    # 2.0**n overflows a float from n = 1024; any such state is infinitely too large here.
    state = batch * item * 2.0**n_qubits if n_qubits < 1000 else math.inf
    check_allocation(
        STATE_COPIES * state,
        f"a {n_qubits}-qubit state with batch {batch} in {str(dtype).split('.')[-1]} "
        f"({STATE_COPIES} states of {_size(state)})", device,
        "reduce the qubit count or the batch size")


def check_allocation(nbytes: float, what: str, device: torch.device,
                     fix: str = "ask for less") -> None:
    """``QDLError`` naming ``what`` when ``nbytes`` exceed the free memory of ``device``.

    >>> check_allocation(2.0**60, "2**60 bytes", torch.device("cpu"))
    Traceback (most recent call last):
    qdl.errors.QDLError: 2**60 bytes needs 1024.0 PiB but only ... is free on cpu; ask for less
    """
    # A traced graph cannot depend on today's free memory, and reading it for a few
    # megabytes cost more than a small circuit's simulation.
    if tracing() or nbytes <= SMALL_BYTES:
        return
    free = _free_bytes(device)
    if nbytes > free:
        raise QDLError(f"{what} needs {_size(nbytes)} but only {_size(free)} is free on "
                       f"{device}; {fix}")


def fitting_chunk(n_qubits: int, bound: Bound, size: int | None = None) -> int:
    """Batch items to simulate at once: ``size`` if given, else as many as fit in memory.

    Raises ``QDLError`` (via :func:`check_memory`) when not even one item fits.

    >>> b = bind(Circuit(1).rx(0, "a"), {"a": torch.zeros(5)})
    >>> fitting_chunk(1, b), fitting_chunk(1, b, 2)
    (5, 2)
    """
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise QDLError(f"chunk_size must be an int >= 1, got {size!r}")
        check_memory(n_qubits, min(size, bound.batch), bound.dtype, bound.device)
        return size
    item = torch.empty((), dtype=bound.dtype).element_size()
    whole = STATE_COPIES * item * 2.0**n_qubits * bound.batch
    if tracing() or whole <= SMALL_BYTES:  # see check_allocation
        return bound.batch
    fits = int(_free_bytes(bound.device) // (STATE_COPIES * item * 2.0**n_qubits))
    if fits < 1:
        check_memory(n_qubits, 1, bound.dtype, bound.device)
    return max(1, min(fits, bound.batch))


def free_memory(device: torch.device) -> float:
    """Bytes free for new tensors on ``device`` (free GPU memory for CUDA).

    >>> free_memory(torch.device("cpu")) > 0
    True
    """
    return _free_bytes(device)


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
        return apply_matrix(state, tensor, step.wires)  # type: ignore[arg-type]
    index = control_index(step.controls, state.dim())
    out = state.clone()
    out[index] = apply_matrix(state[index], tensor, step.wires)  # type: ignore[arg-type]
    return out


def control_index(controls: Sequence[int], ndim: int) -> tuple[slice, ...]:
    """Index selecting the part of a state ``(2, ..., 2, B)`` where ``controls`` are 1.

    >>> control_index([1], 3)
    (slice(None, None, None), slice(1, 2, None), slice(None, None, None))
    """
    index = [slice(None)] * ndim
    for c in controls:
        index[c] = slice(1, 2)
    return tuple(index)


def to_front(state: torch.Tensor, wires: Sequence[int]) -> torch.Tensor:
    """The state with ``wires`` moved to the front, as ``(2**k, rest, B)``."""
    moved = state.movedim(list(wires), list(range(len(wires))))
    return moved.reshape(2 ** len(wires), -1, state.shape[-1])


def from_front(flat: torch.Tensor, like: torch.Tensor, wires: Sequence[int]) -> torch.Tensor:
    """Undo :func:`to_front`: ``flat`` ``(2**k, rest, B)`` back in the layout of ``like``."""
    k = len(wires)
    shape = (2,) * k + tuple(d for a, d in enumerate(like.shape) if a not in wires)
    return flat.reshape(shape).movedim(list(range(k)), list(wires))


def apply_matrix(state: torch.Tensor, m: torch.Tensor, wires: Sequence[int]) -> torch.Tensor:
    flat = to_front(state, wires)
    if m.dim() == 2:
        out = (m @ flat.reshape(flat.shape[0], -1)).reshape(flat.shape)
    else:
        out = torch.einsum("bij,jrb->irb", m, flat)
    return from_front(out, state, wires)


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
    index = _index(tuple(perm), state.device)
    return from_front(to_front(state, wires).index_select(0, index), state, wires)


@lru_cache(maxsize=256)
def _index(perm: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """A permutation as an index tensor on ``device``, made once."""
    return torch.tensor(perm, device=device)
