"""Argument checks and wiring patterns shared by the templates."""

from __future__ import annotations

from collections.abc import Sequence

from qdl.circuit import Circuit, Op
from qdl.errors import QDLError

PATTERNS = ("linear", "ring", "full", "none")
ROTATIONS = {"x": "rx", "y": "ry", "z": "rz", "rx": "rx", "ry": "ry", "rz": "rz"}


def check_int(value: object, what: str, minimum: int = 1) -> int:
    """``value`` as an int ``>= minimum``; ``QDLError`` naming ``what`` otherwise."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise QDLError(f"{what} must be an int >= {minimum}, got {value!r}")
    return value


def check_prefix(prefix: object, what: str = "prefix") -> str:
    """A parameter-name prefix: ``prefix + "0"`` must be an identifier."""
    if not isinstance(prefix, str) or not (prefix + "0").isidentifier():
        raise QDLError(f"{what} must be an identifier-like string such as 'x' or 'w', "
                       f"got {prefix!r}")
    return prefix


def check_distinct(**prefixes: str) -> None:
    """Two parameter families of one template must not share a prefix."""
    seen: dict[str, str] = {}
    for what, prefix in prefixes.items():
        if prefix in seen:
            raise QDLError(f"{what} and {seen[prefix]} are both {prefix!r}; their parameter "
                           "names would collide")
        seen[prefix] = what


def rotation_gate(rotation: object) -> str:
    """Gate name for a rotation axis: ``"x"``/``"rx"`` -> ``"rx"`` (case-insensitive)."""
    gate = ROTATIONS.get(rotation.lower()) if isinstance(rotation, str) else None
    if gate is None:
        raise QDLError(f"unknown rotation {rotation!r}; choose one of x, y, z (or rx, ry, rz)")
    return gate


def entangling_pairs(n: int, pattern: str) -> list[tuple[int, int]]:
    """Ordered wire pairs ``(control, target)`` of an entangling pattern on ``n`` wires.

    ``linear``: ``(i, i+1)``; ``ring``: linear plus ``(n-1, 0)`` when ``n > 2``;
    ``full``: every ``(i, j)`` with ``i < j``; ``none``: no pairs.

    >>> entangling_pairs(3, "ring")
    [(0, 1), (1, 2), (2, 0)]
    >>> entangling_pairs(3, "full")
    [(0, 1), (0, 2), (1, 2)]
    """
    if pattern not in PATTERNS:
        raise QDLError(f"unknown entangling pattern {pattern!r}; choose one of "
                       f"{', '.join(PATTERNS)}")
    if pattern == "none":
        return []
    if pattern == "full":
        return [(i, j) for i in range(n) for j in range(i + 1, n)]
    pairs = [(i, i + 1) for i in range(n - 1)]
    if pattern == "ring" and n > 2:
        pairs.append((n - 1, 0))
    return pairs


def remap(circuit: Circuit, wires: Sequence[int], n_qubits: int | None = None) -> Circuit:
    """A copy of ``circuit`` with its wire ``i`` moved to ``wires[i]`` in a larger register.

    Templates are built on wires ``0..n-1``; ``remap`` places them anywhere, e.g. an
    embedding on wires 2 and 3 of a 4-qubit model.

    Args:
        circuit: the circuit to move.
        wires: the new wire of each of its wires (distinct).
        n_qubits: size of the new register (default ``max(wires) + 1``).

    Returns:
        A new circuit on ``n_qubits`` wires with the same parameters.

    Raises:
        QDLError: ``wires`` has the wrong length, repeats a wire or does not fit.

    >>> from qdl import Circuit
    >>> remap(Circuit(2).cx(0, 1), [3, 1]).ops
    (cx q[3], q[1],)
    """
    wires = list(wires)
    if len(wires) != circuit.n_qubits or len(set(wires)) != len(wires):
        raise QDLError(f"remap needs {circuit.n_qubits} distinct wires, got {wires}")
    size = (max(wires) + 1 if wires else 0) if n_qubits is None else n_qubits
    ops = [Op(op.name, tuple(wires[w] for w in op.wires), op.params, op.ctrl)
           for op in circuit.ops]
    return Circuit(size, ops, circuit.parameters)
