"""OpenQASM reading and writing: round trips, both reading lanes, errors, qiskit cross-checks."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from helpers import (
    ALL_GATES,
    circuit_state,
    circuit_unitary,
    controlled,
    embed,
    gate_matrix,
    num_params,
    num_wires,
    random_circuit,
)
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import qdl
from qdl import Circuit, QDLError
from qdl.expr import Const, Expr, Sym, binary, func
from qdl.gates import GATES
from qdl.interop import qasm
from qdl.interop.qasm import from_qasm, to_qasm

HEAD3 = 'OPENQASM 3.0;\ninclude "stdgates.inc";\n'
HEAD2 = 'OPENQASM 2.0;\ninclude "qelib1.inc";\n'


def slow_lane(text: str) -> str:
    """The same program with every line forced to the reference parser by a block comment."""
    return "\n".join(line + " /* */" if line.strip() else line for line in text.split("\n"))


def state(c: Circuit, params: dict | None = None) -> np.ndarray:
    return qdl.state(c, params or {}, dtype=torch.complex128).numpy()


def assert_same_state(a: Circuit, b: Circuit, params: dict | None = None) -> None:
    np.testing.assert_allclose(state(a, params), state(b, params), atol=1e-7)


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    return abs(np.vdot(a, b))


def error_of(text: str) -> str:
    with pytest.raises(QDLError) as info:
        from_qasm(text)
    return str(info.value)


# ---- round trips ---------------------------------------------------------------------------

NAMES = ["a", "b", "theta"]


@st.composite
def angles(draw: st.DrawFn, depth: int = 0) -> Expr:
    """Numbers, multiples of pi, names and arithmetic/functions of them."""
    kind = draw(st.integers(0, 5 if depth < 2 else 2))
    if kind == 0:
        return Const(draw(st.floats(-10, 10, allow_nan=False, allow_infinity=False)))
    if kind == 1:
        return Const(draw(st.integers(-8, 8)) * math.pi / draw(st.sampled_from([1, 2, 4, 8])))
    if kind == 2:
        return Sym(draw(st.sampled_from(NAMES)))
    if kind == 3:
        op = draw(st.sampled_from("+-*"))
        return binary(op, draw(angles(depth + 1)), draw(angles(depth + 1)))
    if kind == 4:
        op = draw(st.sampled_from(["/", "**"]))
        right = Const(draw(st.sampled_from([2.0, 3.0] + ([-4.5] if op == "/" else []))))
        return binary(op, draw(angles(depth + 1)), right)
    return func(draw(st.sampled_from(["sin", "cos", "arctan", "neg"])), draw(angles(depth + 1)))


@st.composite
def circuits(draw: st.DrawFn) -> Circuit:
    """Random circuits over every gate of the table, with ctrl modifiers and expressions."""
    n = draw(st.integers(1, 6))
    c = Circuit(n)
    for _ in range(draw(st.integers(0, 8))):
        name = draw(st.sampled_from(sorted(GATES)))
        spec = GATES[name]
        if spec.num_wires > n:
            continue
        ctrl = draw(st.integers(0, min(2, n - spec.num_wires)))
        wires = draw(st.permutations(range(n)))[: spec.num_wires + ctrl]
        c.add(name, wires, [draw(angles()) for _ in range(spec.num_params)], ctrl=ctrl)
    if draw(st.booleans()):
        c.declare("unused")
    return c


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(circuits(), st.lists(st.floats(-2, 2), min_size=4, max_size=4))
def test_round_trip_random_circuits_same_state(c, values):
    """from_qasm(to_qasm(c)) simulates like c for random parameter values."""
    back = from_qasm(to_qasm(c))
    assert back.n_qubits == c.n_qubits and back.parameters == c.parameters
    params = dict(zip([*NAMES, "unused"], values, strict=True))
    params = {k: v for k, v in params.items() if k in c.parameters}
    assert_same_state(back, c, params)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(circuits())
def test_round_trip_random_circuits_exact(c):
    """from_qasm(to_qasm(c)) == c op for op (expressions included), in both reading lanes."""
    text = to_qasm(c)
    note(text)
    back = from_qasm(text)
    note(repr(back.ops))
    assert back == c
    assert from_qasm(slow_lane(text)) == c


@pytest.mark.parametrize("seed", range(4))
def test_round_trip_matches_dense_reference(seed):
    """A random circuit read back from its QASM simulates like the independent dense model."""
    rng = np.random.default_rng(seed)
    c = random_circuit(4, rng, depth=25)
    env = {"a": 0.3, "b": -1.1, "c": 2.0}
    back = from_qasm(to_qasm(c))
    np.testing.assert_allclose(state(back, env), circuit_state(c, env), atol=1e-6)


def test_to_qasm_layout():
    """The writer emits header, definitions, inputs, the register and one line per op."""
    c = Circuit(3).h(0).add("iswap_dg", [1, 2]).add("rx", [2, 0], ["t"], ctrl=1)
    lines = to_qasm(c).splitlines()
    assert lines[:2] == ["OPENQASM 3.0;", 'include "stdgates.inc";']
    assert lines[2].startswith("gate iswap ") and lines[3].startswith("gate iswap_dg ")
    assert lines[4:] == ["input float[64] t;", "qubit[3] q;", "h q[0];",
                         "iswap_dg q[1], q[2];", "ctrl @ rx(t) q[2], q[0];"]


def test_to_qasm_renames_register_clashing_with_parameter():
    """A parameter named q pushes the qubit register to another name."""
    c = Circuit(1).rx(0, "q")
    assert "qubit[1] q_;" in to_qasm(c)
    assert from_qasm(to_qasm(c)) == c


def test_to_qasm_rejects_reserved_parameter_names():
    """A parameter called pi cannot be written as an OpenQASM input."""
    with pytest.raises(QDLError, match="'pi' is reserved"):
        to_qasm(Circuit(1).rx(0, "pi"))


def test_empty_and_phase_only_circuits_round_trip():
    """Zero-op and zero-qubit circuits survive the round trip."""
    for c in (Circuit(2), Circuit(0).gphase(0.5), Circuit(1).declare("w")):
        assert from_qasm(to_qasm(c)) == c


def test_table_definition_copies_map_back_to_table_gates():
    """A definition identical to a table gate's own stays that gate; a different one inlines."""
    same = HEAD3 + GATES["rzz"].qasm_def + "\nqubit[2] q;\nrzz(0.3) q[0], q[1];"
    assert [op.name for op in from_qasm(same).ops] == ["rzz"]
    other = HEAD3 + "gate rzz(t) a, b { cx a, b; rz(t) b; cx a, b; h a; }\nqubit[2] q;\n" \
        "rzz(0.3) q[0], q[1];"
    assert [op.name for op in from_qasm(other).ops] == ["cx", "rz", "cx", "h"]


