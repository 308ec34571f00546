"""Observables: Pauli sums parsed from strings such as ``"0.5 Z0 Z1 + -1.2 X3"``, Hermitian
matrices on a few wires, projectors onto basis states, and sparse Hamiltonians.

Every kind is frozen and hashable (the simulator caches per observable). A Pauli word may
repeat a wire (``"X0 Y0"`` is ``i Z0``) and coefficients may be imaginary (``"0.5j X0 Y0"``):
equal words are collected, and the sum must come out Hermitian (real coefficients).
"""

from __future__ import annotations

import cmath
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

import numpy as np

from qdl.errors import QDLError

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)(?P<imag>j)?)"
    r"|(?P<pauli>[IXYZ])\s*(?P<wire>\d+)|(?P<op>[+\-*]))"
)
# P·Q = phase · R for single-qubit Paulis.
_TIMES = {("X", "Y"): (1j, "Z"), ("Y", "Z"): (1j, "X"), ("Z", "X"): (1j, "Y"),
          ("Y", "X"): (-1j, "Z"), ("Z", "Y"): (-1j, "X"), ("X", "Z"): (-1j, "Y")}
_LETTERS = frozenset("IXYZ")
_PAULI = {"I": np.eye(2), "X": np.array([[0, 1], [1, 0]]), "Y": np.array([[0, -1j], [1j, 0]]),
          "Z": np.diag([1.0, -1.0])}
MAX_MATRIX_WIRES = 12  # dense observables beyond this belong in a SparseHamiltonian


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
    """A real linear combination of Pauli words (equal words collected).

    >>> Observable.parse("0.5 Z0 Z1 + -1.2 X3").terms[1]
    PauliTerm(coeff=-1.2, paulis=((3, 'X'),))
    >>> Observable.parse("0.5j X0 Y0 + Z0").terms   # X·Y = iZ: 0.5j·iZ0 + Z0 = 0.5 Z0
    (PauliTerm(coeff=0.5, paulis=((0, 'Z'),)),)
    """

    terms: tuple[PauliTerm, ...]
    text: str = ""

    @property
    def max_wire(self) -> int:
        """Largest wire index used, -1 for a pure constant."""
        return max([-1, *(w for t in self.terms for w, _ in t.paulis)])

    @property
    def wires(self) -> tuple[int, ...]:
        """The wires some term acts on, sorted."""
        return tuple(sorted({w for t in self.terms for w, _ in t.paulis}))

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
                return cls(_collect(terms, text), text)
            if tokens[i].lastgroup != "op" or tokens[i]["op"] == "*":
                raise _bad(text, tokens[i].start(tokens[i].lastgroup))

    @classmethod
    def from_terms(
        cls,
        terms: Iterable[tuple[complex, Mapping[int, str] | Sequence[tuple[int, str]]]],
        text: str | None = None,
    ) -> Observable:
        """The sum of ``coeff · word`` terms, collected exactly as :meth:`parse` collects.

        A word is a mapping ``{wire: letter}`` or a sequence of ``(wire, letter)`` pairs,
        letters ``I``, ``X``, ``Y``, ``Z``; a sequence may repeat a wire, the factors then
        multiply in order (``[(0, "X"), (0, "Y")]`` is ``i Z0``, as ``"X0 Y0"`` parses).
        Coefficients may be complex: equal words are summed and every sum must come out
        real, as in :meth:`parse`; words whose sum is zero are dropped.

        Args:
            terms: ``(coeff, word)`` pairs.
            text: the observable's ``text``; by default the terms written so that
                :meth:`parse` reads them back to the same observable.

        Returns:
            The :class:`Observable`.

        Raises:
            QDLError: a term that is not ``(coeff, word)``, a coefficient that is not a
                finite number, a wire that is not a non-negative int, a letter other than
                ``I``, ``X``, ``Y``, ``Z``, or a collected coefficient that is not real.

        >>> obs = Observable.from_terms([(0.5, {0: "Z", 1: "Z"}), (-1.2, [(3, "X")]),
        ...                              (0.5, [(1, "Z"), (0, "Z")])])
        >>> obs.terms
        (PauliTerm(coeff=1.0, paulis=((0, 'Z'), (1, 'Z'))),
         PauliTerm(coeff=-1.2, paulis=((3, 'X'),)))
        >>> obs.text, Observable.parse(obs.text).terms == obs.terms
        ('0.5 Z0 Z1 + -1.2 X3 + 0.5 Z0 Z1', True)
        """
        if isinstance(terms, str):
            raise QDLError(f"Observable.from_terms takes (coeff, word) pairs, got the string "
                           f"{terms!r}; Observable.parse reads strings")
        words = [_term(term) for term in terms]
        if text is None:
            text = " + ".join(_show(coeff, word) for coeff, word in words) or "0"
        return cls(_collect(words, text), text)

    def __matmul__(self, other: object) -> Any:
        """The operator product ``self · other``, which must be Hermitian (commuting parts).

        >>> (Observable.parse("X0 + Z1") @ Observable.parse("X0 + Z1")).terms
        (PauliTerm(coeff=2.0, paulis=()), PauliTerm(coeff=2.0, paulis=((0, 'X'), (1, 'Z'))))
        """
        if not isinstance(other, Observable):
            return matrix_product(self, other)
        products = []
        for a in self.terms:
            for b in other.terms:
                phase, word = _word_product(dict(a.paulis), b.paulis)
                products.append((a.coeff * b.coeff * phase, word))
        text = f"({self.text}) @ ({other.text})"
        return Observable(_collect(products, text), text)

    def to_matrix(self, wires: Sequence[int]) -> np.ndarray:
        """The dense matrix on ``wires`` (first most significant), identity elsewhere."""
        out = np.zeros((2 ** len(wires),) * 2, dtype=complex)
        for term in self.terms:
            word = dict(term.paulis)
            m = np.eye(1)
            for w in wires:
                m = np.kron(m, _PAULI[word.get(w, "I")])
            out += term.coeff * m
        return out


