"""The gate table: one row per gate, each gate defined exactly once.

Conventions follow OpenQASM 3 ``stdgates.inc`` (and agree with Qiskit's matrices): wire 0
of a gate is the most significant bit of its matrix index, ``rx(θ) = exp(-iθX/2)``,
``p(λ) = diag(1, e^{iλ})``, ``u(θ,φ,λ) = [[cos, -e^{iλ} sin], [e^{iφ} sin, e^{i(φ+λ)} cos]]``
with half angles.

Each row declares how the simulator applies it (``kind``):

* ``diagonal``: ``fn(params)`` returns the diagonal, shape ``(*batch, 2**k)``;
* ``permutation``: ``perm`` maps output basis index ``i`` to input index ``perm[i]``;
* ``general``: ``fn(params)`` returns the matrix, shape ``(*batch, 2**k, 2**k)``.

Controlled gates (``cx``, ``crx``, ``ccx`` ...) name a ``base`` gate and a number of
controls; their matrices, kinds and shift rules are derived from the base. For each
parameter the row declares the spectrum of its generator ``g`` (``M = V exp(-iθg) W``):
parameter-shift rules are derived from the frequencies (differences of that spectrum), never
written per gate.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import cache

import numpy as np
import torch

from qdl.errors import QDLError
from qdl.expr import Const, Expr, Sym

Params = Sequence[torch.Tensor]


class Kind(Enum):
    """How a gate acts on the amplitudes."""

    DIAGONAL = "diagonal"
    PERMUTATION = "permutation"
    GENERAL = "general"


@dataclass(frozen=True, eq=False)
class GateSpec:
    """One row of the gate table.

    Attributes:
        name: OpenQASM 3 name.
        num_wires: number of wires, controls included.
        num_params: number of real parameters.
        kind: how the simulator applies the (base) gate.
        fn: parameters -> diagonal or matrix (see the module docstring); ``None`` for
            permutations.
        perm: basis permutation for ``Kind.PERMUTATION``.
        spectra: per parameter, the eigenvalues of its generator ``g``.
        inverse: maps parameter expressions to ``(name, parameters)`` of the inverse gate;
            controlled gates invert through their base.
        base: for controlled gates, the name of the gate on the targets.
        num_controls: controls in front of the base gate's wires.
        qasm_def: OpenQASM 3 definition for gates outside ``stdgates.inc``.
        decompose: for gates outside ``stdgates.inc`` and Qiskit's library, parameter
            expressions -> ``((gate, local wires, parameters), ...)`` in standard gates; the
            ``qasm_def`` is written from it, so the two cannot disagree.
        family: rows made on demand rather than listed here (``"pauli_rot"`` for Pauli
            rotations of any word, ``"unitary"`` for constant matrices); ``None`` for the table.
    """

    name: str
    num_wires: int
    num_params: int
    kind: Kind
    fn: Callable[..., torch.Tensor] | None = None
    perm: tuple[int, ...] | None = None
    spectra: tuple[tuple[float, ...], ...] = ()
    inverse: Callable[[tuple], tuple[str, tuple]] | None = None
    base: str | None = None
    num_controls: int = 0
    qasm_def: str | None = None
    decompose: Callable[[tuple], tuple[tuple[str, tuple[int, ...], tuple], ...]] | None = None
    family: str | None = None

    @property
    def frequencies(self) -> tuple[tuple[float, ...], ...]:
        """Per parameter, the distinct positive differences of the generator spectrum."""
        return self.controlled_frequencies(0)

    def controlled_frequencies(self, extra_controls: int) -> tuple[tuple[float, ...], ...]:
        """Frequencies with ``extra_controls`` more controls: each adds eigenvalue 0."""
        extra = {0.0} if extra_controls else set()
        return tuple(_frequencies(tuple(set(s) | extra)) for s in self.spectra)

    def __repr__(self) -> str:
        return f"GateSpec({self.name!r}, wires={self.num_wires}, params={self.num_params})"


class _Table(dict):
    """The gate table; rows made on demand (:data:`FAMILY`) resolve by name but do not
    iterate, so code and tests that walk the table see exactly the rows listed here."""

    def __missing__(self, name: str) -> GateSpec:
        return FAMILY[name]


GATES: dict[str, GateSpec] = _Table()
FAMILY: dict[str, GateSpec] = {}
"""Rows made on first use: Pauli rotations of any word, gates given by their matrix."""
ALIASES = {"CX": "cx", "U": "u", "u3": "u", "phase": "p", "u1": "p", "cphase": "cp",
           "cu1": "cp", "toffoli": "ccx", "fredkin": "cswap", "givens": "single_excitation"}
STDGATES = frozenset(
    """p x y z h s sdg t tdg sx rx ry rz cx cy cz cp crx cry crz ch swap ccx cswap cu
    CX phase cphase id u1 u2 u3 U gphase""".split()
)


def lookup(name: str) -> GateSpec:
    """The table row for a gate name or alias; ``QDLError`` naming close matches otherwise.

    >>> lookup("cu1").name
    'cp'
    """
    spec = GATES.get(ALIASES.get(name, name)) or FAMILY.get(name)
    if spec is None and name.startswith(PAULI_ROT + "_"):
        spec = pauli_rot_row(name[len(PAULI_ROT) + 1:].upper())
    if spec is None:
        close = sorted(g for g in GATES if g[:2] == name[:2])[:5]
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise QDLError(f"unknown gate {name!r}{hint}")
    return spec


def _self_inverse(name: str) -> Callable[[tuple], tuple[str, tuple]]:
    return lambda p: (name, p)


def _negate(name: str) -> Callable[[tuple], tuple[str, tuple]]:
    return lambda p: (name, tuple(-x for x in p))


def _row(name: str, wires: int, kind: Kind, **kw: object) -> None:
    spectra = kw.get("spectra", ())
    kw.setdefault("inverse", _negate(name) if spectra else _self_inverse(name))
    if kw.get("decompose") and not kw.get("qasm_def"):
        kw["qasm_def"] = _qasm_def(name, wires, len(spectra), kw["decompose"])  # type: ignore[arg-type]
    table = FAMILY if kw.get("family") else GATES
    table[name] = GateSpec(name, wires, len(spectra), kind, **kw)  # type: ignore[arg-type]


# Names sort in parameter order: qiskit_qasm3_import orders a custom gate's parameters by name.
_PARAM_NAMES = {1: ("theta",), 3: ("a_phi", "b_theta", "c_omega")}


def _qasm_def(name: str, wires: int, num_params: int,
              decompose: Callable[[tuple], tuple[tuple[str, tuple[int, ...], tuple], ...]]
              ) -> str:
    """An OpenQASM 3 ``gate`` definition written from a row's decomposition."""
    names = _PARAM_NAMES[num_params] if num_params else ()
    qubits = [f"q{i}" for i in range(wires)]
    body = []
    for gate, local, params in decompose(tuple(Sym(n) for n in names)):
        args = f"({', '.join(p.qasm() for p in params)})" if params else ""
        targets = " " + ", ".join(qubits[w] for w in local) if local else ""
        body.append(f"{gate}{args}{targets};")
    head = f"gate {name}({', '.join(names)})" if names else f"gate {name}"
    return f"{head} {', '.join(qubits)} {{ {' '.join(body)} }}"