# ---- reading: expressions ------------------------------------------------------------------


def test_expression_parameter_rx():
    """rx(2*theta + 0.1) reads as an expression of the free parameter theta."""
    c = from_qasm(HEAD3 + "input float[64] theta;\nqubit q;\nrx(2*theta + 0.1) q;")
    assert c.parameters == ("theta",)
    assert c.ops[0].params == (2 * Sym("theta") + 0.1,)
    np.testing.assert_allclose(state(c, {"theta": 0.3}), state(Circuit(1).rx(0, 0.7)), atol=1e-12)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("pi/2", math.pi / 2), ("π", math.pi), ("tau/4", math.tau / 4), ("euler", math.e),
        ("-2**2", -4.0), ("2**-1*3", 1.5), ("2**3**2", 512.0), ("-pi/4", -math.pi / 4),
        ("1 - 2 - 3", -4.0), ("8/2/2", 2.0), ("(1+2)*3", 9.0), ("1e-3", 1e-3), (".5", 0.5),
        ("3.", 3.0), ("sin(pi/6)", 0.5), ("cos(0)", 1.0), ("tan(0.3)", math.tan(0.3)),
        ("exp(1)", math.e), ("ln(euler)", 1.0), ("log(1)", 0.0), ("sqrt(4)", 2.0),
        ("arcsin(1)", math.pi / 2), ("arccos(1)", 0.0), ("arctan(1)", math.pi / 4),
        ("float(0.25)", 0.25),
    ],
)
def test_constant_expressions(text, value):
    """Angle expressions fold to the right constant in both lanes."""
    program = HEAD3 + f"qubit q;\nrz({text}) q;"
    for source in (program, slow_lane(program)):
        (op,) = from_qasm(source).ops
        assert op.params[0] == Const(pytest.approx(value, abs=1e-15))