def _word_product(word: dict[int, str], paulis: Sequence[tuple[int, str]]
                  ) -> tuple[complex, dict[int, str]]:
    """``word · paulis`` as ``phase · result`` (both Pauli words on wires)."""
    out, phase = dict(word), 1 + 0j
    for w, p in paulis:
        q = out.get(w, "I")
        if q == "I":
            out[w] = p
        elif q == p:
            out[w] = "I"
        else:
            factor, out[w] = _TIMES[q, p]
            phase *= factor
    return phase, out


def _collect(terms: Sequence[tuple[complex, dict[int, str]]], text: str
             ) -> tuple[PauliTerm, ...]:
    """Sum equal Pauli words; ``QDLError`` if a collected coefficient is not real."""
    sums: dict[tuple[tuple[int, str], ...], complex] = {}
    for coeff, word in terms:
        key = tuple(sorted((w, p) for w, p in word.items() if p != "I"))
        sums[key] = sums.get(key, 0) + coeff
    for key, value in sums.items():
        if abs(value.imag) > 1e-12 * max(1.0, abs(value)):
            shown = " ".join(f"{p}{w}" for w, p in key) or "the constant"
            raise QDLError(f"observable {text!r} is not Hermitian: after collecting equal "
                           f"Pauli words, {shown} has the coefficient {value:g}; every "
                           "collected coefficient must be real")
    return tuple(PauliTerm(float(v.real), k) for k, v in sums.items() if v != 0)


def _term(term: object) -> tuple[complex, dict[int, str]]:
    """One ``(coeff, word)`` of :meth:`Observable.from_terms` as ``(coeff · phase, word)``,
    the form :func:`_parse_term` gives :func:`_collect`."""
    try:
        coeff, word = term  # type: ignore[misc]
    except (TypeError, ValueError):
        raise QDLError(f"observable terms are (coeff, word) pairs, got {term!r}") from None
    phase, product = _word_product({}, _pairs(word))
    return _coefficient(coeff) * phase, product


