"""Pauli-sum observables parsed from strings such as ``"0.5 Z0 Z1 + -1.2 X3"``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from qdl.errors import QDLError

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
    r"|(?P<pauli>[IXYZ])\s*(?P<wire>\d+)|(?P<op>[+\-*]))"
)


@dataclass(frozen=True)
class PauliTerm:
    """``coeff · P_{w1} ⊗ P_{w2} ...``; identity on every wire not listed.

    Attributes:
        coeff: real coefficient.
        paulis: ``((wire, "X"|"Y"|"Z"), ...)`` sorted by wire, no identities.
    """

    coeff: float
    paulis: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class Observable:
    """A real linear combination of Pauli words.

    >>> Observable.parse("0.5 Z0 Z1 + -1.2 X3").terms[1]
    PauliTerm(coeff=-1.2, paulis=((3, 'X'),))
    """

    terms: tuple[PauliTerm, ...]
    text: str = ""

    @property
    def max_wire(self) -> int:
        """Largest wire index used, -1 for a pure constant."""
        return max((w for t in self.terms for w, _ in t.paulis), default=-1)

    @classmethod
    def parse(cls, text: str) -> Observable:
        """Parse ``[coeff [*]] P<wire> ... (+|-) ...``; ``QDLError`` with the position otherwise."""
        if not isinstance(text, str) or not text.strip():
            raise QDLError(f"observable must be a non-empty string like 'Z0' or 'X0 Y2', "
                           f"got {text!r}")
        terms: list[PauliTerm] = []
        sign, coeff, paulis, pos, expect_term = 1.0, None, {}, 0, True
        while pos < len(text.rstrip()):
            m = _TOKEN.match(text, pos)
            if not m:
                raise _bad(text, pos + len(text[pos:]) - len(text[pos:].lstrip()))
            start, pos = m.start(m.lastgroup), m.end()
            if m["op"] in ("+", "-") and not expect_term:
                terms.append(_term(text, sign, coeff, paulis))
                sign, coeff, paulis, expect_term = (-1.0 if m["op"] == "-" else 1.0), None, {}, True
            elif m["op"] == "-" and expect_term and coeff is None and not paulis:
                sign = -sign
            elif m["num"] and coeff is None and not paulis:
                coeff, expect_term = float(m["num"]), False
            elif m["op"] == "*" and coeff is not None and not paulis:
                continue
            elif m["pauli"]:
                wire = int(m["wire"])
                if wire in paulis:
                    raise QDLError(f"bad observable {text!r}: wire {wire} appears twice in one "
                                   "term; write each wire once per Pauli word")
                if m["pauli"] != "I":
                    paulis[wire] = m["pauli"]
                expect_term = False
                paulis.setdefault(-1 - wire, "I")
            else:
                raise _bad(text, start)
        if expect_term:
            raise QDLError(f"bad observable {text!r}: it ends where a term is expected")
        terms.append(_term(text, sign, coeff, paulis))
        return cls(tuple(terms), text)


def _term(text: str, sign: float, coeff: float | None, paulis: dict[int, str]) -> PauliTerm:
    words = tuple(sorted((w, p) for w, p in paulis.items() if w >= 0 and p != "I"))
    return PauliTerm(sign * (1.0 if coeff is None else coeff), words)


def _bad(text: str, pos: int) -> QDLError:
    return QDLError(
        f"bad observable {text!r}: unexpected {text[pos:pos + 8]!r} at position {pos}; write "
        "Pauli words like 'Z0 X1' with optional real coefficients, joined by + or -"
    )


def parse_observables(observables: list[str] | str, n_qubits: int) -> list[Observable]:
    """Parse a list of observable strings and check their wires against ``n_qubits``.

    >>> [o.text for o in parse_observables(["Z0", "X0 X1"], 2)]
    ['Z0', 'X0 X1']
    """
    if isinstance(observables, str):
        observables = [observables]
    try:
        items = list(observables)
    except TypeError:
        raise QDLError(f"observables must be a list of strings, got {observables!r}") from None
    if not items:
        raise QDLError("observables is empty; pass at least one, e.g. ['Z0']")
    parsed = [o if isinstance(o, Observable) else Observable.parse(o) for o in items]
    for obs in parsed:
        if obs.max_wire >= n_qubits:
            raise QDLError(
                f"observable {obs.text!r} acts on qubit {obs.max_wire}, but the circuit has "
                f"{n_qubits} qubit(s) (valid: 0..{n_qubits - 1})"
            )
    return parsed