def test_expressions_agree_between_lanes():
    """The tokenizer of the fast lane builds the same expressions as the reference parser."""
    program = HEAD3 + "input float a; input float[64] b;\nqubit[2] q;\n" + "\n".join(
        f"rx({e}) q[0];" for e in [
            "-a**2", "a - -b", "-(a + b) * 2", "a / b / 2", "a ** b ** 2", "sin(a) * -cos(b)",
            "2 * a + 0.1", "(a)", "-a * b", "a ** -b", "--a",
        ]
    )
    assert from_qasm(program) == from_qasm(slow_lane(program))


def test_qasm2_caret_is_power():
    """In OpenQASM 2.0, ^ is exponentiation with its usual precedence."""
    c = from_qasm(HEAD2 + "qreg q[1];\nu1(2*2^3) q[0];\nu1(2*2^3) q[0]; /* */")
    assert [op.params[0] for op in c.ops] == [Const(16.0), Const(16.0)]


def test_constants_and_inputs():
    """const declarations fold into angles; both input float spellings declare parameters."""
    c = from_qasm(HEAD3 + "const float half = pi / 2;\nconst int two = 2;\n"
                  "input float x;\ninput float[64] y;\ninput angle[32] z;\nqubit q;\n"
                  "rx(half * two) q;\nry(x + y) q;")
    assert c.parameters == ("x", "y", "z")
    assert c.ops[0].params == (Const(math.pi),)


# ---- reading: OpenQASM 2 -------------------------------------------------------------------


def test_qasm2_registers_broadcast_barrier_measure():
    """qreg/creg, broadcasting, U/CX builtins, barrier and final measurement."""
    c = from_qasm(HEAD2 + "qreg a[2];\nqreg b[2];\ncreg c[2];\nh a;\nCX a, b;\n"
                  "U(pi/2, 0, pi) b[0];\nbarrier a, b;\nmeasure a -> c;\nmeasure b[0] -> c[0];")
    assert c.n_qubits == 4
    assert [(op.name, op.wires) for op in c.ops] == [
        ("h", (0,)), ("h", (1,)), ("cx", (0, 2)), ("cx", (1, 3)), ("u", (2,))]


def test_qasm2_custom_gates_nested_with_parameters():
    """Parametrised gate definitions inline, nested, with their parameters substituted."""
    c = from_qasm(HEAD2 + "gate rot(t, p) a { u3(t, p, 0) a; }\n"
                  "gate pair(t) a, b { rot(t, t/2) a; cx a, b; rot(-t, 0) b; }\n"
                  "qreg q[2];\npair(0.4) q[1], q[0];")
    ref = Circuit(2).u(1, 0.4, 0.2, 0.0).cx(1, 0).u(0, -0.4, 0.0, 0.0)
    assert c == ref


def test_qasm2_file_features_match_qiskit():
    """A QASM 2 program using qelib1 gates and definitions matches qiskit.qasm2."""
    q2 = pytest.importorskip("qiskit.qasm2")
    from qiskit.quantum_info import Statevector

    text = HEAD2 + """
qreg q[3];
qreg r[2];
creg c[3];
gate maj a, b, c { cx c, b; cx c, a; ccx a, b, c; }
gate rot(theta, phi) a { u3(theta, phi, -phi) a; rz(theta/2) a; }
h q; u2(0.3, -0.2) r[0]; u1(0.7) r[1]; u0(1) r[1]; id q[0];
maj q[0], q[1], r[0]; rot(pi/3, 0.2) q[2];
cu1(0.4) q[0], r[1]; cu3(0.1, 0.2, 0.3) r[1], q[1]; crz(0.9) q[2], r[0]; cry(0.5) r[0], q[0];
crx(1.1) q[1], q[2]; ch q[0], r[1]; cy q[2], q[0]; cz q[1], r[0]; swap q[0], r[1];
cswap q[1], q[2], r[0]; rxx(0.3) q[0], q[1]; rzz(0.6) q[1], r[1]; sx q[0]; sxdg q[1];
rccx q[0], q[1], q[2]; rc3x q[0], q[1], q[2], r[0]; c3x r[1], q[0], q[1], q[2];
c3sqrtx q[2], q[1], q[0], r[1]; c4x q[0], q[1], q[2], r[0], r[1]; s q[0]; sdg q[1];
t q[2]; tdg r[0]; x r[1]; y q[0]; z q[1]; rx(0.2) q; ry(-0.3) r;
barrier q;
measure q -> c;
"""
    qc = q2.loads(text, custom_instructions=q2.LEGACY_CUSTOM_INSTRUCTIONS)
    qc.remove_final_measurements()
    ref = Statevector(qc).reverse_qargs().data
    assert overlap(ref, state(from_qasm(text))) == pytest.approx(1, abs=1e-9)