def _coefficient(value: object) -> complex:
    """A term's coefficient as a finite complex number."""
    try:
        # complex() takes Python and NumPy numbers, 0-d arrays and one-element tensors, but
        # also numeric strings, which are refused below: the coefficient is a number.
        number = complex(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = None
    if number is None or isinstance(value, str | bytes) or not cmath.isfinite(number):
        raise QDLError(f"observable term: the coefficient must be a finite number, got "
                       f"{value!r}")
    return number


def _pairs(word: object) -> list[tuple[int, str]]:
    """A word's ``(wire, letter)`` pairs, checked (wires as plain ints)."""
    if isinstance(word, Mapping):
        items = list(word.items())
    elif isinstance(word, Sequence) and not isinstance(word, str):
        items = list(word)
    else:
        raise QDLError(f"observable term: a Pauli word is a mapping {{wire: letter}} or a "
                       f"sequence of (wire, letter) pairs, got {word!r}")
    pairs = []
    for item in items:
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise QDLError(f"observable term: {item!r} in the word {word!r} is not a "
                           "(wire, letter) pair")
        wire, letter = item
        if not isinstance(wire, int | np.integer) or isinstance(wire, bool) or wire < 0:
            raise QDLError(f"observable term: wire {wire!r} is not a non-negative int")
        if not isinstance(letter, str) or letter not in _LETTERS:
            raise QDLError(f"observable term: {letter!r} on wire {wire} is not a Pauli "
                           "letter (I, X, Y or Z)")
        pairs.append((int(wire), letter))
    return pairs


def _show(coeff: complex, word: dict[int, str]) -> str:
    """``coeff · word`` as :meth:`Observable.parse` reads it: a coefficient with real and
    imaginary parts becomes two terms of the same word (the parser has no complex
    literal; it sums them back)."""
    letters = " ".join(f"{p}{w}" for w, p in sorted(word.items()) if p != "I")
    numbers = [repr(coeff.real)] if coeff.real or not coeff.imag else []
    numbers += [f"{coeff.imag!r}j"] if coeff.imag else []
    return " + ".join(f"{n} {letters}".rstrip() for n in numbers)


def _tokenize(text: str) -> list[re.Match]:
    tokens, pos, end = [], 0, len(text.rstrip())
    while pos < end:
        m = _TOKEN.match(text, pos)
        if not m:
            raise _bad(text, pos + len(text[pos:]) - len(text[pos:].lstrip()))
        tokens.append(m)
        pos = m.end()
    return tokens


def _parse_term(text: str, tokens: list[re.Match], i: int
                ) -> tuple[tuple[complex, dict[int, str]], int]:
    """One term from ``tokens[i]`` on: signs, an optional coefficient, Pauli factors."""
    sign, coeff = 1.0, 1 + 0j
    while i < len(tokens) and tokens[i]["op"] in ("+", "-"):
        sign, i = (-sign if tokens[i]["op"] == "-" else sign), i + 1
    start = i
    if i < len(tokens) and tokens[i]["num"]:
        coeff = complex(0, float(tokens[i]["num"][:-1])) if tokens[i]["imag"] else complex(
            float(tokens[i]["num"]))
        i += 1
        if i < len(tokens) and tokens[i]["op"] == "*":
            i = start = i + 1  # "2 *" must be followed by a Pauli word
    word: dict[int, str] = {}
    while i < len(tokens) and tokens[i]["pauli"]:
        phase, word = _word_product(word, [(int(tokens[i]["wire"]), tokens[i]["pauli"])])
        coeff, i = coeff * phase, i + 1
    if i == start:
        if i == len(tokens):
            raise QDLError(f"bad observable {text!r}: it ends where a term is expected")
        raise _bad(text, tokens[i].start(tokens[i].lastgroup))
    return (sign * coeff, word), i


def _bad(text: str, pos: int) -> QDLError:
    return QDLError(
        f"bad observable {text!r}: unexpected {text[pos:pos + 8]!r} at position {pos}; write "
        "Pauli words like 'Z0 X1' with optional coefficients (2, -0.5, 0.5j), joined by + or -"
    )


def _wire_tuple(wires: object, what: str) -> tuple[int, ...]:
    items = [wires] if isinstance(wires, int) else list(wires)  # type: ignore[arg-type]
    if not items or not all(isinstance(w, int) and not isinstance(w, bool) and w >= 0
                            for w in items) or len(set(items)) != len(items):
        raise QDLError(f"{what}: wires must be distinct non-negative ints, got {wires!r}")
    return tuple(items)


@dataclass(frozen=True, eq=False)
class Hermitian:
    """A Hermitian matrix observable on ``wires`` (first wire most significant).

    >>> h = Hermitian([[1, 0], [0, -1]], wires=[0])   # Z0
    >>> h.wires, h.eigenvalues.tolist()
    ((0,), [-1.0, 1.0])
    """

    matrix: np.ndarray
    wires: tuple[int, ...]
    text: str = field(default="", compare=False)

    def __init__(self, matrix: Any, wires: int | Sequence[int], text: str = ""):
        wires = _wire_tuple(wires, "Hermitian")
        if len(wires) > MAX_MATRIX_WIRES:
            raise QDLError(f"Hermitian on {len(wires)} wires is a dense 2**{len(wires)} "
                           "matrix; use qdl.SparseHamiltonian for large operators")
        try:
            m = np.array(getattr(matrix, "detach", lambda: matrix)(), dtype=complex)
        except (TypeError, ValueError):
            raise QDLError(f"Hermitian: matrix must be numbers, got {type(matrix).__name__}"
                           ) from None
        k = 2 ** len(wires)
        if m.shape != (k, k):
            raise QDLError(f"Hermitian on {len(wires)} wire(s) needs a {k}x{k} matrix, got "
                           f"shape {m.shape}")
        if not np.isfinite(m).all() or not np.allclose(m, m.conj().T, atol=1e-10):
            raise QDLError("Hermitian: the matrix is not Hermitian (or not finite); an "
                           "observable must equal its conjugate transpose")
        m.setflags(write=False)
        object.__setattr__(self, "matrix", m)
        object.__setattr__(self, "wires", wires)
        object.__setattr__(self, "text", text or f"Hermitian({k}x{k} on {list(wires)})")

    def __hash__(self) -> int:
        return hash((self.wires, self.matrix.tobytes()))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Hermitian) and self.wires == other.wires
                and np.array_equal(self.matrix, other.matrix))

    @property
    def max_wire(self) -> int:
        """Largest wire index used."""
        return max(self.wires)

    @cached_property
    def _eigh(self) -> tuple[np.ndarray, np.ndarray]:
        return np.linalg.eigh(self.matrix)

    @property
    def eigenvalues(self) -> np.ndarray:
        """Eigenvalues, ascending (the values a measurement returns)."""
        return self._eigh[0]

    @property
    def eigenvectors(self) -> np.ndarray:
        """Columns: the eigenbasis a measurement rotates into."""
        return self._eigh[1]

    def to_matrix(self, wires: Sequence[int]) -> np.ndarray:
        """The matrix embedded on ``wires`` (a superset of its own, in that order)."""
        return embed(self.matrix, self.wires, wires)

    def __matmul__(self, other: object) -> Hermitian:
        return matrix_product(self, other)


