"""Embeddings: circuits that load classical features into a quantum state.

* :func:`angle_embedding`: one rotation per feature and wire.
* :func:`amplitude_embedding`, :func:`amplitude_angles`, :func:`amplitude_circuit`: the
  amplitudes of a (normalised, zero-padded) real vector, prepared by uniformly controlled
  ``ry`` rotations (Möttönen et al. 2004).
* :func:`zz_feature_map`: the second-order Pauli-Z feature map of Havlíček et al. (2019).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch

from qdl.circuit import Circuit
from qdl.errors import QDLError
from qdl.expr import Expr, Sym
from qdl.templates._common import (
    check_int,
    check_prefix,
    entangling_pairs,
    rotation_gate,
)


def angle_embedding(n_qubits: int, rotation: str = "y", prefix: str = "x") -> Circuit:
    """One rotation per wire, angle = feature: ``R(x_i)`` on wire ``i``.

    The state is ``⊗_i R_σ(x_i)|0⟩`` with ``R_σ(θ) = exp(-iθσ/2)``, ``σ`` = X, Y or Z (the
    embedding used by PennyLane's ``AngleEmbedding``; note ``rz`` on ``|0⟩`` only adds a
    phase unless other gates come first).

    Args:
        n_qubits: number of wires and of features.
        rotation: ``"x"``, ``"y"`` or ``"z"`` (also ``"rx"`` ...).
        prefix: inputs are named ``{prefix}0 .. {prefix}{n-1}``.

    Returns:
        A circuit whose parameters are the inputs ``x0..x{n-1}``; it has no weights.

    Raises:
        QDLError: ``n_qubits < 1``, unknown rotation or a prefix that is no identifier.

    >>> angle_embedding(2, "x").ops
    (rx(x0) q[0], rx(x1) q[1])
    """
    n = check_int(n_qubits, "n_qubits")
    gate, prefix = rotation_gate(rotation), check_prefix(prefix)
    c = Circuit(n)
    for i in range(n):
        c.add(gate, [i], [f"{prefix}{i}"])
    return c


# --------------------------------------------------------------------------- amplitudes


def amplitude_names(n_qubits: int, prefix: str = "a") -> list[str]:
    """Names of the angles of :func:`amplitude_embedding`, level by level.

    Level ``j`` (the rotation on wire ``j``) has ``2**j`` angles ``{prefix}{j}_{i}``.

    >>> amplitude_names(2)
    ['a0_0', 'a1_0', 'a1_1']
    """
    n = check_int(n_qubits, "n_qubits")
    prefix = check_prefix(prefix)
    return [f"{prefix}{j}_{i}" for j in range(n) for i in range(2**j)]


def amplitude_embedding(n_qubits: int, prefix: str = "a") -> Circuit:
    """State preparation of a real vector with ``2**n - 1`` named ``ry`` angles.

    Möttönen, Vartiainen, Bergholm & Salomaa, "Transformation of quantum states using
    uniformly controlled rotations", Quantum Inf. Comput. 5, 467 (2005), arXiv:quant-ph/0407010
    (2004). Wire ``j`` gets a *uniformly controlled* ``ry``: for each value ``m`` of wires
    ``0..j-1`` it rotates by ``α_{j,m}``, where for ``j < n-1``
    ``α_{j,m} = 2·atan2(‖v_{m1·}‖, ‖v_{m0·}‖)`` (norms of the two halves of block ``m``) and
    on the last wire ``α_{n-1,m} = 2·atan2(v_{2m+1}, v_{2m})``, which also sets the signs.
    Each uniformly controlled rotation is decomposed as in the paper into
    ``2**j`` plain ``ry(θ_{j,i})`` gates interleaved with CNOTs whose controls follow the
    Gray code, with ``θ_j = M^T α_j / 2**j``, ``M_{m,i} = (-1)^{m·g_i}``, ``g_i = i ⊕ (i>>1)``.

    The circuit's parameters are the ``θ_{j,i}``, named ``{prefix}{j}_{i}`` (level ``j``,
    index ``i``); :func:`amplitude_angles` computes them, differentiably, from features.
    All of them are inputs (the template has no weights).

    Args:
        n_qubits: number of wires; the vector has ``2**n_qubits`` amplitudes.
        prefix: prefix of the angle names.

    Returns:
        A circuit with ``2**n - 1`` ``ry`` gates and ``2**n - 2`` CNOTs.

    >>> c = amplitude_embedding(2)
    >>> c.parameters
    ('a0_0', 'a1_0', 'a1_1')
    >>> c.ops
    (ry(a0_0) q[0], ry(a1_0) q[1], cx q[0], q[1], ry(a1_1) q[1], cx q[0], q[1])
    """
    n = check_int(n_qubits, "n_qubits")
    prefix = check_prefix(prefix)
    c = Circuit(n)
    for j in range(n):
        names = [f"{prefix}{j}_{i}" for i in range(2**j)]
        uniformly_controlled(c, "ry", j, list(range(j)), names)
    return c


def uniformly_controlled(
    circuit: Circuit, gate: str, target: int, controls: Sequence[int], angles: Sequence[object]
) -> Circuit:
    """Append a uniformly controlled ``ry`` or ``rz`` in Möttönen's CNOT decomposition.

    With ``k`` controls, step ``i`` is ``gate(angles[i])`` on the target followed by a CNOT
    from the control whose bit changes between Gray codes ``g_i`` and ``g_{i+1 mod 2**k}``
    (``controls[0]`` is the most significant bit). For control value ``m`` the target turns
    by ``Σ_i (-1)^{m·g_i} angles[i]``: pass ``angles = M^T α / 2**k`` to turn by ``α_m``.

    >>> uniformly_controlled(Circuit(2), "rz", 1, [0], ["t0", "t1"]).ops
    (rz(t0) q[1], cx q[0], q[1], rz(t1) q[1], cx q[0], q[1])
    """
    k = len(controls)
    if gate not in ("ry", "rz") or len(angles) != 2**k:
        raise QDLError(f"uniformly controlled {gate!r} with {k} controls needs gate ry or rz "
                       f"and {2**k} angles, got {len(angles)}")
    for i, angle in enumerate(angles):
        circuit.add(gate, [target], [angle])
        if k:
            flip = (i ^ (i >> 1)) ^ (((i + 1) % 2**k) ^ (((i + 1) % 2**k) >> 1))
            circuit.cx(controls[k - flip.bit_length()], target)
    return circuit


@lru_cache(maxsize=32)
def _gray_walsh(k: int) -> np.ndarray:
    """``M / 2**k`` with ``M_{m,i} = (-1)^{popcount(m & g_i)}``, so ``θ = α @ (M / 2**k)``."""
    i = np.arange(2**k)
    bits = i[:, None] & (i ^ (i >> 1))[None, :]
    parity = np.zeros_like(bits)
    while bits.any():
        parity ^= bits & 1
        bits = bits >> 1
    out = (1 - 2 * parity).astype(np.float64) / 2**k
    out.flags.writeable = False
    return out


def _safe_sqrt(s: torch.Tensor) -> torch.Tensor:
    """``sqrt(s)`` with gradient 0 instead of inf/NaN where ``s == 0``."""
    pos = s > 0
    return torch.where(pos, torch.where(pos, s, torch.ones_like(s)).sqrt(), torch.zeros_like(s))


def _safe_atan2(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``atan2(y, x)``, 0 with zero gradient where both are 0 (an empty block)."""
    empty = (y == 0) & (x == 0)
    return torch.atan2(torch.where(empty, torch.zeros_like(y), y),
                       torch.where(empty, torch.ones_like(x), x))