def _c(x: torch.Tensor) -> torch.Tensor:
    """exp(ix) as a complex tensor of the parameter's matching precision."""
    return torch.polar(torch.ones_like(x), x)


def _stack(rows: list[list[torch.Tensor]]) -> torch.Tensor:
    return torch.stack([torch.stack(r, -1) for r in rows], -2)


def _rx(p: Params) -> torch.Tensor:
    c, s = torch.cos(p[0] / 2), torch.sin(p[0] / 2)
    c, js = torch.complex(c, 0 * c), torch.complex(0 * s, -s)
    return _stack([[c, js], [js, c]])


def _ry(p: Params) -> torch.Tensor:
    c, s = torch.cos(p[0] / 2), torch.sin(p[0] / 2)
    c, s = torch.complex(c, 0 * c), torch.complex(s, 0 * s)
    return _stack([[c, -s], [s, c]])


def _u(p: Params) -> torch.Tensor:
    theta, phi, lam = p
    c, s = torch.cos(theta / 2), torch.sin(theta / 2)
    c, s = torch.complex(c, 0 * c), torch.complex(s, 0 * s)
    return _stack([[c, -_c(lam) * s], [_c(phi) * s, _c(phi + lam) * c]])


def _u2(p: Params) -> torch.Tensor:
    return _u([torch.full_like(p[0], math.pi / 2), p[0], p[1]])