# ---- reading: OpenQASM 3 -------------------------------------------------------------------


def test_modifiers_ctrl_negctrl_inv_pow():
    """ctrl, negctrl, inv and pow(k) modifiers build the expected ops (innermost first)."""
    c = from_qasm(HEAD3 + "qubit[3] q;\nctrl @ negctrl @ inv @ pow(2) @ rx(0.3) q[0], q[1], q[2];")
    flip = qdl.Op("x", (0, 1), (), 1)  # the negctrl flip of q[1], itself under ctrl q[0]
    rx = qdl.Op("rx", (0, 1, 2), (Const(-0.3),), 2)
    assert list(c.ops) == [flip, rx, rx, flip]


def test_modifiers_on_custom_gates_match_dense_semantics():
    """inv @, ctrl @, negctrl @ and pow(-1) @ on a custom gate act as on its body's unitary."""
    body = "gate g(t) a, b { h a; cx a, b; rz(t) b; ry(2*t) a; }\n"
    c = from_qasm(HEAD3 + body + "qubit[3] q;\nh q;\ng(0.4) q[0], q[1];\n"
                  "inv @ g(0.4) q[0], q[1];\nctrl @ g(0.7) q[2], q[0], q[1];\n"
                  "negctrl(1) @ pow(-1) @ g(0.2) q[1], q[2], q[0];")

    def g(t: float) -> np.ndarray:
        return circuit_unitary(Circuit(2).h(0).cx(0, 1).rz(1, t).ry(0, 2 * t))

    x1 = embed(gate_matrix("x"), [1], 3)
    u = embed(controlled(g(0.7), 1), [2, 0, 1], 3)
    u = x1 @ embed(controlled(np.linalg.inv(g(0.2)), 1), [1, 2, 0], 3) @ x1 @ u
    start = np.full(8, 1 / math.sqrt(8))
    np.testing.assert_allclose(state(c), u @ start, atol=1e-9)


def test_qasm3_declarations_and_operands():
    """qubit q; physical-free scalars, ranges, sets and c = measure q read correctly."""
    c = from_qasm(HEAD3 + "qubit a;\nqubit[4] r;\nbit[2] c;\nx a;\nh r[1:2];\n"
                  "z r[{0, 3}];\ncx a, r[-1];\nc[0] = measure r[0];\nc = measure r[1:2];")
    assert [(op.name, op.wires) for op in c.ops] == [
        ("x", (0,)), ("h", (2,)), ("h", (3,)), ("z", (1,)), ("z", (4,)), ("cx", (0, 4))]


def test_physical_qubits():
    """$k addresses wire k; the circuit is as wide as the largest index used."""
    c = from_qasm("OPENQASM 3;\nh $2;\ncx $2, $0;")
    assert c.n_qubits == 3 and [op.wires for op in c.ops] == [(2,), (2, 0)]


def test_gphase_and_controlled_gphase():
    """gphase is a global phase; ctrl @ gphase is a phase gate on the control."""
    c = from_qasm(HEAD3 + "qubit[2] q;\nh q[0];\ngphase(pi/2);\nctrl @ gphase(0.3) q[0];")
    expected = np.array([1, 0, np.exp(0.3j), 0]) * 1j / math.sqrt(2)
    np.testing.assert_allclose(state(c), expected, atol=1e-12)


def test_cu_with_gamma():
    """The four-parameter stdgates cu adds the phase gamma on the control."""
    c = from_qasm(HEAD3 + "qubit[2] q;\nx q[0];\ncu(pi, 0, pi, 0.25) q[0], q[1];")
    np.testing.assert_allclose(state(c), [0, 0, 0, np.exp(0.25j)], atol=1e-12)


def test_terminal_measurements_and_barriers_are_ignored():
    """Measuring twice, barriers after measurement and measure without target are fine."""
    c = from_qasm(HEAD3 + "qubit[2] q;\nbit[2] b;\nh q[0];\nmeasure q;\nb = measure q;\n"
                  "barrier q;\nmeasure q[1] -> b[1];")
    assert len(c.ops) == 1