def _fit_qubits(d: int, n_qubits: int | None) -> int:
    if d < 1:
        raise QDLError("amplitude embedding needs at least one feature, got an empty vector")
    if n_qubits is None:
        return max(1, math.ceil(math.log2(d)))
    n = check_int(n_qubits, "n_qubits")
    if d > 2**n:
        raise QDLError(f"{d} features do not fit into the {2**n} amplitudes of {n} qubit(s); "
                       f"use n_qubits >= {math.ceil(math.log2(d))}")
    return n


def _prepare_features(features: object, n_qubits: int | None) -> tuple[torch.Tensor, int]:
    """Real float tensor ``(..., 2**n)``: converted, checked, zero-padded."""
    x = features if isinstance(features, torch.Tensor) else torch.as_tensor(
        np.asarray(features))
    if x.is_complex():
        raise QDLError("amplitude_angles takes real features; complex amplitudes need phases "
                       "(use amplitude_circuit for a concrete complex vector)")
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    if x.dim() < 1:
        raise QDLError("amplitude features must have a last dimension, got a scalar")
    n = _fit_qubits(x.shape[-1], n_qubits)
    if not bool(torch.isfinite(x).all()):
        raise QDLError("amplitude features contain NaN or inf")
    if x.shape[-1] < 2**n:
        x = torch.nn.functional.pad(x, (0, 2**n - x.shape[-1]))
    zero = (x.detach().square().sum(-1) == 0).nonzero()
    if len(zero):
        where = f" (batch index {tuple(zero[0].tolist())})" if x.dim() > 1 else ""
        raise QDLError(f"cannot amplitude-embed a vector of zero norm{where}")
    return x, n


