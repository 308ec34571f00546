"""Peer implementations of benchmark workload W (see shared/specs/benchmark.md).

Workload W on n qubits, batch B, L layers:
``ry(x_i)`` on every qubit; then L times ``ry(w[l,i,0])``, ``rz(w[l,i,1])`` on every qubit
followed by the ring ``cx(i, (i+1) % n)``; outputs ``<Z_i>`` of shape (B, n). One timed step
is the forward pass plus the gradient of ``outputs.sum()`` w.r.t. both ``w`` and ``x``.

Every ``make_<peer>(n, L, B, dtype)`` builds the circuit once (outside timing) and returns a
:class:`PeerStep` (call it to run one step; ``evaluate()`` returns ``(outputs, grad_w,
grad_x)`` as float64 numpy arrays for the correctness check), or ``None`` when the peer is
not importable or cannot run this configuration; the reason is then in ``NOTES[peer]``.
Peer imports are lazy, so this module imports with only numpy installed.

Conventions: ``ry(t) = exp(-i t Y / 2)``, ``rz(t) = exp(-i t Z / 2)``; wire 0 is the most
significant bit of a flattened state (only relevant where we read states ourselves).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "2")  # qulacs / lightning use OpenMP

import importlib
import importlib.util
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Result = tuple[np.ndarray, np.ndarray, np.ndarray]

#: Why a peer was skipped or how it deviates from the spec, filled in by ``make_*``.
NOTES: dict[str, str] = {}


@dataclass
class PeerStep:
    """One prepared peer: ``step()`` runs one timed training step."""

    name: str
    step: Callable[[], None]
    evaluate: Callable[[], Result]
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __call__(self) -> None:
        """Run one forward + backward step."""
        self.step()


def default_inputs(n: int, L: int, B: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fixed random inputs: x of shape (B, n) in [0, pi), w of shape (L, n, 2)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, np.pi, size=(B, n))
    w = rng.uniform(-np.pi, np.pi, size=(L, n, 2))
    return x, w


def _cdtype_name(dtype: Any) -> str:
    """Normalise 'complex64' / np.complex64 / torch.complex64 to a string."""
    name = str(dtype).replace("torch.", "").replace("<class 'numpy.", "").rstrip("'>")
    if name not in ("complex64", "complex128"):
        raise ValueError(f"unsupported dtype {dtype!r}")
    return name


def _inputs(
    n: int, L: int, B: int, x: np.ndarray | None, w: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Return the given inputs, or the default ones where missing."""
    dx, dw = default_inputs(n, L, B)
    return (dx if x is None else np.asarray(x)), (dw if w is None else np.asarray(w))


def _skip(peer: str, why: str) -> None:
    """Record why ``peer`` is unavailable and return None."""
    NOTES[peer] = why
    return None


def _z_from_probs(probs: Any, n: int) -> Any:
    """<Z_i> for all i from probabilities of shape (B, 2**n), wire 0 = MSB -> (B, n)."""
    B = probs.shape[0]
    zs = []
    for i in range(n):
        p = probs.reshape(B, 2**i, 2, 2 ** (n - i - 1)).sum(dim=(1, 3))
        zs.append(p[:, 0] - p[:, 1])
    import torch

    return torch.stack(zs, dim=-1)


def _torch_peer(
    name: str,
    forward: Callable[[Any, Any], Any],
    x: np.ndarray,
    w: np.ndarray,
    real_dtype: Any,
    note: str = "",
) -> PeerStep:
    """Wrap a torch forward ``f(x, w) -> (B, n)`` into a step with autograd backward."""
    import torch

    xt = torch.tensor(x, dtype=real_dtype, requires_grad=True)
    wt = torch.tensor(w, dtype=real_dtype, requires_grad=True)

    def run() -> Any:
        xt.grad = None
        wt.grad = None
        out = forward(xt, wt)
        out.sum().backward()
        return out

    def step() -> None:
        run()

    def evaluate() -> Result:
        out = run()
        return (
            out.detach().to(torch.float64).numpy(),
            wt.grad.detach().to(torch.float64).numpy(),
            xt.grad.detach().to(torch.float64).numpy(),
        )

    NOTES[name] = note
    return PeerStep(name, step, evaluate, note, {"x": xt, "w": wt})


