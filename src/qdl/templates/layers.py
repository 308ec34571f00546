"""Trainable layers: entangling ansätze and data re-uploading.

Weights are circuit parameters named ``{prefix}{layer}_{wire}[_{k}]``; features are named
``{prefix}{i}``. A :class:`~qdl.nn.QuantumLayer` makes every parameter that is not listed
as an input a trainable weight.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from qdl.circuit import Circuit
from qdl.errors import QDLError
from qdl.expr import Expr, Sym
from qdl.gates import lookup
from qdl.templates._common import (
    check_distinct,
    check_int,
    check_prefix,
    entangling_pairs,
    rotation_gate,
)


def _rot(c: Circuit, wire: int, phi: object, theta: object, omega: object) -> None:
    """PennyLane's ``Rot(φ, θ, ω) = RZ(ω) RY(θ) RZ(φ)``: ``rz(φ)`` acts first."""
    c.rz(wire, phi).ry(wire, theta).rz(wire, omega)


def basic_entangler_layers(
    n_qubits: int, layers: int = 1, rotation: str = "x", prefix: str = "w"
) -> Circuit:
    """Rotation on every wire, then a ring of CNOTs; repeated ``layers`` times.

    Same gates and order as PennyLane's ``BasicEntanglerLayers``: layer ``l`` applies
    ``R(w_{l,i})`` to each wire ``i``, then ``CNOT(i, i+1 mod n)`` for every ``i`` when
    ``n > 2``, a single ``CNOT(0, 1)`` when ``n = 2`` and nothing when ``n = 1``.

    Args:
        n_qubits: number of wires.
        layers: number of layers ``L``.
        rotation: ``"x"`` (default), ``"y"`` or ``"z"``.
        prefix: weights are named ``{prefix}{l}_{i}`` (``L·n`` of them).

    Returns:
        A circuit whose parameters are all weights.

    >>> basic_entangler_layers(2).ops
    (rx(w0_0) q[0], rx(w0_1) q[1], cx q[0], q[1])
    """
    n, layers = check_int(n_qubits, "n_qubits"), check_int(layers, "layers")
    gate, prefix = rotation_gate(rotation), check_prefix(prefix)
    c = Circuit(n)
    for layer in range(layers):
        for i in range(n):
            c.add(gate, [i], [f"{prefix}{layer}_{i}"])
        for a, b in entangling_pairs(n, "ring"):
            c.cx(a, b)
    return c


def strongly_entangling_layers(
    n_qubits: int, layers: int = 1, ranges: Sequence[int] | None = None, prefix: str = "w"
) -> Circuit:
    """Circuit-centric classifier layers (Schuld, Bocharov, Svore & Wiebe).

    Schuld et al., "Circuit-centric quantum classifiers", Phys. Rev. A 101, 032308 (2020),
    as in PennyLane's ``StronglyEntanglingLayers``: layer ``l`` applies
    ``Rot(w_{l,i,0}, w_{l,i,1}, w_{l,i,2}) = RZ(w_{l,i,2}) RY(w_{l,i,1}) RZ(w_{l,i,0})`` to every
    wire ``i``, then (for ``n > 1``) ``CNOT(i, (i + r_l) mod n)`` for ``i = 0..n-1`` with range
    ``r_l = (l mod (n-1)) + 1``.

    Args:
        n_qubits: number of wires.
        layers: number of layers ``L``.
        ranges: the range ``r_l`` of each layer (each ``1 <= r_l < n``); default as above.
        prefix: weights are named ``{prefix}{l}_{i}_{k}``, ``k = 0, 1, 2`` (``3·L·n``).

    Returns:
        A circuit whose parameters are all weights.

    >>> c = strongly_entangling_layers(3, layers=2)
    >>> len(c.parameters), [op.wires for op in c.ops if op.name == "cx"]
    (18, [(0, 1), (1, 2), (2, 0), (0, 2), (1, 0), (2, 1)])
    """
    n, layers = check_int(n_qubits, "n_qubits"), check_int(layers, "layers")
    prefix = check_prefix(prefix)
    if ranges is None:
        ranges = [(layer % (n - 1)) + 1 if n > 1 else 0 for layer in range(layers)]
    ranges = list(ranges)
    bad = [r for r in ranges if not isinstance(r, int) or (n > 1 and not 0 < r < n)]
    if len(ranges) != layers or bad:
        raise QDLError(f"ranges must hold {layers} int(s) r with 0 < r < {n}, got {ranges}")
    c = Circuit(n)
    for layer, r in enumerate(ranges):
        for i in range(n):
            _rot(c, i, *(f"{prefix}{layer}_{i}_{k}" for k in range(3)))
        if n > 1:
            for i in range(n):
                c.cx(i, (i + r) % n)
    return c


