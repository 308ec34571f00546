"""Observable strings: parsing, error positions, and their expectation values."""

from __future__ import annotations

import helpers as ref
import numpy as np
import pytest
import torch

import qdl
from qdl import QDLError
from qdl.observables import Observable, PauliTerm, parse_observables


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("0.5 Z0 Z1 + -1.2 X3", [(0.5, ((0, "Z"), (1, "Z"))), (-1.2, ((3, "X"),))]),
        ("Z0 - X1", [(1.0, ((0, "Z"),)), (-1.0, ((1, "X"),))]),
        ("Z0", [(1.0, ((0, "Z"),))]),
        ("X0 Y2", [(1.0, ((0, "X"), (2, "Y")))]),
        ("Z1 Z0", [(1.0, ((0, "Z"), (1, "Z")))]),
        ("2 * X0 Y2", [(2.0, ((0, "X"), (2, "Y")))]),
        ("-Z1", [(-1.0, ((1, "Z"),))]),
        ("1e-3 Z0 + .5 X1", [(1e-3, ((0, "Z"),)), (0.5, ((1, "X"),))]),
        ("I0 Z1", [(1.0, ((1, "Z"),))]),
        ("0.25", [(0.25, ())]),
        ("  Z 3  ", [(1.0, ((3, "Z"),))]),
        ("Z0+X1-Y2", [(1.0, ((0, "Z"),)), (1.0, ((1, "X"),)), (-1.0, ((2, "Y"),))]),
        ("Z10", [(1.0, ((10, "Z"),))]),
    ],
)
def test_parse(text, terms):
    """Parsing gives the expected coefficients and Pauli words (sorted by wire)."""
    obs = Observable.parse(text)
    assert obs.terms == tuple(PauliTerm(c, p) for c, p in terms)
    assert obs.text == text


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("Q0", 0),
        ("z0", 0),
        ("Z0 &", 3),
        ("Z0 3", 3),
        ("Z0 + X", 5),
        ("* Z0", 0),
        ("Z0 * X1", 3),
        ("2 * * Z0", 4),
        ("2 * + Z0", 4),
        ("Z0 + 1.5.2 X1", 8),
    ],
)
def test_bad_strings_name_the_position(text, position):
    """Malformed strings raise QDLError naming the offending position."""
    with pytest.raises(QDLError, match=f"at position {position}\\b"):
        Observable.parse(text)


@pytest.mark.parametrize("text", ["", "   ", "Z0 +", "2 *", "1j Z0", "X0 Y0", None, 3])
def test_bad_strings_raise(text):
    """Empty strings, dangling operators, non-Hermitian sums and non-strings raise QDLError."""
    with pytest.raises(QDLError):
        Observable.parse(text)


def test_non_hermitian_message_names_the_word():
    """A collected non-real coefficient is named with its word (X1 Y1 = i Z1)."""
    with pytest.raises(QDLError, match="Z1 has the coefficient"):
        Observable.parse("X1 Y1")


def test_max_wire():
    """max_wire is the largest wire used, -1 for constants."""
    assert Observable.parse("Z0 + X4 Y2").max_wire == 4
    assert Observable.parse("1.5").max_wire == -1


def test_parse_observables_checks_wires_and_inputs():
    """parse_observables accepts one string or a list and checks wires against the circuit."""
    assert [o.text for o in parse_observables("Z0", 1)] == ["Z0"]
    obs = Observable.parse("X1")
    assert parse_observables([obs, "Z0"], 2)[0] is obs
    with pytest.raises(QDLError, match=r"qubit 3.*2 qubit"):
        parse_observables(["Z3"], 2)
    with pytest.raises(QDLError, match="empty"):
        parse_observables([], 2)
    with pytest.raises(QDLError):
        parse_observables(5, 2)


# (text, explicit reference terms) on 3 qubits
CASES = [
    ("Z0", [(1.0, {0: "Z"})]),
    ("X1", [(1.0, {1: "X"})]),
    ("Y2", [(1.0, {2: "Y"})]),
    ("Z0 - X1", [(1.0, {0: "Z"}), (-1.0, {1: "X"})]),
    ("0.5 Z0 Z1 + -1.2 X2", [(0.5, {0: "Z", 1: "Z"}), (-1.2, {2: "X"})]),
    ("Y0 Y1", [(1.0, {0: "Y", 1: "Y"})]),
    ("2 * X0 Y2", [(2.0, {0: "X", 2: "Y"})]),
    ("X0 Z1 Y2", [(1.0, {0: "X", 1: "Z", 2: "Y"})]),
    ("Z0 Z1 Z2", [(1.0, {0: "Z", 1: "Z", 2: "Z"})]),
    ("Z0 + Z0", [(2.0, {0: "Z"})]),
    ("0.25 + Z2", [(0.25, {}), (1.0, {2: "Z"})]),
    ("I1", [(1.0, {})]),
]