# --------------------------------------------------------------------------- PennyLane


def _pennylane_body(qml: Any, n: int, L: int) -> Callable[[Any, Any], list[Any]]:
    """The workload W as a PennyLane quantum function (x may carry a batch axis)."""

    def body(x: Any, w: Any) -> list[Any]:
        for i in range(n):
            qml.RY(x[..., i], wires=i)
        for layer in range(L):
            for i in range(n):
                qml.RY(w[layer, i, 0], wires=i)
                qml.RZ(w[layer, i, 1], wires=i)
            for i in range(n):
                qml.CNOT(wires=[i, (i + 1) % n])
        return [qml.expval(qml.PauliZ(i)) for i in range(n)]

    return body


def make_pennylane_default(
    n: int,
    L: int,
    B: int,
    dtype: Any = "complex64",
    x: np.ndarray | None = None,
    w: np.ndarray | None = None,
) -> PeerStep | None:
    """PennyLane default.qubit, torch interface, backprop, x batched by broadcasting."""
    peer = "pennylane_default"
    try:
        import pennylane as qml
        import torch
    except ImportError as exc:
        return _skip(peer, f"pennylane not importable: {exc}")
    x, w = _inputs(n, L, B, x, w)
    real = torch.float32 if _cdtype_name(dtype) == "complex64" else torch.float64
    dev = qml.device("default.qubit", wires=n)
    qnode = qml.QNode(_pennylane_body(qml, n, L), dev, interface="torch", diff_method="backprop")

    def forward(xt: Any, wt: Any) -> Any:
        return torch.stack(qnode(xt, wt), dim=-1)

    note = "default.qubit has no c_dtype: it always simulates in complex128"
    return _torch_peer(peer, forward, x, w, real, note)


def make_pennylane_lightning(
    n: int,
    L: int,
    B: int,
    dtype: Any = "complex64",
    x: np.ndarray | None = None,
    w: np.ndarray | None = None,
) -> PeerStep | None:
    """PennyLane lightning.qubit, diff_method='adjoint', x batched by broadcasting.

    PennyLane splits a broadcast tape into B tapes (broadcast_expand) before it reaches
    lightning, so this is B adjoint runs per step inside one QNode call.
    """
    peer = "pennylane_lightning"
    try:
        import pennylane as qml
        import torch
    except ImportError as exc:
        return _skip(peer, f"pennylane not importable: {exc}")
    x, w = _inputs(n, L, B, x, w)
    cname = _cdtype_name(dtype)
    real = torch.float32 if cname == "complex64" else torch.float64
    try:
        dev = qml.device("lightning.qubit", wires=n, c_dtype=getattr(np, cname))
    except Exception as exc:
        return _skip(peer, f"lightning.qubit unavailable: {exc}")
    qnode = qml.QNode(_pennylane_body(qml, n, L), dev, interface="torch", diff_method="adjoint")

    def forward(xt: Any, wt: Any) -> Any:
        return torch.stack(qnode(xt, wt), dim=-1)

    note = f"{cname}; broadcasting is expanded into B tapes by PennyLane"
    return _torch_peer(peer, forward, x, w, real, note)


# --------------------------------------------------------------------------- TorchQuantum