@dataclass(frozen=True)
class Projector:
    """``|b><b|`` on ``wires`` for the basis state ``bits`` (e.g. onto ``|0...0>``).

    Measured without a dense matrix, on any number of wires.

    >>> Projector([0, 0, 0], wires=[0, 1, 2]).text
    '|000><000| on [0, 1, 2]'
    """

    bits: tuple[int, ...]
    wires: tuple[int, ...]

    def __init__(self, bits: Sequence[int], wires: int | Sequence[int]):
        wires = _wire_tuple(wires, "Projector")
        bits = tuple(bits) if not isinstance(bits, int) else (bits,)
        if len(bits) != len(wires) or any(b not in (0, 1) for b in bits):
            raise QDLError(f"Projector: give one bit (0 or 1) per wire, got bits {bits!r} for "
                           f"wires {list(wires)}")
        object.__setattr__(self, "bits", tuple(int(b) for b in bits))
        object.__setattr__(self, "wires", wires)

    @property
    def text(self) -> str:
        """A readable name."""
        b = "".join(map(str, self.bits))
        return f"|{b}><{b}| on {list(self.wires)}"

    @property
    def max_wire(self) -> int:
        """Largest wire index used."""
        return max(self.wires)

    def to_matrix(self, wires: Sequence[int]) -> np.ndarray:
        """The dense matrix embedded on ``wires``."""
        k = 2 ** len(self.wires)
        m = np.zeros((k, k), dtype=complex)
        index = int("".join(map(str, self.bits)), 2)
        m[index, index] = 1
        return embed(m, self.wires, wires)

    def __matmul__(self, other: object) -> Hermitian:
        return matrix_product(self, other)