def test_comments_pragmas_annotations_multiline():
    """Comments, pragmas, annotations and statements spread over lines are read."""
    c = from_qasm(HEAD3 + "/* a\n block */ qubit[2] q; // tail\npragma anything here\n"
                  "@note something\nh q[0];\ncx q[0],\n   q[1];\nrx(\n0.5) q[1];")
    assert [op.name for op in c.ops] == ["h", "cx", "rx"]


def test_flat_files_take_the_fast_lane(monkeypatch):
    """Simple statements and modifiers never reach the reference parser; definitions do."""
    calls = []
    real = qasm._parse
    monkeypatch.setattr(qasm, "_parse", lambda text, offset: calls.append(text) or
                        real(text, offset))
    lines = [f"rz({0.001 * i}) q[{i % 4}];\ncx q[{i % 4}], r[{i % 3}];" for i in range(500)]
    text = HEAD2 + "qreg q[4];\nqreg r[3];\ncreg c[4];\nbarrier q;\n" + "\n".join(lines)
    from_qasm(text + "\nmeasure q -> c;")
    assert calls == []
    from_qasm(text + "\ngate g a { h a; }\ng q[0];\nctrl @ inv @ g q[0], q[1];")
    assert calls == ["gate g a { h a; }"]


# ---- errors --------------------------------------------------------------------------------

PROLOGUE = HEAD3 + "qubit[2] q;\nbit[2] c;\n"  # statements below start at line 5
ERRORS = [
    ("foo q[0];", "unknown gate 'foo'"),
    ("cx q[0];", "gate 'cx' acts on 2 qubit(s), got 1"),
    ("h q[0], q[1];", "gate 'h' acts on 1 qubit(s), got 2"),
    ("rx q[0];", "gate 'rx' takes 1 parameter(s), got 0"),
    ("h(0.1) q[0];", "gate 'h' takes 0 parameter(s), got 1"),
    ("h q[2];", "qubit index 2 is out of range for register 'q' of size 2"),
    ("h r[0];", "unknown qubit register 'r'"),
    ("h c[0];", "'c' is a bit register, not qubits"),
    ("rx(phi) q[0];", "unknown identifier 'phi'"),
    ("cx q[0], q[0];", "uses qubit q[0] more than once"),
    ("ctrl @ h q[0];", "gate 'h' acts on 1 qubit(s) plus 1 control(s), got 1"),
    ("ctrl(0) @ h q[0];", "ctrl(0) needs a positive number of controls"),
    ("reset q[0];", "reset is not supported"),
    ("h q[0];\nmeasure q[0] -> c[0];\nx q[0];", "gate 'x' acts on qubit q[0] after it was "
     "measured (line 6); mid-circuit measurement is not supported"),
    ("measure q -> c[0];", "measure needs as many bits as qubits"),
    ("measure q[0] -> d[0];", "'d' is not a declared bit register"),
    ('include "mylib.inc";', 'cannot include "mylib.inc"'),
    ("opaque g a;", "opaque gate declarations are not supported"),
    ("rx(1/0) q[0];", "cannot evaluate 1.0 / 0.0"),
    ("rx(foo(1)) q[0];", "unknown function foo()"),
    ("rx(arctan(1, 2)) q[0];", "function arctan() takes one argument, got 2"),
    ("rx(1im) q[0];", "imaginary literal is not supported in angles"),
    ("rx(1 % 2) q[0];", "operator '%' is not supported in angles"),
    ("h q;\ncx q, q[0:0];", "applied to registers of different sizes [1, 2]"),
    ("cx q[0:1], q[0:1];", "uses qubit q[0] more than once"),
    ("qubit[2] q;", "'q' is already declared (line 3)"),
    ("input float pi;", "'pi' is a reserved word"),
]


@pytest.mark.parametrize(("statement", "message"), ERRORS, ids=[m for _, m in ERRORS])
def test_error_messages_name_problem_and_line(statement, message):
    """Malformed programs raise QDLError naming the problem and its line, in both lanes."""
    program = PROLOGUE + statement
    last = 4 + statement.count("\n") + 1
    fast = error_of(program)
    assert message in fast and fast.startswith(f"line {last}: ")
    if not statement.startswith(("opaque", "input")):  # opaque has no AST; input is slow-only
        assert error_of(slow_lane(program)) == fast