def _load_torchquantum() -> tuple[Any, Any]:
    """Import torchquantum's simulator core without running ``torchquantum/__init__``.

    torchquantum 0.1.8's package ``__init__`` star-imports everything, including
    ``dataset`` (torchvision: PyPI only has CUDA-linked wheels, whose ``_C.so`` cannot load
    next to the CPU torch build), ``pulse`` (torchdiffeq, qiskit_nature) and ``plugin``
    (pathos, old qiskit Aer APIs). We register an empty package object with the real
    ``__path__`` and import only ``torchquantum.functional`` and ``torchquantum.device``;
    these still import ``torchquantum.util`` (qiskit, qiskit_aer, qiskit_ibm_runtime,
    torchpack, opt_einsum), which setup_peers.sh installs for real. No stubs.
    """
    import warnings

    if "torchquantum.functional" not in sys.modules:
        spec = importlib.util.find_spec("torchquantum")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("torchquantum is not installed")
        if "torchquantum" not in sys.modules:
            pkg = types.ModuleType("torchquantum")
            pkg.__path__ = list(spec.submodule_search_locations)
            pkg.__file__ = spec.origin
            pkg.__spec__ = spec
            sys.modules["torchquantum"] = pkg
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # qiskit_ibm_runtime: "pkg_resources is deprecated"
        tqf = importlib.import_module("torchquantum.functional")
        device = importlib.import_module("torchquantum.device")
    return tqf, device.QuantumDevice


def make_torchquantum(
    n: int,
    L: int,
    B: int,
    dtype: Any = "complex64",
    x: np.ndarray | None = None,
    w: np.ndarray | None = None,
) -> PeerStep | None:
    """TorchQuantum: QuantumDevice(bsz=B) + torchquantum.functional gates, torch autograd.

    Per-sample x angles are passed as batched params of shape (B,) (matrices (B, 2, 2),
    applied with bmm); the shared w angles are scalars (one 2x2 matrix for the batch).
    """
    peer = "torchquantum"
    if _cdtype_name(dtype) != "complex64":
        return _skip(peer, "torchquantum hard-codes complex64 (macro.C_DTYPE)")
    try:
        import torch

        tqf, QuantumDevice = _load_torchquantum()
    except Exception as exc:
        return _skip(peer, f"torchquantum not importable: {exc!r}")
    x, w = _inputs(n, L, B, x, w)
    qdev = QuantumDevice(n_wires=n, bsz=B)

    def forward(xt: Any, wt: Any) -> Any:
        qdev.reset_states(B)
        for i in range(n):
            tqf.ry(qdev, wires=i, params=xt[:, i])
        for layer in range(L):
            for i in range(n):
                tqf.ry(qdev, wires=i, params=wt[layer, i, 0])
                tqf.rz(qdev, wires=i, params=wt[layer, i, 1])
            for i in range(n):
                tqf.cnot(qdev, wires=[i, (i + 1) % n])
        probs = qdev.get_states_1d().abs().square()  # (B, 2**n), wire 0 = MSB
        return _z_from_probs(probs, n)

    note = "complex64 only; <Z_i> reduced from |state|^2"
    return _torch_peer(peer, forward, x, w, torch.float32, note)


# --------------------------------------------------------------------------- pyqtorch