def _rxx_like(pauli: str) -> Callable[[Params], torch.Tensor]:
    gen = torch.from_numpy(np.kron(PAULI[pauli], PAULI[pauli]))

    def fn(p: Params) -> torch.Tensor:
        c, s = torch.cos(p[0] / 2), torch.sin(p[0] / 2)
        cc = torch.complex(c, 0 * c)[..., None, None]
        ss = torch.complex(0 * s, -s)[..., None, None]
        eye = torch.eye(4, dtype=cc.dtype, device=cc.device)
        return cc * eye + ss * gen.to(cc)

    return fn


def _const(values: Sequence[complex]) -> Callable[[Params], torch.Tensor]:
    arr = torch.tensor(values, dtype=torch.complex128)
    return lambda p: arr


def _const_matrix(rows: Sequence[Sequence[complex]]) -> Callable[[Params], torch.Tensor]:
    arr = torch.tensor(rows, dtype=torch.complex128)
    return lambda p: arr


PAULI = {
    "I": np.eye(2, dtype=complex),
    "X": np.array([[0, 1], [1, 0]], dtype=complex),
    "Y": np.array([[0, -1j], [1j, 0]]),
    "Z": np.array([[1, 0], [0, -1]], dtype=complex),
}
_HALF = (-0.5, 0.5)
_PHASE = (0.0, -1.0)
_R2 = 1 / math.sqrt(2)
_SX = [[(1 + 1j) / 2, (1 - 1j) / 2], [(1 - 1j) / 2, (1 + 1j) / 2]]
_E4 = complex(math.cos(math.pi / 4), math.sin(math.pi / 4))

_row("id", 1, Kind.DIAGONAL, fn=_const([1, 1]))
_row("x", 1, Kind.PERMUTATION, perm=(1, 0))
_row("y", 1, Kind.GENERAL, fn=_const_matrix([[0, -1j], [1j, 0]]))
_row("z", 1, Kind.DIAGONAL, fn=_const([1, -1]))
_row("h", 1, Kind.GENERAL, fn=_const_matrix([[_R2, _R2], [_R2, -_R2]]))
_row("s", 1, Kind.DIAGONAL, fn=_const([1, 1j]), inverse=lambda p: ("sdg", p))
_row("sdg", 1, Kind.DIAGONAL, fn=_const([1, -1j]), inverse=lambda p: ("s", p))
_row("t", 1, Kind.DIAGONAL, fn=_const([1, _E4]), inverse=lambda p: ("tdg", p))
_row("tdg", 1, Kind.DIAGONAL, fn=_const([1, _E4.conjugate()]), inverse=lambda p: ("t", p))
_row("sx", 1, Kind.GENERAL, fn=_const_matrix(_SX), inverse=lambda p: ("sxdg", p))
_row("sxdg", 1, Kind.GENERAL, fn=_const_matrix(np.conj(_SX).T.tolist()),
     inverse=lambda p: ("sx", p), qasm_def="gate sxdg a { inv @ sx a; }")
_row("rx", 1, Kind.GENERAL, fn=_rx, spectra=(_HALF,))
_row("ry", 1, Kind.GENERAL, fn=_ry, spectra=(_HALF,))
_row("rz", 1, Kind.DIAGONAL, fn=lambda p: torch.stack([_c(-p[0] / 2), _c(p[0] / 2)], -1),
     spectra=(_HALF,))
_row("p", 1, Kind.DIAGONAL, fn=lambda p: torch.stack([torch.ones_like(_c(p[0])), _c(p[0])], -1),
     spectra=(_PHASE,))