@pytest.mark.parametrize(("text", "terms"), [
    *CASES,
    ("Z0 + Z0", [(1, [(0, "Z")]), (1, {0: "Z"})]),
    ("Z0 Z1 + 0.5 Z1 Z0", [(1, {0: "Z", 1: "Z"}), (0.5, [(1, "Z"), (0, "Z")])]),
    ("Z0 - Z0 + X1", [(1.0, {0: "Z"}), (-1.0, {0: "Z"}), (1.0, {1: "X"})]),
    ("I0 Z1", [(1.0, {0: "I", 1: "Z"})]),
    ("0.5j X0 Y0 + Z0", [(0.5j, [(0, "X"), (0, "Y")]), (1.0, {0: "Z"})]),
    ("2j Y0 X0 Z1 + 1", [(2j, [(0, "Y"), (0, "X"), (1, "Z")]), (1, [])]),
    ("Z1 X1 Z1", [(1, [(1, "Z"), (1, "X"), (1, "Z")])]),
    ("1 Z0 + 1j Z0 + -1j Z0", [(1 + 1j, {0: "Z"}), (-1j, [(0, "Z")])]),
    ("0.5 X0 + 2 Z1", [(np.float32(0.5), {np.int64(0): "X"}), (torch.tensor(2.0), [(1, "Z")])]),
    ("0", []),
], ids=str)
def test_from_terms_collects_as_parse_does(text, terms):
    """from_terms gives parse's terms for the same sum (like words merged, zero sums dropped,
    repeated wires multiplied in order), and its default text parses back to them."""
    want = Observable.parse(text).terms
    obs = Observable.from_terms(terms)
    assert obs.terms == want
    assert Observable.parse(obs.text).terms == want
    assert Observable.from_terms(terms, text) == Observable.parse(text)


@pytest.mark.parametrize(("text", "terms"), [
    ("1j Z0", [(1j, {0: "Z"})]),
    ("X0 Y0", [(1, [(0, "X"), (0, "Y")])]),
    ("X0 Y1 + 1j X0 X0", [(1, {0: "X", 1: "Y"}), (1j, [(0, "X"), (0, "X")])]),
    ("Z2 + 0.5j Z2", [(1, {2: "Z"}), (0.5j, {2: "Z"})]),
])
def test_from_terms_refuses_non_hermitian_sums_as_parse_does(text, terms):
    """A collected coefficient that is not real is the same QDLError as parse's."""
    with pytest.raises(QDLError, match="not Hermitian") as ours:
        Observable.from_terms(terms, text)
    with pytest.raises(QDLError) as parsed:
        Observable.parse(text)
    assert str(ours.value) == str(parsed.value)


@pytest.mark.parametrize(("terms", "match"), [
    ([(1.0, {-1: "Z"})], "wire -1 is not a non-negative int"),
    ([(1.0, {1.0: "Z"})], "wire 1.0 is not"),
    ([(1.0, [(True, "Z")])], "wire True is not"),
    ([(1.0, [("0", "Z")])], "wire '0' is not"),
    ([(1.0, {0: "z"})], "'z' on wire 0 is not a Pauli letter"),
    ([(1.0, {0: "Q"})], "'Q' on wire 0 is not a Pauli letter"),
    ([(1.0, {0: "XY"})], "'XY' on wire 0"),
    ([(1.0, {0: ""})], "'' on wire 0"),
    ([(1.0, {0: 1})], "1 on wire 0"),
    ([(1.0, "Z0")], "a Pauli word is a mapping"),
    ([(1.0, 5)], "a Pauli word is a mapping"),
    ([(1.0, [(0, "Z", 1)])], "is not a \\(wire, letter\\) pair"),
    ([(1.0, ["Z0"])], "is not a \\(wire, letter\\) pair"),
    ([(1.0,)], "are \\(coeff, word\\) pairs"),
    ([1.0], "are \\(coeff, word\\) pairs"),
    ([("1", {0: "Z"})], "coefficient must be a finite number, got '1'"),
    ([(None, {0: "Z"})], "coefficient must be a finite number"),
    ([(float("nan"), {0: "Z"})], "coefficient must be a finite number"),
    ([(complex(1, float("inf")), {0: "Z"})], "coefficient must be a finite number"),
    ([(np.ones(2), {0: "Z"})], "coefficient must be a finite number"),
    ("Z0", "Observable.parse reads strings"),
], ids=str)
def test_from_terms_bad_terms_raise(terms, match):
    """Bad wires, letters, words, coefficients and term shapes are QDLErrors saying which."""
    with pytest.raises(QDLError, match=match):
        Observable.from_terms(terms)