def make_pyqtorch(
    n: int,
    L: int,
    B: int,
    dtype: Any = "complex64",
    x: np.ndarray | None = None,
    w: np.ndarray | None = None,
) -> PeerStep | None:
    """pyqtorch QuantumCircuit with batched parameter values (x: (B,), w: scalars)."""
    peer = "pyqtorch"
    try:
        import pyqtorch as pyq
        import torch
    except ImportError as exc:
        return _skip(peer, f"pyqtorch not importable: {exc}")
    import warnings

    x, w = _inputs(n, L, B, x, w)
    cname = _cdtype_name(dtype)
    cdtype = getattr(torch, cname)
    real = torch.float32 if cname == "complex64" else torch.float64
    ops: list[Any] = [pyq.RY(i, f"x{i}") for i in range(n)]
    for layer in range(L):
        for i in range(n):
            ops += [pyq.RY(i, f"w{layer}_{i}_0"), pyq.RZ(i, f"w{layer}_{i}_1")]
        ops += [pyq.CNOT(i, (i + 1) % n) for i in range(n)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "complex modules" notice from torch
        circuit = pyq.QuantumCircuit(n, ops).to(cdtype)
    state0 = pyq.zero_state(n, batch_size=B, dtype=cdtype)
    names = [
        (f"w{layer}_{i}_{k}", layer, i, k) for layer in range(L) for i in range(n) for k in range(2)
    ]

    def forward(xt: Any, wt: Any) -> Any:
        values = {f"x{i}": xt[:, i] for i in range(n)}
        values.update({key: wt[layer, i, k] for key, layer, i, k in names})
        state = circuit.run(state0, values)  # shape [2]*n + [B], wire 0 first
        probs = state.abs().square().reshape(2**n, B).T
        return _z_from_probs(probs, n)

    note = f"{cname}; <Z_i> reduced from |state|^2"
    return _torch_peer(peer, forward, x, w, real, note)


# --------------------------------------------------------------------------- Qulacs


def _qulacs_circuit(circuit_cls: Any, n: int, L: int) -> Any:
    """Workload W with every angle parametric: x_i is parameter i, w[l, i, k] is
    parameter ``n + 2 * (l * n + i) + k`` (angles are set later, negated)."""
    circuit = circuit_cls(n)
    for i in range(n):
        circuit.add_parametric_RY_gate(i, 0.0)
    for _ in range(L):
        for i in range(n):
            circuit.add_parametric_RY_gate(i, 0.0)
            circuit.add_parametric_RZ_gate(i, 0.0)
        for i in range(n):
            circuit.add_CNOT_gate(i, (i + 1) % n)
    return circuit


def _qulacs_observables(observable_cls: Any, n: int) -> tuple[list[Any], Any]:
    """Observables Z_i for each i, and their sum (for one backprop of outputs.sum())."""
    z_obs = []
    total = observable_cls(n)
    for i in range(n):
        obs = observable_cls(n)
        obs.add_operator(1.0, f"Z {i}")
        z_obs.append(obs)
        total.add_operator(1.0, f"Z {i}")
    return z_obs, total


def make_qulacs(
    n: int,
    L: int,
    B: int,
    dtype: Any = "complex64",
    x: np.ndarray | None = None,
    w: np.ndarray | None = None,
) -> PeerStep | None:
    """Qulacs ParametricQuantumCircuit.backprop(sum_i Z_i), looped over the batch.

    x enters as parametric RY gates, so one backprop per sample yields both d/dx (that
    sample's row) and d/dw (summed over the batch). Qulacs rotations are
    ``exp(+i t P / 2)``, so every angle and gradient is negated. Qulacs simulates in
    complex128 only, whatever ``dtype`` says.
    """
    peer = "qulacs"
    try:
        from qulacs import Observable, ParametricQuantumCircuit, QuantumState
    except ImportError as exc:
        return _skip(peer, f"qulacs not importable: {exc}")
    _cdtype_name(dtype)
    x, w = _inputs(n, L, B, x, w)
    circuit = _qulacs_circuit(ParametricQuantumCircuit, n, L)
    z_obs, total = _qulacs_observables(Observable, n)
    state = QuantumState(n)
    x_flat = np.ascontiguousarray(x, dtype=np.float64)
    w_flat = np.asarray(w, dtype=np.float64).reshape(-1)

    def run() -> Result:
        for j, value in enumerate(w_flat):
            circuit.set_parameter(n + j, -float(value))
        out = np.empty((B, n))
        grad_x = np.empty((B, n))
        grad_w = np.zeros(w_flat.size)
        for b in range(B):
            for i in range(n):
                circuit.set_parameter(i, -float(x_flat[b, i]))
            state.set_zero_state()
            circuit.update_quantum_state(state)
            out[b] = [obs.get_expectation_value(state) for obs in z_obs]
            grad = np.asarray(circuit.backprop(total))
            grad_x[b] = -grad[:n]
            grad_w -= grad[n:]
        return out, grad_w.reshape(np.shape(w)), grad_x

    def step() -> None:
        run()

    note = "complex128 only; per-sample loop, one backprop of sum_i Z_i each"
    NOTES[peer] = note
    return PeerStep(peer, step, run, note)


# --------------------------------------------------------------------------- JAX (JIT peers)


def _jax(dtype: Any) -> Any:
    """Import jax for ``dtype``: complex128 needs ``jax_enable_x64`` (off by default, in which
    case jax silently computes in float32/complex64 whatever the inputs say)."""
    import jax

    if _cdtype_name(dtype) == "complex128":
        jax.config.update("jax_enable_x64", True)
    return jax


def _jit_peer(name: str, fn: Callable[..., Any], args: tuple[Any, ...], note: str) -> PeerStep:
    """Wrap a jitted ``fn(*args) -> (outputs, (grad_x, grad_w))`` into a step.

    The first call (trace + XLA compile + one run) happens here, outside timing, and its
    wall time goes to ``extra["compile_ms"]``: JIT users pay it once per shape, so it is
    reported apart from the steady-state step that ``measure`` times. Every call blocks until
    the result is ready, since jax dispatches asynchronously.
    """
    import time

    import jax

    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    compile_ms = (time.perf_counter() - t0) * 1e3

    def step() -> None:
        jax.block_until_ready(fn(*args))

    def evaluate() -> Result:
        out, (gx, gw) = fn(*args)
        return tuple(np.asarray(a, dtype=np.float64) for a in (out, gw, gx))  # type: ignore

    NOTES[name] = note
    return PeerStep(name, step, evaluate, note, {"compile_ms": compile_ms})


def _tcng_expvals(tc: Any, n: int, L: int) -> Callable[[Any, Any], Any]:
    """Workload W for one sample in tensorcircuit-ng: ``f(x_row (n,), w (L, n, 2)) -> (n,)``."""
    K = tc.backend

    def f(x_row: Any, w: Any) -> Any:
        c = tc.Circuit(n)
        for i in range(n):
            c.ry(i, theta=x_row[i])
        for layer in range(L):
            for i in range(n):
                c.ry(i, theta=w[layer, i, 0])
                c.rz(i, theta=w[layer, i, 1])
            for i in range(n):
                c.cnot(i, (i + 1) % n)
        return K.stack([K.real(c.expectation_ps(z=[i])) for i in range(n)])

    return f


def _import_tcng(dtype: Any) -> Any:
    """tensorcircuit-ng on the jax backend at ``dtype`` (tc's backend and dtype are global)."""
    _jax(dtype)
    import tensorcircuit as tc

    tc.set_backend("jax")
    tc.set_dtype(_cdtype_name(dtype))
    return tc


def make_tcng(
    n: int,
    L: int,
    B: int,
    dtype: Any = "complex64",
    x: np.ndarray | None = None,
    w: np.ndarray | None = None,
) -> PeerStep | None:
    """tensorcircuit-ng, jax backend: the per-sample circuit ``vmap``-ed over x, the sum's
    ``value_and_grad`` w.r.t. x and w, all under one ``jit`` (tc-ng's recommended recipe)."""
    peer = "tcng_jax"
    try:
        tc = _import_tcng(dtype)
        import jax
        import jax.numpy as jnp
    except Exception as exc:
        return _skip(peer, f"tensorcircuit-ng / jax not importable: {exc!r}")
    x, w = _inputs(n, L, B, x, w)
    real = jnp.float64 if _cdtype_name(dtype) == "complex128" else jnp.float32
    batched = jax.vmap(_tcng_expvals(tc, n, L), in_axes=(0, None))

    def loss(xb: Any, wb: Any) -> Any:
        out = batched(xb, wb)
        return out.sum(), out

    grad = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)

    @jax.jit
    def fn(xb: Any, wb: Any) -> Any:
        (_, out), grads = grad(xb, wb)
        return out, grads

    args = (jnp.asarray(x, dtype=real), jnp.asarray(w, dtype=real))
    return _jit_peer(peer, fn, args, f"{_cdtype_name(dtype)}; jit(value_and_grad(vmap))")