_row("u", 1, Kind.GENERAL, fn=_u, spectra=(_HALF, _PHASE, _PHASE),
     inverse=lambda p: ("u", (-p[0], -p[2], -p[1])))
_row("u2", 1, Kind.GENERAL, fn=_u2, spectra=(_PHASE, _PHASE),
     inverse=lambda p: ("u", (Const(-math.pi / 2), -p[1], -p[0])))
_row("gphase", 0, Kind.DIAGONAL, fn=lambda p: _c(p[0])[..., None], spectra=((-1.0,),))
_row("swap", 2, Kind.PERMUTATION, perm=(0, 2, 1, 3))
_row("iswap", 2, Kind.GENERAL,
     fn=_const_matrix([[1, 0, 0, 0], [0, 0, 1j, 0], [0, 1j, 0, 0], [0, 0, 0, 1]]),
     inverse=lambda p: ("iswap_dg", p),
     qasm_def="gate iswap a, b { s a; s b; h a; cx a, b; cx b, a; h b; }")
_row("iswap_dg", 2, Kind.GENERAL,
     fn=_const_matrix([[1, 0, 0, 0], [0, 0, -1j, 0], [0, -1j, 0, 0], [0, 0, 0, 1]]),
     inverse=lambda p: ("iswap", p),
     qasm_def="gate iswap_dg a, b { inv @ iswap a, b; }")
_row("rxx", 2, Kind.GENERAL, fn=_rxx_like("X"), spectra=(_HALF,),
     qasm_def="gate rxx(theta) a, b { h a; h b; cx a, b; rz(theta) b; cx a, b; h a; h b; }")
_row("ryy", 2, Kind.GENERAL, fn=_rxx_like("Y"), spectra=(_HALF,),
     qasm_def="gate ryy(theta) a, b { rx(pi/2) a; rx(pi/2) b; cx a, b; rz(theta) b; cx a, b; "
     "rx(-pi/2) a; rx(-pi/2) b; }")
_row("rzz", 2, Kind.DIAGONAL,
     fn=lambda p: torch.stack([_c(-p[0] / 2), _c(p[0] / 2), _c(p[0] / 2), _c(-p[0] / 2)], -1),
     spectra=(_HALF,), qasm_def="gate rzz(theta) a, b { cx a, b; rz(theta) b; cx a, b; }")


# ---- Rotations from chemistry and of Pauli words (PennyLane's matrices and wire order) -------
# Each is exp(-iθG) for a generator G written once; the spectrum is G's eigenvalues, so the
# shift rules, the matrix and the QASM decomposition all follow from G (and cannot disagree).

Decomposition = tuple[tuple[str, tuple[int, ...], tuple], ...]
_BASIS_IN = {"X": (("h", ()),), "Y": (("rx", (Const(math.pi / 2),)),), "Z": ()}
_BASIS_OUT = {"X": (("h", ()),), "Y": (("rx", (Const(-math.pi / 2),)),), "Z": ()}


def _pauli_rot_ops(word: str, wires: Sequence[int], angle: Expr) -> Decomposition:
    """exp(−i·angle/2·P) for a Pauli word: basis change, CNOT parity ladder, rz, undo."""
    active = [(w, letter) for w, letter in zip(wires, word, strict=True) if letter != "I"]
    ladder = tuple(("cx", (a, b), ()) for (a, _), (b, _) in itertools.pairwise(active))
    into = tuple((g, (w,), args) for w, letter in active for g, args in _BASIS_IN[letter])
    out = tuple((g, (w,), args) for w, letter in active for g, args in _BASIS_OUT[letter])
    return into + ladder + (("rz", (active[-1][0],), (angle,)),) + ladder[::-1] + out


def _word_matrix(word: str) -> np.ndarray:
    m = np.eye(1, dtype=complex)
    for letter in word:
        m = np.kron(m, PAULI[letter])
    return m