def _circuit() -> qdl.Circuit:
    c = qdl.Circuit(3)
    for w in range(3):
        c.ry(w, f"a{w}").rz(w, f"b{w}")
    return c.cx(0, 1).cx(1, 2).rx(0, "a1")


@pytest.mark.parametrize("batch", [(), (3,), (2, 3)], ids=str)
def test_expectations_match_dense_reference(dtype, atol, batch, rng):
    """expval of every case equals <ψ|O|ψ> with O built from explicit Pauli matrices."""
    c = _circuit()
    values = {n: rng.uniform(-3, 3, batch) for n in c.parameters}
    params = {n: torch.tensor(v) for n, v in values.items()}
    got = qdl.expval(c, [t for t, _ in CASES], params, dtype=dtype)
    psi = ref.batched_state(c, values)
    want = np.stack([ref.expectation(psi, ref.pauli_operator(terms, 3)) for _, terms in CASES],
                    -1)
    assert got.shape == (*batch, len(CASES))
    np.testing.assert_allclose(got.detach().numpy(), want, atol=atol * 10)


# Repeated wires, complex coefficients, products.

_P = {"I": np.eye(2), "X": np.array([[0, 1], [1, 0]]), "Y": np.array([[0, -1j], [1j, 0]]),
      "Z": np.diag([1.0, -1.0])}


def _dense_word(factors, n):
    """The product of single-wire Paulis in the order written, each embedded by kron."""
    out = np.eye(2**n, dtype=complex)
    for w, p in factors:
        m = np.eye(1)
        for q in range(n):
            m = np.kron(m, _P[p] if q == w else np.eye(2))
        out = out @ m
    return out


@pytest.mark.parametrize("text, terms", [
    ("X0 Y0", None), ("0.5j X0 Y0", [(-0.5, [(0, "Z")])]), ("Z1 X1 Z1", [(-1.0, [(1, "X")])]),
    ("2j Y0 X0 Z1 + 1", [(2.0, [(0, "Z"), (1, "Z")]), (1.0, [])]),
    ("X0 Y1 + 1j X0 X0", None),
])
def test_repeated_wires_and_imaginary_coefficients(text, terms):
    """Words repeating a wire multiply like Pauli matrices; non-Hermitian sums are refused."""
    if terms is None:
        with pytest.raises(QDLError, match="not Hermitian"):
            Observable.parse(text)
        return
    obs = Observable.parse(text)
    want = sum(c * _dense_word(f, 2) for c, f in terms)
    np.testing.assert_allclose(obs.to_matrix([0, 1]), want, atol=1e-12)


def test_products_of_pauli_sums_match_matrix_products(rng):
    """(A @ B).to_matrix equals the numpy matrix product for commuting sums."""
    a = Observable.parse("0.5 X0 Z1 + -1.2 Z2")
    b = Observable.parse("Z2 + 0.3 X0 Z1 + 2")
    got = (a @ b).to_matrix([0, 1, 2])
    np.testing.assert_allclose(got, a.to_matrix([0, 1, 2]) @ b.to_matrix([0, 1, 2]),
                               atol=1e-12)
    with pytest.raises(QDLError, match="not Hermitian"):
        Observable.parse("X0") @ Observable.parse("Z0")


def test_hermitian_projector_and_sparse_are_checked():
    """Non-Hermitian, wrongly sized or mis-wired observables are QDLErrors."""
    with pytest.raises(QDLError, match="not Hermitian"):
        qdl.Hermitian([[0, 1], [0, 0]], [0])
    with pytest.raises(QDLError, match="needs a 4x4"):
        qdl.Hermitian(np.eye(2), [0, 1])
    with pytest.raises(QDLError, match="one bit"):
        qdl.Projector([0, 2], [0, 1])
    with pytest.raises(QDLError, match="not Hermitian"):
        qdl.SparseHamiltonian(([0], [1], [1.0], 1))
    with pytest.raises(QDLError, match="acts on qubit 3"):
        parse_observables([qdl.Hermitian(np.eye(2), [3])], 2)
    assert qdl.Hermitian(np.eye(2), [0]) == qdl.Hermitian(np.eye(2), [0])
    assert len({qdl.Hermitian(np.eye(2), [0]), qdl.Hermitian(np.eye(2), [0])}) == 1


def test_docs_examples_run():
    """The python blocks of docs/observables.md run in order and give the stated shapes."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "observables.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 3
    namespace: dict = {}
    for code in blocks:
        exec(compile(code, "docs/observables.md", "exec"), namespace)
    assert namespace["values"].shape == (2, 4)
    assert namespace["err"].shape == (2, 2)