def make_pennylane_jax(
    n: int,
    L: int,
    B: int,
    dtype: Any = "complex64",
    x: np.ndarray | None = None,
    w: np.ndarray | None = None,
) -> PeerStep | None:
    """PennyLane default.qubit, jax interface, backprop, x batched by broadcasting, the
    whole ``value_and_grad`` under ``jax.jit``."""
    peer = "pennylane_jax"
    try:
        jax = _jax(dtype)
        import warnings

        import jax.numpy as jnp
        import pennylane as qml
    except Exception as exc:
        return _skip(peer, f"pennylane / jax not importable: {exc!r}")
    x, w = _inputs(n, L, B, x, w)
    real = jnp.float64 if _cdtype_name(dtype) == "complex128" else jnp.float32
    dev = qml.device("default.qubit", wires=n)
    qnode = qml.QNode(_pennylane_body(qml, n, L), dev, interface="jax", diff_method="backprop")

    def loss(xb: Any, wb: Any) -> Any:
        out = jnp.stack(qnode(xb, wb), axis=-1)
        return out.sum(), out

    grad = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)

    @jax.jit
    def fn(xb: Any, wb: Any) -> Any:
        (_, out), grads = grad(xb, wb)
        return out, grads

    args = (jnp.asarray(x, dtype=real), jnp.asarray(w, dtype=real))
    note = (f"{_cdtype_name(dtype)} (complex64 unless jax_enable_x64); broadcast batch, "
            "jit(value_and_grad)")
    with warnings.catch_warnings():
        # default.qubit asks for complex128; without x64 jax truncates it to complex64 (wanted).
        warnings.filterwarnings("ignore", message=".*not available.*truncated")
        return _jit_peer(peer, fn, args, note)