def _pauli_terms(gen: np.ndarray) -> tuple[tuple[str, float], ...]:
    """``gen = Σ c_P P`` over Pauli words (the terms of our generators all commute)."""
    k = round(math.log2(gen.shape[0]))
    words = ["".join(w) for w in itertools.product("IXYZ", repeat=k)]
    coeffs = [np.trace(_word_matrix(w) @ gen).real / gen.shape[0] for w in words]
    return tuple((w, float(c)) for w, c in zip(words, coeffs, strict=True) if abs(c) > 1e-12)


def _exp_gate(gen: np.ndarray) -> tuple[Callable[[Params], torch.Tensor], tuple[float, ...]]:
    """``θ ↦ exp(−iθG)`` (batched) and the spectrum of ``G``."""
    lam, vec = np.linalg.eigh(gen)
    v = torch.from_numpy(vec.astype(complex))
    w = torch.from_numpy(lam)

    def fn(p: Params) -> torch.Tensor:
        phase = _c(-p[0][..., None] * w.to(p[0]))
        vv = v.to(phase)
        return (vv * phase[..., None, :]) @ vv.mH

    return fn, tuple(sorted({round(float(x), 12) + 0.0 for x in lam}))


def _excitation(dim: int, i: int, j: int) -> np.ndarray:
    """Generator of the rotation |i> → cos(θ/2)|i> + sin(θ/2)|j> (and |j> → ... − sin|i>)."""
    g = np.zeros((dim, dim), dtype=complex)
    g[i, j], g[j, i] = -0.5j, 0.5j
    return g


def _exp_row(name: str, gen: np.ndarray, **kw: object) -> None:
    """A one-parameter row ``exp(−iθG)`` decomposed into commuting Pauli rotations."""
    fn, spectrum = _exp_gate(gen)
    terms = _pauli_terms(gen)
    k = round(math.log2(gen.shape[0]))
    kw.setdefault("decompose", lambda p: tuple(
        op for word, c in terms for op in _pauli_rot_ops(word, range(k), p[0] * (2 * c))))
    _row(name, k, Kind.GENERAL, fn=fn, spectra=(spectrum,), **kw)


def _rot(p: Params) -> torch.Tensor:
    phi, theta, omega = p
    c, s = torch.cos(theta / 2), torch.sin(theta / 2)
    c, s = torch.complex(c, 0 * c), torch.complex(s, 0 * s)
    return _stack([[_c(-(phi + omega) / 2) * c, -_c((phi - omega) / 2) * s],
                   [_c((omega - phi) / 2) * s, _c((phi + omega) / 2) * c]])


_row("rot", 1, Kind.GENERAL, fn=_rot, spectra=(_HALF, _HALF, _HALF),
     inverse=lambda p: ("rot", (-p[2], -p[1], -p[0])),
     decompose=lambda p: (("rz", (0,), (p[0],)), ("ry", (0,), (p[1],)), ("rz", (0,), (p[2],))))
_SINGLE = _excitation(4, 1, 2)  # |01> <-> |10>
_exp_row("single_excitation", _SINGLE)
_exp_row("double_excitation", _excitation(16, 3, 12))  # |0011> <-> |1100>
# PennyLane's OrbitalRotation: the same Givens rotation of one spatial orbital pair for both
# spins, single excitations on wires (0, 1) and (2, 3) between fermionic swaps of wires 1
# and 2 (a swap with the sign -1 on |11>, the Jordan-Wigner parity of the exchanged modes).
_FSWAP = np.kron(np.kron(np.eye(2), np.diag([1.0, 1.0, 1.0, -1.0])[[0, 2, 1, 3]]), np.eye(2))
_ORBITAL = _FSWAP @ (np.kron(_SINGLE, np.eye(4)) + np.kron(np.eye(4), _SINGLE)) @ _FSWAP
_exp_row("orbital_rotation", _ORBITAL, decompose=lambda p: (
    ("swap", (1, 2), ()), ("cz", (1, 2), ()), ("single_excitation", (0, 1), (p[0],)),
    ("single_excitation", (2, 3), (p[0],)), ("cz", (1, 2), ()), ("swap", (1, 2), ())))

PAULI_ROT = "pauli_rot"


