"""Quantum convolutional neural network blocks (Cong, Choi & Lukin 2019).

A QCNN alternates *convolution* layers (one two-qubit unitary, shared by all neighbouring
pairs of a layer) and *pooling* layers (each pair's discarded wire controls a rotation of the
kept wire, halving the active wires) until one wire is left; that wire is read out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from qdl.circuit import Circuit
from qdl.errors import QDLError
from qdl.templates._common import check_distinct, check_int, check_prefix

CONV_PARAMS = 15
POOL_PARAMS = 2


def _check_wires(n_qubits: int, wires: Sequence[int]) -> list[int]:
    n = check_int(n_qubits, "n_qubits")
    wires = list(wires)
    ok = all(isinstance(w, int) and not isinstance(w, bool) and 0 <= w < n for w in wires)
    if not wires or not ok or len(set(wires)) != len(wires):
        raise QDLError(f"wires must be distinct ints in 0..{n - 1}, got {wires}")
    return wires


def conv_unitary(c: Circuit, a: int, b: int, names: Sequence[object]) -> Circuit:
    """A general two-qubit unitary with 15 angles ``θ_0..θ_14`` (KAK form).

    ``(U(θ_9,θ_10,θ_11) ⊗ U(θ_12,θ_13,θ_14)) · R_ZZ(θ_8) R_YY(θ_7) R_XX(θ_6) ·
    (U(θ_0,θ_1,θ_2) ⊗ U(θ_3,θ_4,θ_5))`` with OpenQASM's ``U`` on ``a ⊗ b``; every two-qubit
    unitary has this form up to a global phase (Khaneja & Glaser 2001; Vatan & Williams 2004).

    >>> len(conv_unitary(Circuit(2), 0, 1, [f"t{k}" for k in range(15)]).ops)
    7
    """
    t = list(names)
    if len(t) != CONV_PARAMS:
        raise QDLError(f"conv_unitary takes {CONV_PARAMS} angles, got {len(t)}")
    c.u(a, *t[0:3]).u(b, *t[3:6])
    c.rxx(a, b, t[6]).ryy(a, b, t[7]).rzz(a, b, t[8])
    return c.u(a, *t[9:12]).u(b, *t[12:15])


def qcnn_conv(n_qubits: int, wires: Sequence[int], layer: int = 0, prefix: str = "c") -> Circuit:
    """Convolution layer: :func:`conv_unitary` on neighbouring pairs of ``wires``, brick-wall.

    Cong, Choi & Lukin, "Quantum convolutional neural networks", Nat. Phys. 15, 1273 (2019):
    one quasi-local unitary applied translation-invariantly, so all pairs share the 15 angles
    ``{prefix}{layer}_{k}``. Pairs ``(w_0,w_1), (w_2,w_3), …`` first, then
    ``(w_1,w_2), (w_3,w_4), …``. A single wire gets no gate.

    Args:
        n_qubits: size of the register.
        wires: the active wires, in order.
        layer: layer index used in the names.
        prefix: weights ``{prefix}{layer}_{k}``, ``k = 0..14``.

    >>> c = qcnn_conv(4, [0, 1, 2, 3])
    >>> [op.wires for op in c.ops if op.name == "rxx"], len(c.parameters)
    ([(0, 1), (2, 3), (1, 2)], 15)
    """
    wires, prefix = _check_wires(n_qubits, wires), check_prefix(prefix)
    layer = check_int(layer, "layer", 0)
    names = [f"{prefix}{layer}_{k}" for k in range(CONV_PARAMS)]
    c = Circuit(n_qubits)
    for start in (0, 1):
        for i in range(start, len(wires) - 1, 2):
            conv_unitary(c, wires[i], wires[i + 1], names)
    return c


def pooled_wires(wires: Sequence[int]) -> list[int]:
    """Wires kept by :func:`qcnn_pool`: the second of each pair, plus an unpaired last wire.

    >>> pooled_wires([0, 1, 2, 3, 4])
    [1, 3, 4]
    """
    wires = list(wires)
    return wires[1::2] + (wires[-1:] if len(wires) % 2 else [])


def qcnn_pool(n_qubits: int, wires: Sequence[int], layer: int = 0, prefix: str = "p") -> Circuit:
    """Pooling layer: pair ``(w_{2i}, w_{2i+1})`` discards ``w_{2i}`` and keeps ``w_{2i+1}``.

    Cong, Choi & Lukin (2019) pool by measuring a wire and rotating its neighbour depending
    on the outcome; coherently that is a rotation controlled by the discarded wire: ``CRZ(p_0)``
    (outcome 1) and, between two ``X`` on the control, ``CRX(p_1)`` (outcome 0), as in Hur,
    Kim & Park, Quantum Mach. Intell. 4, 3 (2022). All pairs share ``{prefix}{layer}_0,1``. The
    discarded wires are not used again; :func:`pooled_wires` lists the kept ones.

    >>> qcnn_pool(2, [0, 1]).ops
    (crz(p0_0) q[0], q[1], x q[0], crx(p0_1) q[0], q[1], x q[0])
    """
    wires, prefix = _check_wires(n_qubits, wires), check_prefix(prefix)
    layer = check_int(layer, "layer", 0)
    p0, p1 = (f"{prefix}{layer}_{k}" for k in range(POOL_PARAMS))
    c = Circuit(n_qubits)
    for i in range(0, len(wires) - 1, 2):
        drop, keep = wires[i], wires[i + 1]
        c.crz(drop, keep, p0).x(drop).crx(drop, keep, p1).x(drop)
    return c


class QCNN(NamedTuple):
    """A QCNN circuit and the wire to read out (measure ``Z{readout}``)."""

    circuit: Circuit
    readout: int
    active: tuple[tuple[int, ...], ...]

    @property
    def observable(self) -> str:
        """The Pauli-Z observable on the readout wire, e.g. ``"Z3"``."""
        return f"Z{self.readout}"


def qcnn(
    n_qubits: int,
    conv_prefix: str = "c",
    pool_prefix: str = "p",
    final_prefix: str | None = "f",
) -> QCNN:
    """Stack convolution and pooling layers until one wire is left (Cong, Choi & Lukin 2019).

    Layer ``l`` runs :func:`qcnn_conv` and :func:`qcnn_pool` on the active wires
    ``active[l]`` (``active[0] = 0..n-1``); ``active[l+1] = pooled_wires(active[l])``, about
    half as many, until one wire, the readout, is left. The last wire is never discarded, so
    the readout is always wire ``n - 1``. With ``final_prefix`` a last ``U(f_0, f_1, f_2)``
    on the readout wire plays the paper's final fully connected layer.

    Args:
        n_qubits: number of wires (``1`` gives just the final rotation).
        conv_prefix: convolution weights ``{conv_prefix}{l}_{k}`` (15 per layer).
        pool_prefix: pooling weights ``{pool_prefix}{l}_{k}`` (2 per layer).
        final_prefix: prefix of the final rotation's 3 weights, ``None`` to leave it out.

    Returns:
        ``QCNN(circuit, readout, active)``; ``active`` lists the active wires per layer,
        ending with ``(readout,)``.

    >>> net = qcnn(4)
    >>> net.readout, net.observable, net.active
    (3, 'Z3', ((0, 1, 2, 3), (1, 3), (3,)))
    >>> len(net.circuit.parameters)
    37
    """
    n = check_int(n_qubits, "n_qubits")
    prefixes = {"conv_prefix": check_prefix(conv_prefix, "conv_prefix"),
                "pool_prefix": check_prefix(pool_prefix, "pool_prefix")}
    if final_prefix is not None:
        prefixes["final_prefix"] = check_prefix(final_prefix, "final_prefix")
    check_distinct(**prefixes)
    c = Circuit(n)
    active = [tuple(range(n))]
    while len(active[-1]) > 1:
        layer = len(active) - 1
        c.extend(qcnn_conv(n, active[-1], layer, conv_prefix))
        c.extend(qcnn_pool(n, active[-1], layer, pool_prefix))
        active.append(tuple(pooled_wires(active[-1])))
    readout = active[-1][0]
    if final_prefix is not None:
        c.u(readout, *(f"{final_prefix}{k}" for k in range(3)))
    return QCNN(c, readout, tuple(active))