#: All peers, in report order.
PEERS: dict[str, Callable[..., PeerStep | None]] = {
    "pennylane_default": make_pennylane_default,
    "pennylane_lightning": make_pennylane_lightning,
    "torchquantum": make_torchquantum,
    "qulacs": make_qulacs,
    "pyqtorch": make_pyqtorch,
    "tcng_jax": make_tcng,
    "pennylane_jax": make_pennylane_jax,
}

#: Peers that compile (JIT): their first call is reported apart as compile time.
JIT_PEERS = ("tcng_jax", "pennylane_jax")


def make_all(n: int, L: int, B: int, dtype: Any = "complex64", **kw: Any) -> dict[str, PeerStep]:
    """Build every available peer; skipped ones are reported in NOTES."""
    steps = {}
    for name, make in PEERS.items():
        try:
            peer = make(n, L, B, dtype, **kw)
        except Exception as exc:
            NOTES[name] = f"failed to build: {exc!r}"
            peer = None
        if peer is not None:
            steps[name] = peer
    return steps


def build(name: str, n: int, L: int, B: int, dtype: Any = "complex64", **kw: Any) -> PeerStep:
    """Peer ``name`` built, or ``RuntimeError`` saying why not (a picklable factory for
    :class:`timing.Remote`)."""
    peer = PEERS[name](n, L, B, dtype, **kw)
    if peer is None:
        raise RuntimeError(NOTES.get(name, "unavailable"))
    return peer


def run_peer(name: str, n: int, L: int, B: int, dtype: Any = "complex64", steps: int = 1) -> None:
    """Build peer ``name`` and run ``steps`` steps; picklable target for ``peak_rss_of``."""
    peer = PEERS[name](n, L, B, dtype)
    if peer is None:
        raise RuntimeError(f"{name} unavailable: {NOTES.get(name)}")
    for _ in range(steps):
        peer()