def _check_rotations(rotations: Sequence[str] | str) -> list[str]:
    if isinstance(rotations, str):
        rotations = [rotations]
    gates = [rotation_gate(r) for r in rotations]
    if not gates:
        raise QDLError("rotations must name at least one rotation (x, y or z)")
    return gates


def _check_entangler(entangler: str) -> str:
    spec = lookup(entangler) if isinstance(entangler, str) else None
    if spec is None or spec.num_wires != 2 or spec.num_params:
        raise QDLError(f"entangler must be a parameter-free two-qubit gate such as cx or cz, "
                       f"got {entangler!r}")
    return spec.name


def hardware_efficient(
    n_qubits: int,
    layers: int = 1,
    rotations: Sequence[str] | str = ("y", "z"),
    entanglement: str = "linear",
    entangler: str = "cx",
    final_rotations: bool = True,
    prefix: str = "w",
) -> Circuit:
    """Hardware-efficient ansatz: rotation layers alternating with a fixed entangler pattern.

    Kandala et al., "Hardware-efficient variational quantum eigensolver for small molecules
    and quantum magnets", Nature 549, 242 (2017); the layout of Qiskit's ``TwoLocal`` /
    ``EfficientSU2``. Layer ``l`` applies every gate of ``rotations``, in order, to every wire
    ``i`` with angle ``w_{l,i,k}``, then ``entangler`` on each pair of ``entanglement``
    (``linear``: ``(i, i+1)``; ``ring``: linear and ``(n-1, 0)`` for ``n > 2``; ``full``: all
    ``i < j``; ``none``). With ``final_rotations`` a last rotation layer ``l = L`` follows.

    Args:
        n_qubits: number of wires.
        layers: number of entangling layers ``L``.
        rotations: rotation axes per wire and layer, e.g. ``("y", "z")``.
        entanglement: ``linear``, ``ring``, ``full`` or ``none``.
        entangler: a parameter-free two-qubit gate (``cx``, ``cz``, ...).
        final_rotations: add the closing rotation layer.
        prefix: weights are named ``{prefix}{l}_{i}_{k}`` (``k`` indexes ``rotations``).

    Returns:
        A circuit whose parameters are all weights.

    >>> hardware_efficient(2, rotations="y", final_rotations=False).ops
    (ry(w0_0_0) q[0], ry(w0_1_0) q[1], cx q[0], q[1])
    """
    n, layers = check_int(n_qubits, "n_qubits"), check_int(layers, "layers")
    gates, gate2 = _check_rotations(rotations), _check_entangler(entangler)
    pairs, prefix = entangling_pairs(n, entanglement), check_prefix(prefix)
    c = Circuit(n)
    for layer in range(layers + bool(final_rotations)):
        for i in range(n):
            for k, gate in enumerate(gates):
                c.add(gate, [i], [f"{prefix}{layer}_{i}_{k}"])
        if layer < layers:
            for a, b in pairs:
                c.add(gate2, [a, b])
    return c


def _paper_rotation(c: Circuit, wire: int, angles: Sequence[Expr | None]) -> None:
    """``U(a, b, d) = RZ(b) RY(a) RZ(d)``; gates of missing (``None``) angles are left out."""
    a, b, d = [*angles, None, None, None][:3]
    for gate, angle in (("rz", d), ("ry", a), ("rz", b)):
        if angle is not None:
            c.add(gate, [wire], [angle])