def amplitude_angles(
    features: torch.Tensor, n_qubits: int | None = None, prefix: str = "a"
) -> dict[str, torch.Tensor]:
    """The inputs of :func:`amplitude_embedding` that prepare ``v / ‖v‖``, differentiably.

    Features ``(..., d)`` are zero-padded to ``2**n`` and normalised implicitly (every angle
    is a ratio, so scaling ``v`` changes nothing). Negative entries are allowed: their signs
    come from the last level's ``atan2``. Where a block of amplitudes is exactly zero its angle
    is 0 with zero gradient (no NaN); elsewhere the map is smooth.

    Args:
        features: real tensor ``(..., d)`` (numpy arrays and lists are converted).
        n_qubits: number of wires (default ``ceil(log2 d)``, at least 1).
        prefix: prefix of the angle names, as in :func:`amplitude_embedding`.

    Returns:
        ``{name: tensor (...)}`` in the order of ``amplitude_embedding(n).parameters``; for a
        ``QuantumLayer`` with ``inputs=list(angles)``, feed ``torch.stack(list(angles.values()),
        -1)``.

    Raises:
        QDLError: complex or non-finite features, more than ``2**n`` features, a zero vector.

    >>> angles = amplitude_angles(torch.tensor([0.0, 0.0, 0.0, -2.0]))
    >>> {k: round(v.item(), 4) for k, v in angles.items()}
    {'a0_0': 3.1416, 'a1_0': -1.5708, 'a1_1': 1.5708}
    """
    prefix = check_prefix(prefix)
    x, n = _prepare_features(features, n_qubits)
    batch = x.shape[:-1]
    squares = x.square()
    out: dict[str, torch.Tensor] = {}
    for j in range(n):
        if j < n - 1:
            halves = squares.reshape(*batch, 2**j, 2, 2 ** (n - j - 1)).sum(-1)
            alpha = 2 * _safe_atan2(_safe_sqrt(halves[..., 1]), _safe_sqrt(halves[..., 0]))
        else:
            pairs = x.reshape(*batch, 2**j, 2)
            alpha = 2 * _safe_atan2(pairs[..., 1], pairs[..., 0])
        walsh = torch.as_tensor(_gray_walsh(j).copy(), dtype=x.dtype, device=x.device)
        theta = alpha @ walsh
        out.update(zip((f"{prefix}{j}_{i}" for i in range(2**j)), theta.unbind(-1),
                       strict=True))
    return out


def amplitude_circuit(vector: object, n_qubits: int | None = None) -> Circuit:
    """A parameter-free circuit preparing ``v / ‖v‖`` (zero-padded to ``2**n``) from ``|0…0⟩``.

    Real vectors: :func:`amplitude_embedding` with the angles of :func:`amplitude_angles`
    bound as constants. Complex vectors: the ``ry`` tree prepares ``|v_k|``, then uniformly
    controlled ``rz`` rotations (Möttönen et al., the phase part: on wire ``j``, for block
    ``m``, ``rz(φ_{j+1}(m1) - φ_{j+1}(m0))`` with ``φ_n(k) = arg v_k`` and ``φ_j(m)`` the mean
    of its two children) and a final ``gphase(φ_0)`` set the phases exactly.

    Args:
        vector: 1-D real or complex array-like of length ``d <= 2**n``.
        n_qubits: number of wires (default ``ceil(log2 d)``, at least 1).

    Returns:
        A circuit without parameters.

    Raises:
        QDLError: not 1-D, too long for ``n_qubits``, zero norm, NaN/inf.

    >>> c = amplitude_circuit([3.0, -4.0])
    >>> c.ops  # 2·atan2(-4, 3)
    (ry(-1.85459043600322...) q[0],)
    """
    v = np.asarray(vector.detach().cpu() if isinstance(vector, torch.Tensor) else vector)
    if v.ndim != 1:
        raise QDLError(f"amplitude_circuit takes a 1-D vector, got shape {v.shape}")
    if not np.issubdtype(v.dtype, np.number):
        raise QDLError(f"amplitude_circuit takes numbers, got dtype {v.dtype}")
    is_complex = np.iscomplexobj(v) and bool(np.any(v.imag != 0))
    mags = np.abs(v) if is_complex else v.real.astype(np.float64)
    angles = amplitude_angles(torch.as_tensor(mags, dtype=torch.float64), n_qubits, "a")
    n = round(math.log2(len(angles) + 1))
    circuit = amplitude_embedding(n, "a").bind({k: t.item() for k, t in angles.items()})
    if is_complex:
        _append_phases(circuit, np.pad(np.angle(v), (0, 2**n - len(v))), n)
    return circuit