@dataclass(frozen=True, eq=False)
class SparseHamiltonian:
    """A Hermitian operator on all ``n`` qubits as a sparse ``2**n × 2**n`` matrix.

    Takes a scipy.sparse matrix, a torch sparse tensor or ``(rows, cols, values, n)``;
    measured exactly (no shots): the matrix would have to be diagonalised for those.

    >>> SparseHamiltonian(([0, 1], [0, 1], [1.0, -1.0], 1)).nnz   # Z on one qubit
    2
    """

    rows: tuple[int, ...]
    cols: tuple[int, ...]
    values: tuple[complex, ...]
    n_qubits: int
    text: str = field(default="", compare=False)

    def __init__(self, matrix: Any):
        rows, cols, values, n = _coo(matrix)
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "cols", cols)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "n_qubits", n)
        object.__setattr__(self, "text", f"SparseHamiltonian({len(values)} entries, {n} qubits)")

    def __hash__(self) -> int:
        return hash((self.rows, self.cols, self.values, self.n_qubits))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SparseHamiltonian) and hash(self) == hash(other) and (
            self.rows, self.cols, self.values) == (other.rows, other.cols, other.values)

    @property
    def nnz(self) -> int:
        """Stored entries."""
        return len(self.values)

    @property
    def max_wire(self) -> int:
        """Largest wire index used (all of them)."""
        return self.n_qubits - 1

    @property
    def wires(self) -> tuple[int, ...]:
        """All wires, in order."""
        return tuple(range(self.n_qubits))


def _coo(matrix: Any) -> tuple[tuple[int, ...], tuple[int, ...], tuple[complex, ...], int]:
    """``(rows, cols, values, n)`` of a sparse Hermitian ``2**n`` square matrix."""
    if isinstance(matrix, tuple) and len(matrix) == 4:
        rows, cols, values, n = matrix
        rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
        values = np.asarray(values, dtype=complex)
    elif hasattr(matrix, "tocoo"):  # scipy.sparse
        coo = matrix.tocoo()
        rows, cols, values = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data
        n = _qubits_of(coo.shape)
    elif hasattr(matrix, "is_sparse") and hasattr(matrix, "coalesce"):  # torch sparse
        coo = matrix.to_sparse_coo().coalesce() if not matrix.is_sparse else matrix.coalesce()
        rows, cols = (coo.indices()[0].numpy(), coo.indices()[1].numpy())
        values, n = coo.values().detach().numpy().astype(complex), _qubits_of(coo.shape)
    else:
        raise QDLError("SparseHamiltonian takes a scipy.sparse matrix, a torch sparse tensor "
                       f"or (rows, cols, values, n_qubits); got {type(matrix).__name__}")
    values = np.asarray(values, dtype=complex)
    if not (len(rows) == len(cols) == len(values)) or (len(rows) and (
            min(rows.min(), cols.min()) < 0 or max(rows.max(), cols.max()) >= 2**n)):
        raise QDLError(f"SparseHamiltonian: indices must lie in 0..{2**n - 1}")
    dense_check = {(int(r), int(c)): v for r, c, v in zip(rows, cols, values, strict=True)}
    if any(abs(v - np.conj(dense_check.get((c, r), 0))) > 1e-10
           for (r, c), v in dense_check.items()) or not np.isfinite(values).all():
        raise QDLError("SparseHamiltonian: the matrix is not Hermitian (or not finite)")
    return (tuple(int(r) for r in rows), tuple(int(c) for c in cols),
            tuple(complex(v) for v in values), int(n))