UNSUPPORTED = [
    ("if (c[0]) x q[1];", "if statements (classically controlled gates) are not supported"),
    ("if (c == 1) { x q[1]; } else { y q[1]; }", "if statements"),
    ("for int i in [0:1] { h q[i]; }", "for loops are not supported"),
    ("while (true) { h q[0]; }", "while loops are not supported"),
    ("def f(qubit a) { h a; }", "subroutine definitions (def) are not supported"),
    ("int k = 3;", "classical variables (int type) are not supported"),
    ("c[0] = 1;", "classical assignments are not supported"),
    ("delay[100ns] q[0];", "delay is not supported"),
    ("box { h q[0]; }", "box statements are not supported"),
    ("pow(0.5) @ x q[0];", "pow(0.5) @ is not supported"),
    ("gate g a { g a; }", "gate 'g' calls itself"),
    ("gate g a { h a; }\ngate g a { x a; }", "gate 'g' is already defined"),
    ("gate g(t) a { rx(u) a; }", "unknown identifier 'u' in the body of gate 'g'"),
    ("gate g a { h b; }", "'b' is not a qubit argument of gate 'g'"),
    ("gate g a { reset a; }", "cannot have a non-unitary 'reset' instruction in a gate"),
    ("gate g a { delay[10ns] a; }", "delay instruction is not allowed in the body of gate 'g'"),
    ("h[100ns] q[0];", "gate durations are not supported"),
    ("output float y;", "output float type 'y' is not supported"),
    ("const float k = 2 * t;\ninput float t;", "unknown identifier 't'"),
]


@pytest.mark.parametrize(("statement", "message"), UNSUPPORTED, ids=[m for _, m in UNSUPPORTED])
def test_unsupported_statements_name_line(statement, message):
    """Statements QDL cannot simulate raise QDLError with their line."""
    text = error_of(PROLOGUE + statement)
    assert message in text
    assert re.match(r"line [56][:,] ", text)


def test_syntax_error_has_line_and_column():
    """Parser errors report the offending line and column."""
    text = error_of(PROLOGUE + "h q[0];\nrx(0.5 q[1];\nh q[1];")
    assert text.startswith("line 6, column ") and "syntax error" in text
    assert error_of("OPENQASM 3;\nqubit q;\nh q; #x").startswith("line 3, column 6: syntax error")


def test_version_errors():
    """The version statement must come first and be 2 or 3."""
    assert "must be the first statement" in error_of("qubit q;\nOPENQASM 3;")
    assert "version 4 is not supported" in error_of("OPENQASM 4;")


def test_qelib1_redefinition_and_mixing_physical_qubits():
    """Redefining an included gate and mixing $k with declared qubits are errors."""
    assert "already defined by qelib1.inc" in error_of(HEAD2 + "gate h a { x a; }")
    assert "cannot mix" in error_of("OPENQASM 3;\nqubit q;\nh $0;")


def test_non_string_input():
    """from_qasm refuses bytes with a clear message."""
    with pytest.raises(QDLError, match="expects the program text as a str"):
        from_qasm(b"OPENQASM 3;")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("params", "message"),
    [({}, "missing value for parameter(s) theta"),
     ({"theta": 0.1, "phi": 0.2}, "unknown parameter(s) phi")],
)
def test_missing_or_extra_parameter_at_state(params, message):
    """A declared input must get a value at qdl.state, and no unknown names may be passed."""
    c = from_qasm(HEAD3 + "input float[64] theta;\nqubit q;\nrx(theta) q;")
    with pytest.raises(QDLError, match=re.escape(message)):
        qdl.state(c, params)


def test_unused_input_is_still_a_parameter():
    """An input float no gate uses is still a parameter of the circuit."""
    c = from_qasm(HEAD3 + "input float[64] unused;\nqubit q;\nh q;")
    assert c.parameters == ("unused",)


# ---- qiskit cross-checks -------------------------------------------------------------------