def _append_phases(circuit: Circuit, phases: np.ndarray, n: int) -> None:
    """Diagonal part of Möttönen's preparation: uniformly controlled ``rz`` and a phase."""
    phi = phases.astype(np.float64)
    for j in reversed(range(n)):
        pairs = phi.reshape(2**j, 2)
        beta = pairs[:, 1] - pairs[:, 0]
        theta = beta @ _gray_walsh(j)
        uniformly_controlled(circuit, "rz", j, list(range(j)), [float(t) for t in theta])
        phi = pairs.mean(1)
    circuit.add("gphase", [], [float(phi[0])])


# --------------------------------------------------------------------------- ZZ feature map


def zz_feature_map(
    n_qubits: int, reps: int = 2, entanglement: str = "full", prefix: str = "x",
    alpha: float = 2.0,
) -> Circuit:
    """The second-order Pauli-Z ("ZZ", IQP-type) feature map of Havlíček et al.

    Havlíček, Córcoles, Temme, Harrow, Kandala, Chow & Gambetta, "Supervised learning with
    quantum-enhanced feature spaces", Nature 567, 209 (2019): ``𝒰_Φ(x) = U_Φ(x) H^{⊗n}``
    repeated ``reps`` times, ``U_Φ(x) = exp(-i Σ_S φ_S(x) Π_{i∈S} Z_i)`` over single wires and
    entangled pairs, with their ``φ_i(x) = x_i`` and ``φ_{ij}(x) = (π - x_i)(π - x_j)``.
    Gates: ``h`` on every wire, ``rz(α·x_i)``, then ``rzz(α·(π - x_i)(π - x_j))`` per pair,
    ``α = 2``. (The paper writes ``exp(+i…)``; the sign used here is Qiskit's
    ``ZZFeatureMap``, whose states equal these up to a global phase. The opposite sign gives
    the complex-conjugate state and the same kernel ``|⟨Φ(x)|Φ(y)⟩|²``.)

    Args:
        n_qubits: number of wires and of features.
        reps: number of repetitions (the paper uses 2).
        entanglement: pairs coupled by ``rzz``: ``full`` (all ``i < j``, Qiskit's default),
            ``linear``, ``ring`` or ``none`` (then it is the first-order Z feature map).
        prefix: inputs are named ``{prefix}0 .. {prefix}{n-1}``.
        alpha: the factor in front of every ``φ`` (Qiskit's ``alpha``).

    Returns:
        A circuit whose parameters are the inputs ``x0..x{n-1}``.

    >>> zz_feature_map(2, reps=1).ops[-1]
    rzz(2.0 * (pi - x0) * (pi - x1)) q[0], q[1]
    """
    n = check_int(n_qubits, "n_qubits")
    reps = check_int(reps, "reps")
    prefix = check_prefix(prefix)
    pairs = entangling_pairs(n, entanglement)
    if not isinstance(alpha, int | float) or isinstance(alpha, bool) or not math.isfinite(alpha):
        raise QDLError(f"alpha must be a finite number, got {alpha!r}")
    x: list[Expr] = [Sym(f"{prefix}{i}") for i in range(n)]
    c = Circuit(n)
    for _ in range(reps):
        for i in range(n):
            c.h(i)
        for i in range(n):
            c.rz(i, alpha * x[i])
        for i, j in pairs:
            c.rzz(i, j, alpha * (math.pi - x[i]) * (math.pi - x[j]))
    return c
