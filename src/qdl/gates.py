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

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import cache

import numpy as np
import torch

from qdl.errors import QDLError
from qdl.expr import Const

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


GATES: dict[str, GateSpec] = {}
ALIASES = {"CX": "cx", "U": "u", "u3": "u", "phase": "p", "u1": "p", "cphase": "cp",
           "cu1": "cp", "toffoli": "ccx", "fredkin": "cswap"}
STDGATES = frozenset(
    """p x y z h s sdg t tdg sx rx ry rz cx cy cz cp crx cry crz ch swap ccx cswap cu
    CX phase cphase id u1 u2 u3 U gphase""".split()
)


def lookup(name: str) -> GateSpec:
    """The table row for a gate name or alias; ``QDLError`` naming close matches otherwise.

    >>> lookup("cu1").name
    'cp'
    """
    spec = GATES.get(ALIASES.get(name, name))
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
    GATES[name] = GateSpec(name, wires, len(spectra), kind, **kw)  # type: ignore[arg-type]


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