QISKIT_GATES = [g for g in ALL_GATES if g != "cu3"]  # qiskit_qasm3_import sorts gate
# parameters by name when it builds a custom gate, so cu3(theta, phi, lambda) is misread there.


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("ctrl", [0, 1, 2])
@pytest.mark.parametrize("name", QISKIT_GATES)
def test_to_qasm_reads_in_qiskit(name, ctrl):
    """Every exported gate (with ctrl modifiers) gives qiskit.qasm3.loads the same state."""
    qasm3 = pytest.importorskip("qiskit.qasm3")
    pytest.importorskip("qiskit_qasm3_import")
    from qiskit.quantum_info import Statevector

    if name == "gphase" and ctrl:
        pytest.skip("ctrl @ gphase is stored as a phase gate")
    k = num_wires(name) + ctrl
    c = Circuit(k + 1)
    for w in range(k + 1):
        c.h(w).rz(w, 0.3 * (w + 1)).ry(w, 0.2 * (w + 1))
    c.add(name, list(range(k))[::-1], [0.3 + 0.4 * i for i in range(num_params(name))], ctrl=ctrl)
    ref = Statevector(qasm3.loads(to_qasm(c))).reverse_qargs().data
    np.testing.assert_allclose(state(c), ref, atol=1e-9)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_to_qasm_with_expressions_reads_in_qiskit():
    """Exported parameter expressions bind in qiskit like in QDL."""
    qasm3 = pytest.importorskip("qiskit.qasm3")
    pytest.importorskip("qiskit_qasm3_import")
    from qiskit.quantum_info import Statevector

    c = Circuit(2).h(0).rx(1, 2 * Sym("a") + 0.1).crz(0, 1, Sym("a") * Sym("b") - 1).ry(
        0, -Sym("b") / 2)
    qc = qasm3.loads(to_qasm(c))
    bound = qc.assign_parameters({p: {"a": 0.4, "b": -0.9}[p.name] for p in qc.parameters})
    ref = Statevector(bound).reverse_qargs().data
    np.testing.assert_allclose(state(c, {"a": 0.4, "b": -0.9}), ref, atol=1e-9)


# ---- limits: refused before the work, with the size and the limit --------------------------

LIMITS = [
    ("qubit[65] q;", "register q[65] brings the program to 65 qubits, more than QDL can "
     "simulate (at most 64"),
    ("qubit[40] a;\nqubit[25] b;", "register b[25] brings the program to 65 qubits"),
    ("qubit[" + "9" * 400 + "] q;", "register q[about 10^400] brings"),
    ("qubit[" + "9" * 5000 + "] q;", "an integer literal has more than 4300 digits"),
    ("h $64;", "physical qubit $64 is beyond the 64 qubits"),
    ("h $" + "9" * 5000 + ";", "physical qubit $99999999999... (5000 digits) is beyond"),
    ("qubit[2] q;\nh q[0:100000];", "qubit index 100000 is out of range for register 'q'"),
    ("qubit[2] q;\nh q[-5:1];", "qubit index -5 is out of range"),
    ("qubit q;\npow(100001) @ x q;", "gate 'x' brings the circuit to 100001 operations, past the "
     "operation budget of 100000"),
    ("qubit q;\npow(-100001) @ x q;", "brings the circuit to 100001 operations"),
    ("qubit q;\npow(0) @ pow(10000000000) @ x q;", "brings the circuit to 10000000000 operations"),
    ("qubit q;\npow(" + "9" * 400 + ") @ x q;", "brings the circuit to about 10^400 operations"),
    ("qubit q;\nrx(1e309) q;", "a float literal is out of range for a float64"),
    ("qubit q;\nrx(" + "9" * 400 + ") q;", "the integer about 10^400 is out of range"),
    ("qubit q;\nconst float k = 1e400;", "a float literal is out of range"),
    ("qubit q;\nrx(" + "-" * 33 + "1) q;", "nests brackets and unary minus more than 32 deep"),
    ("qubit q;\nrx(" + "(" * 32 + "1" + ")" * 32 + ") q;", "nests brackets and unary minus"),
    ("qubit q;\nrx(" + "+".join(["1"] * 101) + ") q;", "nests more than 100 levels deep"),
    ("qubit q;\nrx(" + "*".join(["(1+1)"] * 600) + ") q;", "has more than 1000 operators"),
]


@pytest.mark.parametrize(("statement", "message"), LIMITS, ids=[m[:50] for _, m in LIMITS])
def test_limits_name_size_limit_and_line(statement, message):
    """Programs just past a limit raise QDLError naming the line, the size and the limit."""
    program = HEAD3 + statement
    last = 2 + statement.count("\n") + 1
    for text in (program, slow_lane(program)):
        error = error_of(text)
        assert message in error and error.startswith(f"line {last}: "), error