@cache
def pauli_rot_row(word: str) -> GateSpec | None:
    """The row ``pauli_rot_<word>`` = exp(−iθ/2·P) for a word of X, Y, Z (made on first use).

    All-Z words (``multi_rz``) are diagonal. ``None`` for anything else.

    >>> pauli_rot_row("XZ").name, pauli_rot_row("ZZZ").kind.value
    ('pauli_rot_xz', 'diagonal')
    """
    if not word or set(word) - set("XYZ"):
        return None
    name, k = f"{PAULI_ROT}_{word.lower()}", len(word)
    decompose = lambda p: _pauli_rot_ops(word, range(k), p[0])  # noqa: E731
    if set(word) == {"Z"}:
        parity = torch.tensor([(-1.0) ** bin(i).count("1") for i in range(2**k)],
                              dtype=torch.float64)
        _row(name, k, Kind.DIAGONAL, fn=lambda p: _c(-p[0][..., None] / 2 * parity.to(p[0])),
             spectra=(_HALF,), decompose=decompose, family=PAULI_ROT)
    else:
        fn, _ = _exp_gate(_word_matrix(word) / 2)
        _row(name, k, Kind.GENERAL, fn=fn, spectra=(_HALF,), decompose=decompose,
             family=PAULI_ROT)
    return GATES[name]

UNITARY = "unitary"


def unitary_row(matrix: object, atol: float = 1e-6) -> GateSpec:
    """The row of a gate given by its matrix (``circuit.unitary``), made on first use.

    A constant matrix (numpy, nested lists, a tensor without grad) becomes the row
    ``unitary_<digest of its entries>``: equal matrices share a row, and circuits stay hashable
    data. A tensor that requires grad gets a row of its own whose matrix *is* that tensor,
    so ``diff_method="backprop"`` carries gradients to it; the row holds only a weak reference
    (build the circuit where the tensor lives, e.g. inside ``forward``). One-qubit matrices
    are exported to OpenQASM as ``gphase`` and ``U``; wider ones have no decomposition here.

    Raises:
        QDLError: if the matrix is not square of side ``2**k`` (k >= 1), has NaN/inf entries
            or is not unitary within ``atol`` (the largest deviation of ``U†U`` from ``I``).

    >>> unitary_row([[0, 1], [1, 0]]).num_wires
    1
    """
    live = isinstance(matrix, torch.Tensor) and matrix.requires_grad
    try:
        value = (matrix.detach() if isinstance(matrix, torch.Tensor)
                 else torch.as_tensor(np.asarray(matrix, dtype=complex)))
        value = value.to("cpu", torch.complex128)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise QDLError(f"unitary: matrix must be a square array of numbers ({exc})") from None
    dim = value.shape[-1] if value.dim() == 2 else 0
    if value.dim() != 2 or value.shape[0] != dim or dim < 2 or dim & (dim - 1):
        raise QDLError(f"unitary: matrix must be square with side 2**k (k >= 1), got shape "
                       f"{tuple(value.shape)}")
    if not torch.isfinite(torch.view_as_real(value)).all():
        raise QDLError("unitary: matrix has NaN or infinite entries")
    err = (value.mH @ value - torch.eye(dim, dtype=value.dtype)).abs().max().item()
    if err > atol:
        raise QDLError(f"unitary: matrix is not unitary (max |U†U − I| = {err:.3g} > atol="
                       f"{atol:g}); pass a unitary matrix or raise atol")
    return _live_row(matrix, value) if live else _constant_row(value)  # type: ignore[arg-type]


def _constant_row(value: torch.Tensor) -> GateSpec:
    digest = hashlib.sha1(value.numpy().round(12).tobytes()).hexdigest()[:16]
    name = f"{UNITARY}_{digest}"
    if name not in FAMILY:
        k = round(math.log2(value.shape[0]))
        decompose = _u_decomposition(value.numpy()) if k == 1 else None
        _row(name, k, Kind.GENERAL, fn=lambda p: value, family=UNITARY, decompose=decompose,
             inverse=lambda p: (_constant_row(value.mH.contiguous()).name, p))
    return GATES[name]


