"""Noise: quantum channels as Kraus operators, readout errors, and a :class:`NoiseModel`.

A channel maps a density matrix to ``E(ρ) = Σ_k K_k ρ K_k†`` with ``Σ_k K_k† K_k = I``
(trace preserving). Its Kraus matrices follow the gate convention of :mod:`qdl.gates`: the
first wire it acts on is the most significant bit of the matrix index.

Conventions (identical to Qiskit Aer's ``*_error`` functions, so converted models agree):

* ``depolarizing(p)``: ``E(ρ) = (1 − p) ρ + p · tr(ρ) · I/2``. The Bloch vector shrinks by
  exactly ``1 − p``; ``p = 1`` is the fully mixed state and ``p`` may go up to ``4/3`` (the
  uniform Pauli channel). ``depolarizing2(p)`` is the two-qubit version,
  ``(1 − p) ρ + p · tr(ρ) · I/4``, ``0 ≤ p ≤ 16/15``. (PennyLane's ``DepolarizingChannel(p)``
  is ``depolarizing(4p/3)`` here.)
* ``bit_flip(p)`` / ``phase_flip(p)``: ``(1 − p) ρ + p XρX`` / ``(1 − p) ρ + p ZρZ``.
* ``amplitude_damping(γ)``: ``|1>`` decays to ``|0>`` with probability ``γ``; ``<Z>`` of
  ``|1>`` becomes ``2γ − 1``, coherences shrink by ``√(1 − γ)``.
* ``phase_damping(λ)``: populations kept, coherences shrink by ``√(1 − λ)``.
* ``thermal_relaxation(t1, t2, gate_time)``: relaxation to ``|0>`` during ``gate_time``:
  ``ρ11 → ρ11·e^{−t/T1}``, ``ρ01 → ρ01·e^{−t/T2}`` (needs ``T2 ≤ 2·T1``); amplitude damping
  with ``γ = 1 − e^{−t/T1}`` followed by the phase damping that makes up the rest of the
  dephasing.
* Readout: ``readout_error(prob_meas1_prep0, prob_meas0_prep1)`` is the per-qubit assignment
  matrix ``A[m, t] = P(measured m | true t)`` (columns sum to 1), applied to probabilities
  and to every measured Pauli term (each term is measured in its own basis, then read out).

A :class:`NoiseModel` is immutable: ``add`` returns a new model, so models are hashable and
can key caches. After each gate, the channels of the matching rules act in the order the
rules were added. A one-qubit channel acts on each wire of the gate (a ``cx`` with
``amplitude_damping`` damps both qubits); a ``k``-qubit channel acts on the wires of
``k``-qubit gates, in the gate's wire order. ``wires`` restricts a rule to channels whose
wires all lie in that set.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np

from qdl import converters
from qdl.errors import QDLError
from qdl.gates import PAULI, lookup

__all__ = [
    "CHANNELS",
    "Channel",
    "NoiseModel",
    "NoiseRule",
    "ReadoutError",
    "amplitude_damping",
    "bit_flip",
    "depolarizing",
    "depolarizing2",
    "kraus_channel",
    "phase_damping",
    "phase_flip",
    "readout_error",
    "thermal_relaxation",
]

# Exporters filled in by the interop layer on import (see qdl.circuit.CONVERTERS): noise
# sits below interop and never imports it.
EXPORTERS: dict[str, Callable[..., Any]] = {}
_TP_TOL = 1e-9  # Σ K†K = I within this (float64 round-off of user-supplied matrices)


def _frozen(matrices: Iterable[np.ndarray]) -> tuple:
    """Matrices as nested tuples of complex numbers: hashable, so channels key caches."""
    return tuple(tuple(tuple(complex(x) for x in row) for row in m) for m in matrices)


@dataclass(frozen=True)
class Channel:
    """A completely positive, trace-preserving map given by Kraus operators.

    Attributes:
        name: the constructor's name (``"depolarizing"``, ``"kraus"`` ...).
        params: the constructor's keyword arguments as ``((name, value), ...)``.
        kraus_ops: the Kraus matrices as nested tuples (see :attr:`kraus` for arrays).
    """

    name: str
    params: tuple[tuple[str, float], ...]
    kraus_ops: tuple = field(repr=False)

    def __post_init__(self) -> None:
        # Models are hashed once per simulated gate (to look up its channels): hash the
        # Kraus matrices once, not every time.
        object.__setattr__(self, "_hash", hash((self.name, self.params, self.kraus_ops)))

    def __hash__(self) -> int:
        return self._hash  # type: ignore[attr-defined]

    def __reduce__(self) -> tuple:
        # Rebuild through __init__ when unpickled: string hashes differ between processes.
        return (Channel, (self.name, self.params, self.kraus_ops))

    @property
    def num_wires(self) -> int:
        """Number of qubits the channel acts on."""
        return round(math.log2(len(self.kraus_ops[0])))

    @property
    def kraus(self) -> np.ndarray:
        """Kraus matrices ``(k, 2**w, 2**w)`` as complex128 (first wire most significant)."""
        return np.array(self.kraus_ops, dtype=np.complex128)

    def superoperator(self) -> np.ndarray:
        """``S = Σ_k K_k ⊗ conj(K_k)``: ``vec(E(ρ)) = S vec(ρ)`` with row-major ``vec``.

        Rows and columns index (ket bits, bra bits), ket most significant, which is how the
        density-matrix simulator lays out ``ρ``.
        """
        return _superoperator(self.kraus_ops)

    def to_dict(self) -> dict[str, Any]:
        """The channel as ``{"channel": name, **params}`` (what :meth:`NoiseModel.from_dict`
        reads); ``QDLError`` for channels built from raw Kraus matrices."""
        if self.name not in CHANNELS:
            raise QDLError(f"channel {self.name!r} was built from Kraus matrices and has no "
                           "dict form; build it in Python with kraus_channel")
        return {"channel": self.name, **dict(self.params)}

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v:g}" for k, v in self.params)
        return f"{self.name}({args})"


@lru_cache(maxsize=256)
def _superoperator(kraus_ops: tuple) -> np.ndarray:
    k = np.array(kraus_ops, dtype=np.complex128)
    return sum(np.kron(m, m.conj()) for m in k)  # type: ignore[return-value]


def _number(channel: str, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise QDLError(f"{channel}: {name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise QDLError(f"{channel}: {name} must be finite, got {value}")
    return value


def _probability(channel: str, name: str, value: object, high: float = 1.0) -> float:
    value = _number(channel, name, value)
    if not 0.0 <= value <= high:
        raise QDLError(f"{channel}: {name} must be in [0, {high:g}], got {value:g}")
    return value


def _mixture(name: str, params: dict[str, float], weights: Sequence[float],
             unitaries: Sequence[np.ndarray]) -> Channel:
    """``Σ w_i U_i ρ U_i†`` as a channel (Kraus ``√w_i U_i``)."""
    ops = [math.sqrt(max(w, 0.0)) * u for w, u in zip(weights, unitaries, strict=True)]
    return Channel(name, tuple(params.items()), _frozen(ops))


def bit_flip(p: float) -> Channel:
    """``(1 − p) ρ + p XρX``.

    >>> bit_flip(0.1).kraus.shape
    (2, 2, 2)
    """
    p = _probability("bit_flip", "p", p)
    return _mixture("bit_flip", {"p": p}, [1 - p, p], [PAULI["I"], PAULI["X"]])


def phase_flip(p: float) -> Channel:
    """``(1 − p) ρ + p ZρZ``.

    >>> phase_flip(0.25).num_wires
    1
    """
    p = _probability("phase_flip", "p", p)
    return _mixture("phase_flip", {"p": p}, [1 - p, p], [PAULI["I"], PAULI["Z"]])


def depolarizing(p: float, num_wires: int = 1) -> Channel:
    """``(1 − p) ρ + p · tr(ρ) · I/d`` on ``num_wires`` qubits (``d = 2**num_wires``).

    Qiskit's ``depolarizing_error(p, num_wires)``: the Bloch vector (every Pauli
    expectation) shrinks by ``1 − p``. In Kraus form: identity with weight
    ``1 − p (d² − 1)/d²``, each non-identity Pauli word with weight ``p/d²``;
    ``0 ≤ p ≤ d²/(d² − 1)``.

    >>> round(float(depolarizing(0.3).superoperator()[0, 0].real), 6)  # (1 − p) + p/2
    0.85
    """
    if num_wires not in (1, 2):
        raise QDLError(f"depolarizing: num_wires must be 1 or 2, got {num_wires!r}")
    d2 = 4**num_wires
    name = "depolarizing" if num_wires == 1 else "depolarizing2"
    p = _probability(name, "p", p, d2 / (d2 - 1))
    words = list(product("IXYZ", repeat=num_wires))
    unitaries = [_kron_all(PAULI[c] for c in word) for word in words]
    weights = [1 - p * (d2 - 1) / d2] + [p / d2] * (d2 - 1)
    return _mixture(name, {"p": p}, weights, unitaries)


def depolarizing2(p: float) -> Channel:
    """Two-qubit depolarizing: ``(1 − p) ρ + p · tr(ρ) · I/4`` (see :func:`depolarizing`).

    >>> depolarizing2(0.01).num_wires
    2
    """
    return depolarizing(p, 2)


def _kron_all(matrices: Iterable[np.ndarray]) -> np.ndarray:
    out = np.eye(1, dtype=np.complex128)
    for m in matrices:
        out = np.kron(out, m)
    return out


def _damping_ops(gamma: float) -> list[np.ndarray]:
    return [np.array([[1, 0], [0, math.sqrt(1 - gamma)]], dtype=np.complex128),
            np.array([[0, math.sqrt(gamma)], [0, 0]], dtype=np.complex128)]


def _dephasing_ops(lam: float) -> list[np.ndarray]:
    return [np.array([[1, 0], [0, math.sqrt(1 - lam)]], dtype=np.complex128),
            np.array([[0, 0], [0, math.sqrt(lam)]], dtype=np.complex128)]


def amplitude_damping(gamma: float) -> Channel:
    """Energy relaxation: ``|1>`` decays to ``|0>`` with probability ``gamma``.

    Kraus ``[[1, 0], [0, √(1−γ)]]`` and ``[[0, √γ], [0, 0]]``.

    >>> amplitude_damping(0.2).kraus[1].real.round(3).tolist()
    [[0.0, 0.447], [0.0, 0.0]]
    """
    gamma = _probability("amplitude_damping", "gamma", gamma)
    return Channel("amplitude_damping", (("gamma", gamma),), _frozen(_damping_ops(gamma)))


def phase_damping(gamma: float) -> Channel:
    """Pure dephasing: off-diagonal entries shrink by ``√(1 − gamma)``.

    Kraus ``[[1, 0], [0, √(1−γ)]]`` and ``[[0, 0], [0, √γ]]`` (Qiskit's
    ``phase_damping_error``).

    >>> phase_damping(0.5).num_wires
    1
    """
    gamma = _probability("phase_damping", "gamma", gamma)
    return Channel("phase_damping", (("gamma", gamma),), _frozen(_dephasing_ops(gamma)))


def thermal_relaxation(t1: float, t2: float, gate_time: float) -> Channel:
    """Relaxation towards ``|0>`` for ``gate_time``: ``ρ11·e^{−t/T1}``, ``ρ01·e^{−t/T2}``.

    Times in any one unit. Requires ``T1 > 0``, ``0 < T2 ≤ 2·T1`` (a physical qubit cannot
    dephase slower than it relaxes) and ``gate_time ≥ 0``. Equals Qiskit's
    ``thermal_relaxation_error(t1, t2, gate_time)`` (ground-state relaxation).

    >>> ch = thermal_relaxation(50.0, 70.0, 1.0)
    >>> round(float(ch.superoperator()[3, 3].real), 6) == round(math.exp(-1 / 50), 6)
    True
    """
    name = "thermal_relaxation"
    t1, t2 = _number(name, "t1", t1), _number(name, "t2", t2)
    time = _number(name, "gate_time", gate_time)
    if t1 <= 0 or t2 <= 0:
        raise QDLError(f"{name}: t1 and t2 must be positive, got t1={t1:g}, t2={t2:g}")
    if time < 0:
        raise QDLError(f"{name}: gate_time must be non-negative, got {time:g}")
    if t2 > 2 * t1 * (1 + 1e-12):
        raise QDLError(f"{name}: t2 must be at most 2·t1 (t2={t2:g}, 2·t1={2 * t1:g}); "
                       "check the units or swap t1 and t2")
    gamma = -math.expm1(-time / t1)
    # After damping, coherences carry e^{-t/(2 T1)}; dephasing supplies the rest of e^{-t/T2}.
    lam = -math.expm1(min(0.0, time / t1 - 2 * time / t2))
    ops = [d @ a for d in _dephasing_ops(lam) for a in _damping_ops(gamma)]
    params = (("t1", t1), ("t2", t2), ("gate_time", time))
    return Channel(name, params, _frozen(ops))


def kraus_channel(matrices: Sequence[Any], name: str = "kraus") -> Channel:
    """A channel from Kraus matrices (first wire most significant), checked trace preserving.

    >>> kraus_channel([[[0, 1], [1, 0]]]).num_wires   # a deterministic X
    1
    """
    try:
        ops = np.array(matrices, dtype=np.complex128)
    except (TypeError, ValueError):
        raise QDLError("kraus_channel: matrices must be a list of equal-sized square "
                       "complex matrices") from None
    if ops.ndim == 2:
        ops = ops[None]
    dim = ops.shape[-1] if ops.ndim == 3 else 0
    if ops.ndim != 3 or ops.shape[1] != dim or dim < 2 or dim & (dim - 1):
        raise QDLError(f"kraus_channel: expected matrices of shape (2**w, 2**w), got "
                       f"{ops.shape}")
    if not np.all(np.isfinite(ops)):
        raise QDLError("kraus_channel: matrices contain NaN or inf")
    gram = np.einsum("kji,kjl->il", ops.conj(), ops)
    if not np.allclose(gram, np.eye(dim), atol=_TP_TOL):
        raise QDLError("kraus_channel: Σ K†K must be the identity (the channel must be trace "
                       f"preserving); max deviation {np.abs(gram - np.eye(dim)).max():.2e}")
    return Channel(name, (), _frozen(ops))


CHANNELS: dict[str, Callable[..., Channel]] = {
    "bit_flip": bit_flip,
    "phase_flip": phase_flip,
    "depolarizing": depolarizing,
    "depolarizing2": depolarizing2,
    "amplitude_damping": amplitude_damping,
    "phase_damping": phase_damping,
    "thermal_relaxation": thermal_relaxation,
}


@dataclass(frozen=True)
class ReadoutError:
    """Classical bit flips at measurement, per qubit.

    Attributes:
        prob_meas1_prep0: ``P(read 1 | qubit in |0>)``.
        prob_meas0_prep1: ``P(read 0 | qubit in |1>)``.
    """

    prob_meas1_prep0: float
    prob_meas0_prep1: float

    @property
    def matrix(self) -> np.ndarray:
        """Assignment matrix ``A[m, t] = P(measured m | true t)`` (columns sum to 1)."""
        e0, e1 = self.prob_meas1_prep0, self.prob_meas0_prep1
        return np.array([[1 - e0, e1], [e0, 1 - e1]])

    def to_dict(self) -> dict[str, float]:
        """``{"prob_meas1_prep0": ..., "prob_meas0_prep1": ...}``."""
        return {"prob_meas1_prep0": self.prob_meas1_prep0,
                "prob_meas0_prep1": self.prob_meas0_prep1}


def readout_error(prob_meas1_prep0: float, prob_meas0_prep1: float | None = None
                  ) -> ReadoutError:
    """A readout error; one argument gives a symmetric error.

    >>> readout_error(0.02, 0.05).matrix.tolist()
    [[0.98, 0.05], [0.02, 0.95]]
    """
    e0 = _probability("readout_error", "prob_meas1_prep0", prob_meas1_prep0)
    e1 = e0 if prob_meas0_prep1 is None else _probability(
        "readout_error", "prob_meas0_prep1", prob_meas0_prep1)
    return ReadoutError(e0, e1)


@dataclass(frozen=True)
class NoiseRule:
    """One channel attached after some gates.

    Attributes:
        channel: the channel.
        gates: canonical gate names it follows; ``None`` for every gate.
        wires: the wires it may act on; ``None`` for all.
    """

    channel: Channel
    gates: frozenset[str] | None = None
    wires: frozenset[int] | None = None

    def targets(self, gate: str, wires: Sequence[int]) -> list[tuple[int, ...]]:
        """The wire tuples the channel acts on after gate ``gate`` on ``wires``."""
        if self.gates is not None and gate not in self.gates:
            return []
        k = self.channel.num_wires
        if k == 1:
            found = [(w,) for w in wires]
        elif k == len(wires):
            found = [tuple(wires)]
        else:
            return []
        if self.wires is not None:
            found = [t for t in found if self.wires.issuperset(t)]
        return found


def _gate_names(gates: str | Iterable[str] | None, channel: Channel) -> frozenset[str] | None:
    """Canonical names (aliases resolved), checked against the channel's width."""
    if gates is None or gates == "all":
        return None
    names = [gates] if isinstance(gates, str) else list(gates)
    if not names or not all(isinstance(n, str) for n in names):
        raise QDLError(f"noise model gates must be gate names or 'all', got {gates!r}")
    out = set()
    for name in names:
        try:
            spec = lookup(name)
        except QDLError as exc:
            raise QDLError(f"noise model: {exc}") from None
        k = channel.num_wires
        if spec.num_wires == 0 or (k > 1 and spec.num_wires != k):
            raise QDLError(f"noise model: the {k}-qubit channel {channel} cannot follow gate "
                           f"{spec.name!r}, which acts on {spec.num_wires} qubit(s)")
        out.add(spec.name)
    return frozenset(out)


