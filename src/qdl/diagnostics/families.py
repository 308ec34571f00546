"""Circuit families ``(n_qubits, layers) -> Circuit`` for trainability studies.

* :func:`mcclean_circuit`: the random circuits of McClean et al. (2018), a fixed ``RY(π/4)``
  layer followed by layers of rotations about random Pauli axes and a ladder of CZ gates;
* :func:`sim_circuit`: the numbered circuits 1-19 of Sim, Johnson & Aspuru-Guzik (2019);
* :func:`get_family`: a family by name (``hardware_efficient``, ``strongly_entangling``,
  ``basic_entangler``, ``mcclean``, ``sim1`` … ``sim19``), as the ``qdl diagnose``
  configuration files name them.

Every parameter of these circuits is a trainable angle; the diagnostics draw them uniformly
from ``[0, 2π)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from itertools import count

import numpy as np

from qdl.circuit import Circuit
from qdl.diagnostics._common import check_count
from qdl.errors import QDLError
from qdl.templates import basic_entangler_layers, hardware_efficient, strongly_entangling_layers

Family = Callable[[int, int], Circuit]

_AXES = ("rx", "ry", "rz")


def mcclean_circuit(
    n_qubits: int,
    layers: int,
    seed: int | np.random.Generator | None = None,
    prefix: str = "t",
) -> Circuit:
    """A random circuit of McClean, Boixo, Smelyanskiy, Babbush & Neven.

    "Barren plateaus in quantum neural network training landscapes", Nat. Commun. 9, 4812
    (2018): every qubit starts in ``RY(π/4)|0⟩``; each of the ``layers`` layers applies
    ``R_P(θ_{l,q}) = exp(-iθP/2)`` to every qubit ``q`` with the axis ``P ∈ {X, Y, Z}`` drawn
    uniformly at random, then ``CZ(q, q+1)`` on neighbouring qubits of a line.

    Args:
        n_qubits: number of qubits.
        layers: number of random layers ``L``.
        seed: seed or numpy generator for the axes (the angles stay free parameters).
        prefix: the angle of layer ``l`` on qubit ``q`` is named ``{prefix}{l}_{q}``.

    Returns:
        A circuit with ``L·n`` parameters; ``{prefix}0_0`` is McClean's ``θ_{1,1}``.

    >>> mcclean_circuit(2, 1, seed=0).ops[-1]
    cz q[0], q[1]
    """
    n, layers = check_count(n_qubits, "n_qubits"), check_count(layers, "layers")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    axes = rng.integers(0, 3, size=(layers, n))
    c = Circuit(n)
    for q in range(n):
        c.ry(q, math.pi / 4)
    for layer in range(layers):
        for q in range(n):
            c.add(_AXES[axes[layer, q]], [q], [f"{prefix}{layer}_{q}"])
        for q in range(n - 1):
            c.cz(q, q + 1)
    return c


def _rotations(c: Circuit, names: Iterator[str], gates: tuple[str, ...], wires: range) -> None:
    for w in wires:
        for gate in gates:
            c.add(gate, [w], [next(names)])


def _pairs(c: Circuit, names: Iterator[str], gate: str, pairs: list[tuple[int, int]]) -> None:
    for control, target in pairs:
        c.add(gate, [control, target], [next(names)] if gate.startswith("cr") else [])


def _ladder(n: int) -> list[tuple[int, int]]:
    """``(q+1 → q)`` from the last qubit up: ``(3,2), (2,1), (1,0)`` for four qubits."""
    return [(q + 1, q) for q in reversed(range(n - 1))]


def _ring_down(n: int) -> list[tuple[int, int]]:
    """``(q → q+1 mod n)`` for ``q = n-1 … 0``: ``(3,0), (2,3), (1,2), (0,1)``."""
    return [(q, (q + 1) % n) for q in reversed(range(n))] if n > 1 else []


def _ring_up(n: int) -> list[tuple[int, int]]:
    """``(n-1 → n-2)``, then ``(q → q-1 mod n)`` for ``q = 0 … n-2``: ``(3,2), (0,3), …``."""
    if n < 2:
        return []
    return [(n - 1, n - 2)] + [(q, (q - 1) % n) for q in range(n - 1)]


def _all_to_all(n: int) -> list[tuple[int, int]]:
    return [(q, t) for q in reversed(range(n)) for t in reversed(range(n)) if t != q]


def _bricks(n: int, odd: bool) -> list[tuple[int, int]]:
    """``(q+1 → q)`` for even ``q`` (``odd=False``) or odd ``q``."""
    return [(q + 1, q) for q in range(int(odd), n - 1, 2)]


def _cz_ring(n: int) -> list[tuple[int, int]]:
    return _ladder(n) + ([(n - 1, 0)] if n > 2 else [])


def _sim_layer(number: int, c: Circuit, names: Iterator[str]) -> None:
    n, every = c.n_qubits, range(c.n_qubits)
    xz = ("rx", "rz")
    crot = "crz" if number in (3, 5, 7, 13, 16, 18) else "crx"
    if number in (1, 2, 3, 4, 5, 6, 7, 8, 16, 17, 18, 19):
        _rotations(c, names, xz, every)
    if number == 1:
        return
    if number == 2:
        _pairs(c, names, "cx", _ladder(n))
    elif number in (3, 4):
        _pairs(c, names, crot, _ladder(n))
    elif number in (5, 6):
        _pairs(c, names, crot, _all_to_all(n))
        _rotations(c, names, xz, every)
    elif number in (7, 8):
        _pairs(c, names, crot, _bricks(n, odd=False))
        _rotations(c, names, xz, every)
        _pairs(c, names, crot, _bricks(n, odd=True))
    elif number in (16, 17):
        _pairs(c, names, crot, _bricks(n, odd=False) + _bricks(n, odd=True))
    elif number in (18, 19):
        _pairs(c, names, crot, _ring_down(n))
    else:
        _sim_layer_rest(number, c, names)


def _sim_layer_rest(number: int, c: Circuit, names: Iterator[str]) -> None:
    n, every = c.n_qubits, range(c.n_qubits)
    if number == 9:
        for q in every:
            c.h(q)
        _pairs(c, names, "cz", _ladder(n))
        _rotations(c, names, ("rx",), every)
    elif number == 10:
        _rotations(c, names, ("ry",), every)
        _pairs(c, names, "cz", _cz_ring(n))
        _rotations(c, names, ("ry",), every)
    elif number in (11, 12):
        gate = "cx" if number == 11 else "cz"
        _rotations(c, names, ("ry", "rz"), every)
        _pairs(c, names, gate, _bricks(n, odd=False))
        _rotations(c, names, ("ry", "rz"), range(1, n - 1))
        _pairs(c, names, gate, _bricks(n, odd=True))
    else:
        gate = {13: "crz", 14: "crx", 15: "cx"}[number]
        _rotations(c, names, ("ry",), every)
        _pairs(c, names, gate, _ring_down(n))
        _rotations(c, names, ("ry",), every)
        _pairs(c, names, gate, _ring_up(n))


def sim_circuit(number: int, n_qubits: int = 4, layers: int = 1, prefix: str = "w") -> Circuit:
    """Circuit ``number`` (1-19) of Sim, Johnson & Aspuru-Guzik, repeated ``layers`` times.

    "Expressibility and entangling capability of parameterized quantum circuits for hybrid
    quantum-classical algorithms", Adv. Quantum Technol. 2, 1900070 (2019), arXiv:1905.10876,
    Fig. 2, drawn there for four qubits and extended here to ``n`` the same way. One layer:

    * 1: ``RX, RZ`` on every qubit; 2: then a CNOT ladder ``(3→2), (2→1), (1→0)``;
      3 / 4: the same ladder of ``CRZ`` / ``CRX``;
    * 5 / 6: ``RX, RZ``, ``CRZ`` / ``CRX`` from every qubit to every other, ``RX, RZ``;
    * 7 / 8: ``RX, RZ``, ``CR(1→0), CR(3→2)``, ``RX, RZ``, ``CR(2→1)`` (``CRZ`` / ``CRX``);
    * 9: ``H``, CZ ladder, ``RX``; 10: ``RY``, CZ ring, ``RY``;
    * 11 / 12: ``RY, RZ``, ``CNOT`` / ``CZ`` on ``(1→0), (3→2)``, ``RY, RZ`` on the inner
      qubits 1 and 2, then ``(2→1)``;
    * 13 / 14 / 15: ``RY``, ring ``(3→0), (2→3), (1→2), (0→1)``, ``RY``, ring
      ``(3→2), (0→3), (1→0), (2→1)`` of ``CRZ`` / ``CRX`` / ``CNOT``;
    * 16 / 17: ``RX, RZ``, ``CR(1→0), CR(3→2), CR(2→1)``; 18 / 19: ``RX, RZ``, ring
      ``(3→0), (2→3), (1→2), (0→1)`` (``CRZ`` / ``CRX``).

    The paper numbers its qubits from the top of the drawing; relabelling qubits changes
    neither the expressibility nor the entangling capability.

    Args:
        number: the circuit's number in the paper, 1 to 19.
        n_qubits: number of qubits (the paper uses 4).
        layers: number of repetitions ``L``.
        prefix: parameters are named ``{prefix}{l}_{k}``, ``k`` counting within a layer.

    Returns:
        A circuit whose parameters are all angles.

    >>> len(sim_circuit(11).parameters), len(sim_circuit(6).parameters)
    (12, 28)
    """
    if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= 19:
        raise QDLError(f"Sim et al. number their circuits 1 to 19, got {number!r}")
    n, layers = check_count(n_qubits, "n_qubits"), check_count(layers, "layers")
    c = Circuit(n)
    for layer in range(layers):
        _sim_layer(number, c, (f"{prefix}{layer}_{k}" for k in count()))
    return c


def _sim_family(number: int) -> Family:
    return lambda n, layers: sim_circuit(number, n, layers)


def get_family(name: str, seed: int | None = None, **options: object) -> Family:
    """The circuit family called ``name``, a callable ``(n_qubits, layers) -> Circuit``.

    Names: ``hardware_efficient``, ``strongly_entangling`` and ``basic_entangler`` (the
    templates of the same names, ``options`` passed on, e.g. ``rotations`` or
    ``entanglement``), ``mcclean`` (:func:`mcclean_circuit`; every call draws new random
    axes from one generator seeded with ``seed``) and ``sim1`` … ``sim19``
    (:func:`sim_circuit`).

    >>> get_family("sim9")(3, 1).ops[0]
    h q[0]
    """
    templates = {"hardware_efficient": hardware_efficient,
                 "strongly_entangling": strongly_entangling_layers,
                 "basic_entangler": basic_entangler_layers}
    if name in templates:
        template = templates[name]

        def family(n: int, layers: int) -> Circuit:
            try:
                return template(n, layers, **options)  # type: ignore[arg-type, operator]
            except TypeError as exc:
                raise QDLError(f"bad option for template {name!r}: {exc}") from None

        return family
    if options:
        raise QDLError(f"family {name!r} takes no options, got {sorted(options)}")
    if name == "mcclean":
        rng = np.random.default_rng(seed)
        return lambda n, layers: mcclean_circuit(n, layers, rng)
    if name.startswith("sim") and name[3:].isdigit() and 1 <= int(name[3:]) <= 19:
        return _sim_family(int(name[3:]))
    names = ", ".join([*templates, "mcclean", "sim1 … sim19"])
    raise QDLError(f"unknown circuit family {name!r}; choose one of {names}")