def _live_row(matrix: torch.Tensor, value: torch.Tensor) -> GateSpec:
    ref = weakref.ref(matrix)
    name = f"{UNITARY}_live_{id(matrix):x}"

    def fn(p: Params) -> torch.Tensor:
        tensor = ref()
        if tensor is None:
            raise QDLError(f"gate {name}: its matrix tensor no longer exists; build the "
                           "circuit where the tensor lives (e.g. inside forward)")
        return tensor

    k = round(math.log2(value.shape[0]))
    adjoint = f"{name}_dg"
    # The inverse reads the same weakly held tensor on every call: an inverse row holding
    # ``tensor.mH`` would refer to a temporary that is gone by the time it is simulated.
    _row(adjoint, k, Kind.GENERAL, fn=lambda p: fn(p).mH, family=UNITARY,
         inverse=lambda p: (name, p))
    _row(name, k, Kind.GENERAL, fn=fn, family=UNITARY, inverse=lambda p: (adjoint, p))
    return GATES[name]


def _u_decomposition(m: np.ndarray) -> Callable[[tuple], Decomposition]:
    """``m = e^{iα}·U(θ, φ, λ)`` (OpenQASM's U), read off the entries."""
    eps = 1e-12
    alpha = float(np.angle(m[0, 0] if abs(m[0, 0]) > eps else m[1, 0]))
    v = m * np.exp(-1j * alpha)
    theta = 2 * math.atan2(abs(v[1, 0]), abs(v[0, 0]))
    phi = float(np.angle(v[1, 0])) if abs(v[1, 0]) > eps else 0.0
    lam = float(np.angle(-v[0, 1])) if abs(v[0, 1]) > eps else float(np.angle(v[1, 1])) - phi
    args = tuple(Const(round(x, 15) + 0.0) for x in (theta, phi, lam))
    return lambda p: (("gphase", (), (Const(alpha),)), ("U", (0,), args))


_CONTROLLED = {
    "cx": ("x", 1), "cy": ("y", 1), "cz": ("z", 1), "ch": ("h", 1), "csx": ("sx", 1),
    "cp": ("p", 1), "crx": ("rx", 1), "cry": ("ry", 1), "crz": ("rz", 1), "cu3": ("u", 1),
    "cswap": ("swap", 1), "ccx": ("x", 2), "ccz": ("z", 2), "c3x": ("x", 3),
    "c3sqrtx": ("sx", 3), "c4x": ("x", 4),
}
_CONTROLLED_DEFS = {
    "csx": "gate csx a, b { ctrl @ sx a, b; }",
    "cu3": "gate cu3(theta, phi, lambda) a, b { ctrl @ u3(theta, phi, lambda) a, b; }",
    "ccz": "gate ccz a, b, c { ctrl(2) @ z a, b, c; }",
    "c3x": "gate c3x a, b, c, d { ctrl(3) @ x a, b, c, d; }",
    "c3sqrtx": "gate c3sqrtx a, b, c, d { ctrl(3) @ sx a, b, c, d; }",
    "c4x": "gate c4x a, b, c, d, e { ctrl(4) @ x a, b, c, d, e; }",
}


def controlled_perm(perm: tuple[int, ...], controls: int) -> tuple[int, ...]:
    """Permutation of a gate with ``controls`` extra leading control wires."""
    offset = (2**controls - 1) * len(perm)
    return tuple(range(offset)) + tuple(offset + i for i in perm)


def controlled_diag(diag: torch.Tensor, controls: int) -> torch.Tensor:
    """Diagonal of a diagonal gate with ``controls`` extra leading control wires."""
    ones = torch.ones(*diag.shape[:-1], (2**controls - 1) * diag.shape[-1], dtype=diag.dtype)
    return torch.cat([ones.to(diag.device), diag], -1)


def _add_controlled(name: str, base_name: str, controls: int) -> None:
    base = GATES[base_name]
    perm = controlled_perm(base.perm, controls) if base.perm else None
    spectra = tuple(tuple(sorted(set(s) | {0.0})) for s in base.spectra)
    GATES[name] = GateSpec(
        name, base.num_wires + controls, base.num_params, base.kind, base.fn, perm, spectra,
        None, base_name, controls, _CONTROLLED_DEFS.get(name),
    )