def _wire_set(wires: int | Iterable[int] | None) -> frozenset[int] | None:
    if wires is None:
        return None
    items = [wires] if isinstance(wires, int) else list(wires)
    if not items or not all(isinstance(w, int) and not isinstance(w, bool) and w >= 0
                            for w in items):
        raise QDLError(f"noise model wires must be non-negative ints, got {wires!r}")
    return frozenset(items)


@dataclass(frozen=True)
class NoiseModel:
    """Channels after gates (by gate name and/or wire) and readout errors per wire.

    Immutable: :meth:`add` and :meth:`add_readout` return new models.

    >>> m = NoiseModel().add("cx", depolarizing2(0.01)).add_readout(readout_error(0.02))
    >>> [str(ch) for ch, wires in m.after("cx", (0, 1))]
    ['depolarizing2(p=0.01)']
    """

    rules: tuple[NoiseRule, ...] = ()
    readout: tuple[tuple[frozenset[int] | None, ReadoutError], ...] = ()

    def add(self, gates: str | Iterable[str] | None, channel: Channel,
            wires: int | Iterable[int] | None = None) -> NoiseModel:
        """Attach ``channel`` after the gates named (``"all"`` or ``None``: every gate).

        ``wires`` restricts it to those wires. Unknown gate names and channels wider than
        the gates raise ``QDLError``.
        """
        if not isinstance(channel, Channel):
            raise QDLError(f"noise model: expected a Channel (e.g. depolarizing(0.01)), got "
                           f"{channel!r}")
        rule = NoiseRule(channel, _gate_names(gates, channel), _wire_set(wires))
        return NoiseModel((*self.rules, rule), self.readout)

    def add_readout(self, error: ReadoutError, wires: int | Iterable[int] | None = None
                    ) -> NoiseModel:
        """Readout error on ``wires`` (default every wire); wire-specific errors take
        precedence over all-wire ones, later ones over earlier ones."""
        if not isinstance(error, ReadoutError):
            raise QDLError(f"noise model: expected a ReadoutError (readout_error(p01, p10)), "
                           f"got {error!r}")
        return NoiseModel(self.rules, (*self.readout, (_wire_set(wires), error)))

    def after(self, gate: str, wires: Sequence[int]) -> tuple[tuple[Channel, tuple[int, ...]],
                                                               ...]:
        """``(channel, wires)`` pairs applied, in order, after ``gate`` on ``wires``."""
        return _after(self, gate, tuple(wires))

    def check_wires(self, n_qubits: int) -> None:
        """``QDLError`` if a rule or readout error names only wires the circuit lacks.

        Such a rule could never apply: the model was written for other wire numbers. (A
        rule that also names wires the circuit has is kept: a model for a larger device
        applies to a smaller circuit.)

        >>> NoiseModel().add("x", bit_flip(0.1), wires=[9]).check_wires(2)
        Traceback (most recent call last):
        qdl.errors.QDLError: noise model: a bit_flip rule acts only on wire(s) [9], but the ...
        """
        named = [(str(r.channel).split("(")[0], r.wires) for r in self.rules]
        named += [("readout", ws) for ws, _ in self.readout]
        for what, wires in named:
            if wires is not None and min(wires) >= n_qubits:
                raise QDLError(f"noise model: a {what} rule acts only on wire(s) "
                               f"{sorted(wires)}, but the circuit has {n_qubits} qubit(s) "
                               f"(wires 0..{n_qubits - 1}), so it would never apply; give it "
                               "the circuit's wires")

    def readout_error_on(self, wire: int) -> ReadoutError | None:
        """The readout error of ``wire`` (``None`` if perfect)."""
        specific = [e for ws, e in self.readout if ws is not None and wire in ws]
        general = [e for ws, e in self.readout if ws is None]
        found = specific or general
        return found[-1] if found else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict that :meth:`from_dict` reads back."""
        rules = []
        for rule in self.rules:
            item = rule.channel.to_dict()
            if rule.gates is not None:
                item["gates"] = sorted(rule.gates)
            if rule.wires is not None:
                item["wires"] = sorted(rule.wires)
            rules.append(item)
        readout = [{**e.to_dict(), **({"wires": sorted(ws)} if ws is not None else {})}
                   for ws, e in self.readout]
        return {"channels": rules, "readout": readout}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NoiseModel:
        """Build a model from ``{"channels": [...], "readout": [...]}``.

        Each channel entry is ``{"channel": NAME, <its parameters>, "gates": [...],
        "wires": [...]}`` (``gates``/``wires`` optional: all); each readout entry is
        ``{"prob_meas1_prep0": p, "prob_meas0_prep1": q, "wires": [...]}``.

        >>> NoiseModel.from_dict({"channels": [{"channel": "bit_flip", "p": 0.1}]}).rules[0]
        NoiseRule(channel=Channel(name='bit_flip', params=(('p', 0.1),)), gates=None, wires=None)
        """
        if not isinstance(data, Mapping):
            raise QDLError(f"a noise model must be a mapping with 'channels' and 'readout', "
                           f"got {type(data).__name__}")
        unknown = set(data) - {"channels", "readout"}
        if unknown:
            raise QDLError(f"unknown noise model key(s) {sorted(unknown)}; expected 'channels' "
                           "and 'readout'")
        model = cls()
        for i, entry in enumerate(_entries(data, "channels")):
            model = _add_entry(model, entry, f"channels[{i}]")
        for i, entry in enumerate(_entries(data, "readout")):
            model = _add_readout_entry(model, entry, f"readout[{i}]")
        return model

    @classmethod
    def from_file(cls, path: str | Path) -> NoiseModel:
        """Read a model from JSON, or YAML (``.yaml``/``.yml``, needs pyyaml)."""
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise QDLError(f"cannot read noise model file {str(path)!r}: {exc.strerror}") from None
        return cls.from_dict(_load_text(text, path))

    def to_qiskit(self, n_qubits: int | None = None) -> Any:
        """This model as a ``qiskit_aer.noise.NoiseModel`` (see
        :func:`qdl.interop.qiskit.noise.noise_model_to_qiskit`)."""
        if "qiskit" not in EXPORTERS:
            converters.load()
        if "qiskit" not in EXPORTERS:
            raise QDLError("no qiskit exporter registered: import qdl.interop first")
        return EXPORTERS["qiskit"](self, n_qubits)


@lru_cache(maxsize=4096)
def _after(model: NoiseModel, gate: str, wires: tuple[int, ...]
           ) -> tuple[tuple[Channel, tuple[int, ...]], ...]:
    return tuple((rule.channel, t) for rule in model.rules for t in rule.targets(gate, wires))


def _entries(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    entries = data.get(key) or []
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
        raise QDLError(f"noise model {key!r} must be a list of mappings, got {entries!r}")
    return entries


def _add_entry(model: NoiseModel, entry: Mapping[str, Any], where: str) -> NoiseModel:
    kwargs = dict(entry)
    name = kwargs.pop("channel", None)
    if name not in CHANNELS:
        raise QDLError(f"noise model {where}: unknown channel {name!r}; known channels: "
                       f"{', '.join(CHANNELS)}")
    gates, wires = kwargs.pop("gates", None), kwargs.pop("wires", None)
    try:
        channel = CHANNELS[name](**kwargs)
    except TypeError:
        raise QDLError(f"noise model {where}: wrong parameters {sorted(kwargs)} for channel "
                       f"{name!r}; e.g. {_EXAMPLES[name]}") from None
    except QDLError as exc:
        raise QDLError(f"noise model {where}: {exc}") from None
    return model.add(gates, channel, wires)


_EXAMPLES = {
    "bit_flip": "{'channel': 'bit_flip', 'p': 0.01}",
    "phase_flip": "{'channel': 'phase_flip', 'p': 0.01}",
    "depolarizing": "{'channel': 'depolarizing', 'p': 0.01}",
    "depolarizing2": "{'channel': 'depolarizing2', 'p': 0.01}",
    "amplitude_damping": "{'channel': 'amplitude_damping', 'gamma': 0.01}",
    "phase_damping": "{'channel': 'phase_damping', 'gamma': 0.01}",
    "thermal_relaxation": "{'channel': 'thermal_relaxation', 't1': 50e-6, 't2': 70e-6, "
                          "'gate_time': 50e-9}",
}


def _add_readout_entry(model: NoiseModel, entry: Mapping[str, Any], where: str) -> NoiseModel:
    kwargs = dict(entry)
    wires = kwargs.pop("wires", None)
    try:
        error = readout_error(**kwargs)
    except TypeError:
        raise QDLError(f"noise model {where}: readout entries take prob_meas1_prep0, "
                       f"prob_meas0_prep1 and wires, got {sorted(entry)}") from None
    except QDLError as exc:
        raise QDLError(f"noise model {where}: {exc}") from None
    return model.add_readout(error, wires)


def _load_text(text: str, path: Path) -> Any:
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise QDLError(f"reading {path.name} needs pyyaml: pip install pyyaml (or use "
                           "JSON)") from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise QDLError(f"{path.name} is not valid YAML: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise QDLError(f"{path.name} is not valid JSON: line {exc.lineno}: {exc.msg}") from None

