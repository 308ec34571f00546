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
        return max([-1, *(w for t in self.terms for w, _ in t.paulis)])

    @classmethod
    def parse(cls, text: str) -> Observable:
        """Parse ``[coeff [*]] P<wire> ... (+|-) ...``; ``QDLError`` with the position otherwise."""
        if not isinstance(text, str) or not text.strip():
            raise QDLError(f"observable must be a non-empty string like 'Z0' or 'X0 Y2', "
                           f"got {text!r}")
        tokens = _tokenize(text)
        terms, i = [], 0
        while True:
            term, i = _parse_term(text, tokens, i)
            terms.append(term)
            if i == len(tokens):
                return cls(tuple(terms), text)
            if tokens[i].lastgroup != "op" or tokens[i]["op"] == "*":
                raise _bad(text, tokens[i].start(tokens[i].lastgroup))


def _tokenize(text: str) -> list[re.Match]:
    tokens, pos, end = [], 0, len(text.rstrip())
    while pos < end:
        m = _TOKEN.match(text, pos)
        if not m:
            raise _bad(text, pos + len(text[pos:]) - len(text[pos:].lstrip()))
        tokens.append(m)
        pos = m.end()
    return tokens


def _parse_term(text: str, tokens: list[re.Match], i: int) -> tuple[PauliTerm, int]:
    """One term from ``tokens[i]`` on: signs, an optional coefficient, Pauli factors."""
    sign, coeff, paulis = 1.0, 1.0, {}
    while i < len(tokens) and tokens[i]["op"] in ("+", "-"):
        sign, i = (-sign if tokens[i]["op"] == "-" else sign), i + 1
    start = i
    if i < len(tokens) and tokens[i]["num"]:
        coeff, i = float(tokens[i]["num"]), i + 1
        if i < len(tokens) and tokens[i]["op"] == "*":
            i = start = i + 1  # "2 *" must be followed by a Pauli word
    while i < len(tokens) and tokens[i]["pauli"]:
        wire = int(tokens[i]["wire"])
        if wire in paulis:
            raise QDLError(f"bad observable {text!r}: wire {wire} appears twice in one term; "
                           "write each wire once per Pauli word")
        paulis[wire], i = tokens[i]["pauli"], i + 1
    if i == start:
        if i == len(tokens):
            raise QDLError(f"bad observable {text!r}: it ends where a term is expected")
        raise _bad(text, tokens[i].start(tokens[i].lastgroup))
    words = tuple(sorted((w, p) for w, p in paulis.items() if p != "I"))
    return PauliTerm(sign * coeff, words), i


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