def _qubits_of(shape: Sequence[int]) -> int:
    n = round(math.log2(shape[0])) if shape[0] > 0 else -1
    if len(shape) != 2 or shape[0] != shape[1] or n < 0 or 2**n != shape[0]:
        raise QDLError(f"SparseHamiltonian needs a 2**n x 2**n matrix, got shape {tuple(shape)}")
    return n


def embed(m: np.ndarray, own: Sequence[int], wires: Sequence[int]) -> np.ndarray:
    """Matrix ``m`` on wires ``own`` as a matrix on ``wires`` (a superset, in that order).

    >>> embed(np.diag([1.0, -1.0]), [1], [0, 1]).real.diagonal().tolist()
    [1.0, -1.0, 1.0, -1.0]
    """
    rest = [w for w in wires if w not in own]
    full = np.kron(m, np.eye(2 ** len(rest)))
    order = list(own) + rest  # the axis order of `full`
    k = len(wires)
    perm = [order.index(w) for w in wires]
    t = full.reshape((2,) * (2 * k)).transpose(perm + [p + k for p in perm])
    return t.reshape(2**k, 2**k)


def matrix_product(a: object, b: object) -> Hermitian:
    """``a · b`` as a :class:`Hermitian` on the union of their wires (must be Hermitian).

    >>> matrix_product(Observable.parse("Z0"), Projector([1], [1])).wires
    (0, 1)
    """
    for x in (a, b):
        if not isinstance(x, Observable | Hermitian | Projector):
            raise QDLError(f"cannot multiply observables with {type(x).__name__}; products "
                           "take Pauli sums, Hermitian matrices and projectors")
    wires = tuple(sorted({*a.wires, *b.wires}))  # type: ignore[union-attr]
    if len(wires) > MAX_MATRIX_WIRES:
        raise QDLError(f"the product acts on {len(wires)} wires, too many for a dense matrix")
    m = a.to_matrix(wires) @ b.to_matrix(wires)  # type: ignore[union-attr]
    if not np.allclose(m, m.conj().T, atol=1e-10):
        raise QDLError("the product of these observables is not Hermitian (they do not "
                       "commute); only products of commuting observables are observables")
    return Hermitian(m, wires, f"({_text(a)}) @ ({_text(b)})")


def _text(obs: object) -> str:
    return getattr(obs, "text", repr(obs))


AnyObservable = Observable | Hermitian | Projector | SparseHamiltonian


@lru_cache(maxsize=1024)
def _cached_parse(text: str) -> Observable:
    return Observable.parse(text)


def _parse(text: object) -> Observable:
    """Parsed once per distinct string: layers parse the same observables on every call."""
    return _cached_parse(text) if isinstance(text, str) else Observable.parse(text)  # type: ignore[arg-type]


def parse_observables(observables: Any, n_qubits: int) -> list[AnyObservable]:
    """Parse observable strings (or take observable objects) and check their wires.

    >>> [o.text for o in parse_observables(["Z0", "X0 X1"], 2)]
    ['Z0', 'X0 X1']
    """
    if isinstance(observables, str | Hermitian | Projector | SparseHamiltonian | Observable):
        observables = [observables]
    try:
        items = list(observables)
    except TypeError:
        raise QDLError(f"observables must be a list of strings or observables, got "
                       f"{observables!r}") from None
    if not items:
        raise QDLError("observables is empty; pass at least one, e.g. ['Z0']")
    parsed = [o if isinstance(o, AnyObservable) else _parse(o) for o in items]
    for obs in parsed:
        if isinstance(obs, SparseHamiltonian) and obs.n_qubits != n_qubits:
            raise QDLError(f"{obs.text} acts on {obs.n_qubits} qubits, but the circuit has "
                           f"{n_qubits}")
        if obs.max_wire >= n_qubits:
            raise QDLError(
                f"observable {obs.text!r} acts on qubit {obs.max_wire}, but the circuit has "
                f"{n_qubits} qubit(s) (valid: 0..{n_qubits - 1})"
            )
    return parsed