for _name, (_base, _k) in _CONTROLLED.items():
    _add_controlled(_name, _base, _k)


def _frequencies(spectrum: tuple[float, ...]) -> tuple[float, ...]:
    diffs = {round(abs(a - b), 12) for a in spectrum for b in spectrum}
    return tuple(sorted(d for d in diffs if d > 0))


@cache
def shift_rule(frequencies: tuple[float, ...]) -> tuple[tuple[float, float], ...]:
    """Parameter-shift rule ``df/dθ = Σ c·(f(θ+s) − f(θ−s))`` as ``((c, s), ...)``.

    Derived from the frequencies of ``f`` (Wierichs et al., Quantum 6, 677 (2022)): with
    ``R`` frequencies, ``R`` symmetric shift pairs, coefficients solved from the odd Fourier
    terms. One frequency 1 gives the familiar rule ``(1/2, π/2)``.

    >>> shift_rule((1.0,))
    ((0.5, 1.5707963267948966),)
    """
    if not frequencies:
        return ()
    r = len(frequencies)
    omega = frequencies[0]
    shifts = np.array([(2 * mu - 1) * math.pi / (2 * r * omega) for mu in range(1, r + 1)])
    freqs = np.array(frequencies)
    # Σ_μ c_μ · 2 sin(ω_k s_μ) = ω_k makes the rule exact on every sin(ω_k θ) term.
    system = 2 * np.sin(np.outer(freqs, shifts))
    coeffs = np.linalg.solve(system, freqs)
    return tuple((float(c), float(s)) for c, s in zip(coeffs, shifts, strict=True))


def dense_matrix(name: str, params: Sequence[float] = ()) -> np.ndarray:
    """The full ``2**k × 2**k`` matrix of a table gate, as numpy complex128.

    >>> dense_matrix("cx").real.astype(int).tolist()
    [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]]
    """
    spec = lookup(name)
    base = GATES[spec.base] if spec.base else spec
    t = [torch.tensor(float(v), dtype=torch.float64) for v in params]
    k = 2**base.num_wires
    if base.kind is Kind.PERMUTATION:
        m = np.eye(k, dtype=complex)[list(base.perm)]  # type: ignore[arg-type]
    elif base.kind is Kind.DIAGONAL:
        m = np.diag(base.fn(t).numpy().astype(complex))  # type: ignore[misc]
    else:
        m = base.fn(t).numpy().astype(complex)  # type: ignore[misc]
    full = np.eye(2**spec.num_wires, dtype=complex)
    full[-k:, -k:] = m
    return full


@cache
def fourier_terms(name: str) -> tuple[tuple[float, ...], np.ndarray] | None:
    """A one-parameter gate as ``M(θ) = Σ_k exp(-iθλ_k) C_k`` over its declared spectrum.

    Returns the eigenvalues ``λ`` and the matrices ``C`` ``(K, 2**k, 2**k)`` (complex128),
    fitted from the row's own matrix at ``K`` angles and checked at two more; ``None`` for
    gates with other than one parameter or whose matrix the declared spectrum does not
    reproduce. The simulator builds every such gate of a circuit in a few vectorized calls
    from these, whatever the gate types.

    >>> lam, c = fourier_terms("rx")
    >>> lam, np.allclose(c[0] + c[1], np.eye(2))
    ((-0.5, 0.5), True)
    """
    spec = lookup(name)
    if spec.num_params != 1 or spec.base is not None or spec.fn is None:
        return None
    lam = tuple(sorted(set(spec.spectra[0])))
    thetas = np.array([0.37 + 1.13 * j for j in range(len(lam) + 2)])
    mats = np.stack([dense_matrix(name, [t]) for t in thetas])
    vander = np.exp(-1j * np.outer(thetas, lam))
    coeffs = np.linalg.lstsq(vander[:len(lam)], mats[:len(lam)].reshape(len(lam), -1),
                             rcond=None)[0]
    fitted = (vander @ coeffs).reshape(mats.shape)
    if not np.allclose(fitted, mats, atol=1e-12):
        return None
    return lam, coeffs.reshape(len(lam), *mats.shape[1:])