def data_reuploading(
    n_features: int,
    layers: int = 1,
    n_qubits: int = 1,
    scaling: bool = False,
    prefix: str = "x",
    weight_prefix: str = "w",
    scale_prefix: str = "s",
) -> Circuit:
    """Data re-uploading classifier (Pérez-Salinas, Cervera-Lierta, Gil-Fuster & Latorre).

    Pérez-Salinas et al., "Data re-uploading for a universal quantum classifier", Quantum 4,
    226 (2020): the features are loaded again in every layer, ``L(l) = U(φ_l) U(x)``, with the
    general rotation ``U(a, b, d) = R_z(b) R_y(a) R_z(d)`` (their ``U(φ)`` in OpenQASM's sign
    convention). Features are taken three at a time, ``U(x_{3c}, x_{3c+1}, x_{3c+2})``, and a
    missing feature leaves its gate out (the paper pads with zeros), so one feature is
    ``R_y(x_0)``. With ``scaling`` each feature gets a trainable factor, ``U(s ∘ x)`` (the
    paper's ``w_l ∘ x``). Every wire runs the same layers; with ``n_qubits > 1`` a chain of
    ``CZ(q, q+1)`` follows every layer but the last, as in the paper's multi-qubit circuits.

    Args:
        n_features: number of features ``F`` (inputs ``{prefix}0..{prefix}{F-1}``).
        layers: number of layers ``L``.
        n_qubits: number of wires, each a copy of the single-qubit classifier.
        scaling: multiply each feature by a weight ``{scale_prefix}{l}_{q}_{j}``.
        prefix: input name prefix.
        weight_prefix: the trainable rotation of layer ``l`` on wire ``q`` is
            ``U(w_{l,q,0}, w_{l,q,1}, w_{l,q,2})``, named ``{weight_prefix}{l}_{q}_{k}``.
        scale_prefix: prefix of the scaling weights.

    Returns:
        A circuit whose parameters are the inputs ``x0..x{F-1}``, then the rotation weights
        ``w{l}_{q}_{k}``, then (with ``scaling``) the scales ``s{l}_{q}_{j}``.

    >>> data_reuploading(1, layers=1).ops
    (ry(x0) q[0], rz(w0_0_2) q[0], ry(w0_0_0) q[0], rz(w0_0_1) q[0])
    """
    f, layers = check_int(n_features, "n_features"), check_int(layers, "layers")
    n = check_int(n_qubits, "n_qubits")
    names = {"prefix": check_prefix(prefix),
             "weight_prefix": check_prefix(weight_prefix, "weight_prefix")}
    if scaling:
        names["scale_prefix"] = check_prefix(scale_prefix, "scale_prefix")
    check_distinct(**names)
    declared = [f"{prefix}{j}" for j in range(f)]
    declared += [f"{weight_prefix}{layer}_{q}_{k}" for layer in range(layers) for q in range(n)
                 for k in range(3)]
    if scaling:
        declared += [f"{scale_prefix}{layer}_{q}_{j}" for layer in range(layers)
                     for q in range(n) for j in range(f)]
    c = Circuit(n, parameters=declared)
    for layer in range(layers):
        for q in range(n):
            for start in range(0, 3 * math.ceil(f / 3), 3):
                chunk = [_feature(j, f, layer, q, prefix, scale_prefix if scaling else None)
                         for j in range(start, start + 3)]
                _paper_rotation(c, q, chunk)
            _paper_rotation(c, q, [Sym(f"{weight_prefix}{layer}_{q}_{k}") for k in range(3)])
        if layer < layers - 1:
            for q in range(n - 1):
                c.cz(q, q + 1)
    return c


def _feature(j: int, f: int, layer: int, q: int, prefix: str, scale: str | None) -> Expr | None:
    if j >= f:
        return None
    x = Sym(f"{prefix}{j}")
    return Sym(f"{scale}{layer}_{q}_{j}") * x if scale else x