def test_limits_hold_at_the_limit():
    """64 qubits, 32 levels of brackets and unary minus and a finite 1e308 are still read."""
    assert from_qasm("OPENQASM 3;\nqubit[60] a;\nqubit[4] b;\nh b[3];").n_qubits == 64
    assert from_qasm("OPENQASM 3;\nU(0, 0, 0) $63;").n_qubits == 64
    deep = from_qasm(HEAD3 + "qubit q;\nrx(" + "-" * 30 + "(1)) q;")
    assert deep.ops[0].params == (Const(1.0),)
    huge = from_qasm(HEAD3 + "qubit q;\nrx(1e308) q;")
    assert huge.ops[0].params == (Const(1e308),) and "RX(1e+308)" in str(huge)


def test_operation_budget_default_and_keyword():
    """100,000 operations by default (more for long texts); max_ops raises or lowers it."""
    text = HEAD3 + "qubit q;\npow(150000) @ x q;"
    assert "operation budget of 100000" in error_of(text)
    assert len(from_qasm(text, max_ops=150_000)) == 150_000
    assert len(from_qasm(HEAD3 + "qubit q;\npow(10000000000000000000000) @ pow(0) @ x q;")) == 0
    with pytest.raises(QDLError, match="brings the circuit to 2 operations, past the operation "
                                       "budget of 1 "):
        from_qasm(HEAD3 + "qubit q;\nh q;\nh q;", max_ops=1)
    with pytest.raises(QDLError, match="max_ops must be a non-negative int"):
        from_qasm(HEAD3, max_ops=-1)
    flat = HEAD3 + "qubit[16] q;\n" + "h q;\n" * 6300  # 100,800 ops in 32 KB of text
    assert len(from_qasm(flat)) == 100_800


def test_doubling_definitions_are_refused_at_the_definition():
    """Each gate calling the previous twice: refused where the budget is passed, at once."""
    text = HEAD3 + "gate g0 a { x a; }\n" + "".join(
        f"gate g{i} a {{ g{i - 1} a; g{i - 1} a; }}\n" for i in range(1, 41)) + "qubit q;\ng40 q;"
    error = error_of(text)
    assert error.startswith("line 20: gate 'g17' expands to 131072 operations or more")
    assert "past the operation budget of 100000" in error


def test_large_definitions_expand_like_small_ones(monkeypatch):
    """Calls kept unexpanded in a definition give the same circuit as expanded ones."""
    text = HEAD3 + """input float[64] t;
gate a(x) p, q { rx(x) p; cx p, q; ry(x/2 + 1) q; }
gate b(x, y) p, q { a(x*y) p, q; inv @ a(-x) q, p; pow(3) @ a(y) p, q; negctrl @ rz(x) p, q; }
gate c(x) p, q, r, s { ctrl @ b(x, 2*x) p, q, r; pow(-2) @ b(x + 1, x) r, q;
  negctrl(2) @ b(x, x) q, p, r, s; }
qubit[5] q;
c(t) q[0], q[1], q[2], q[4];
inv @ ctrl @ c(0.3) q[3], q[2], q[1], q[0], q[4];
pow(2) @ negctrl @ c(t*t) q[1], q[3], q[0], q[2], q[4];
"""
    eager = from_qasm(text)
    from qdl.interop import qasm_program

    monkeypatch.setattr(qasm_program, "_EAGER_OPS", 0)
    lazy = from_qasm(text)
    assert lazy == eager and len(lazy) == 308


def test_nested_arguments_cannot_grow_past_the_expression_size():
    """Arguments doubled through nested gates are refused before they are walked as trees."""
    def chain(levels: int, call: str) -> str:
        return HEAD3 + "input float[64] t;\ngate g0(x) a { rx(x) a; }\n" + "".join(
            f"gate g{i}(x) a {{ g{i - 1}(x + x) a; }}\n" for i in range(1, levels + 1)
        ) + f"qubit q;\n{call} q;"

    error = error_of(chain(40, "g40(t)"))
    assert error.startswith("line 13: an angle expression grows to 1023 terms nested 10 levels "
                            "deep when gate 'g8' is expanded (at most 1000 terms and 100 levels)")
    assert from_qasm(chain(8, "g8(0.5)")).ops[0].params == (Const(0.5 * 2**8),)
    assert from_qasm(chain(8, "g8(t)")).ops[0].params[0].evaluate({"t": 1.0}) == 2**8
