"""OpenQASM 3 and 2.0 writers: :func:`to_qasm` and :func:`to_qasm2`."""

from __future__ import annotations

import re
from collections.abc import Iterable

from qdl.circuit import Circuit, Op
from qdl.errors import QDLError
from qdl.gates import GATES
from qdl.interop.qasm_program import RESERVED

# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _definitions(names: Iterable[str]) -> list[str]:
    """``qasm_def`` of the non-standard gates used, with the ones they use, in table order."""
    for n in names:
        if GATES[n].family and not GATES[n].qasm_def:
            raise QDLError(f"gate {n} ({GATES[n].num_wires} qubits, given by its matrix) has no "
                           "OpenQASM decomposition in QDL; only 1-qubit matrices export")
    need = {n for n in names if GATES[n].qasm_def}
    grew = True
    while grew:
        words = {w for n in need for w in re.findall(r"\w+", GATES[n].qasm_def or "")}
        more = {w for w in words if w in GATES and GATES[w].qasm_def} - need
        need |= more
        grew = bool(more)
    # Table rows in table order, then rows made on demand (Pauli words, matrices) by name.
    return [GATES[n].qasm_def for n in [*GATES, *sorted(need - GATES.keys())]  # type: ignore[misc]
            if n in need]


def _op_line(op: Op, reg: str) -> str:
    name = "U" if op.name == "u" else op.name
    mods = "" if not op.ctrl else "ctrl @ " if op.ctrl == 1 else f"ctrl({op.ctrl}) @ "
    args = f"({', '.join(p.qasm() for p in op.params)})" if op.params else ""
    wires = ", ".join(f"{reg}[{w}]" for w in op.wires)
    return f"{mods}{name}{args} {wires};" if wires else f"{mods}{name}{args};"


def to_qasm(circuit: Circuit, version: int = 3) -> str:
    """Write a circuit as an OpenQASM 3 (or 2.0) program.

    Gates outside ``stdgates.inc`` get their definitions, free parameters become
    ``input float[64]`` declarations, and ``from_qasm(to_qasm(c)) == c``. With
    ``version=2`` see :func:`to_qasm2`.

    Args:
        circuit: the circuit to write.
        version: 3 (default) or 2.

    Returns:
        The program text, one statement per line.

    Raises:
        QDLError: if a parameter name is an OpenQASM reserved word (``pi``, ``input`` ...).

    >>> print(to_qasm(Circuit(2).h(0).cx(0, 1).rzz(0, 1, "theta")))
    OPENQASM 3.0;
    include "stdgates.inc";
    gate rzz(theta) a, b { cx a, b; rz(theta) b; cx a, b; }
    input float[64] theta;
    qubit[2] q;
    h q[0];
    cx q[0], q[1];
    rzz(theta) q[0], q[1];
    """
    if version == 2:
        return to_qasm2(circuit)
    if version != 3:
        raise QDLError(f"OpenQASM version must be 2 or 3, got {version!r}")
    params = circuit.parameters
    for name in params:
        if name in RESERVED:
            raise QDLError(f"parameter name {name!r} is reserved in OpenQASM; rename it "
                           "(e.g. circuit.bind or a new circuit with another name)")
    reg = "q"
    while reg in params:
        reg += "_"
    lines = ["OPENQASM 3.0;", 'include "stdgates.inc";']
    lines += _definitions({op.name for op in circuit.ops})
    lines += [f"input float[64] {name};" for name in params]
    if circuit.n_qubits:
        lines.append(f"qubit[{circuit.n_qubits}] {reg};")
    lines += [_op_line(op, reg) for op in circuit.ops]
    return "\n".join(lines) + "\n"


# OpenQASM 2.0 output must read in Qiskit's qasm2 (whose qelib1.inc is the original one) and
# in QDL's reader (whose qelib1.inc knows a few more gates and forbids redefining them).
_QASM2_NATIVE = frozenset(
    "u3 u2 u1 cx id x y z h s sdg t tdg rx ry rz cz cy ch ccx crz cu1 cu3".split())
_QASM2_RENAME = {"p": "u1", "cp": "cu1", "u": "u3"}
# Exact (global phase included) definitions from native gates; `qdl_` where QDL's qelib1
# already has the name.
_QASM2_DEFS = {
    "sx": "gate sx a { h a; s a; h a; }",
    "sxdg": "gate sxdg a { h a; sdg a; h a; }",
    "csx": "gate csx a, b { h b; cu1(pi/2) a, b; h b; }",
    "swap": "gate qdl_swap a, b { cx a, b; cx b, a; cx a, b; }",
    "cswap": "gate qdl_cswap a, b, c { cx c, b; ccx a, b, c; cx c, b; }",
    "crx": "gate qdl_crx(theta) a, b { cu3(theta, -pi/2, pi/2) a, b; }",
    "cry": "gate qdl_cry(theta) a, b { cu3(theta, 0, 0) a, b; }",
    "rzz": "gate qdl_rzz(theta) a, b { cx a, b; rz(theta) b; cx a, b; }",
    "rxx": "gate qdl_rxx(theta) a, b { h a; h b; cx a, b; rz(theta) b; cx a, b; h a; h b; }",
    "ryy": "gate ryy(theta) a, b { rx(pi/2) a; rx(pi/2) b; cx a, b; rz(theta) b; cx a, b; "
           "rx(-pi/2) a; rx(-pi/2) b; }",
    "iswap": "gate iswap a, b { s a; s b; h a; cx a, b; cx b, a; h b; }",
    "iswap_dg": "gate iswap_dg a, b { h b; cx b, a; cx a, b; h a; sdg b; sdg a; }",
    "ccz": "gate ccz a, b, c { h c; ccx a, b, c; h c; }",
}


def _qasm2_name(op: Op) -> str:
    if op.ctrl:
        raise QDLError(f"'{op!r}': ctrl @ modifiers have no OpenQASM 2.0 form; use "
                       "to_qasm(circuit) (OpenQASM 3)")
    if op.name in _QASM2_NATIVE:
        return op.name
    if op.name in _QASM2_RENAME:
        return _QASM2_RENAME[op.name]
    if op.name not in _QASM2_DEFS:
        raise QDLError(f"gate {op.name!r} has no OpenQASM 2.0 form in qelib1.inc; use "
                       "to_qasm(circuit) (OpenQASM 3)")
    return re.match(r"gate (\w+)", _QASM2_DEFS[op.name])[1]  # type: ignore[index]


def _qasm2_lines(op: Op) -> list[str]:
    if op.name == "gphase":
        # OpenQASM 2 has no global phase; X·u1(γ)·X·u1(γ) = e^{iγ}·I on any one qubit.
        g = op.params[0].qasm()
        return [f"u1({g}) q[0];", "x q[0];", f"u1({g}) q[0];", "x q[0];"]
    args = f"({', '.join(p.qasm() for p in op.params)})" if op.params else ""
    return [f"{_qasm2_name(op)}{args} {', '.join(f'q[{w}]' for w in op.wires)};"]


def to_qasm2(circuit: Circuit) -> str:
    """Write a circuit with bound parameters as an OpenQASM 2.0 program.

    Uses the original ``qelib1.inc`` gates (``p``/``cp``/``u`` as ``u1``/``cu1``/``u3``) and
    exact definitions for the rest; Qiskit's ``qasm2.loads`` and :func:`from_qasm` both read
    it and give the same state (the op list read back may differ: defined gates are inlined).

    Raises:
        QDLError: for free parameters (OpenQASM 2 has none: bind them first), ``ctrl @``
            modifiers, and gates with no definition here (``c3x``, ``c3sqrtx``, ``c4x``).

    >>> print(to_qasm2(Circuit(2).sx(0).cp(0, 1, 0.5)))
    OPENQASM 2.0;
    include "qelib1.inc";
    gate sx a { h a; s a; h a; }
    qreg q[2];
    sx q[0];
    cu1(0.5) q[0], q[1];
    """
    if circuit.parameters:
        raise QDLError(f"OpenQASM 2.0 has no free parameters; bind {list(circuit.parameters)} "
                       "first (circuit.bind({...})) or write OpenQASM 3")
    body = [line for op in circuit.ops for line in _qasm2_lines(op)]
    if any(op.name == "gphase" for op in circuit.ops) and not circuit.n_qubits:
        raise QDLError("a global phase on a 0-qubit circuit has no OpenQASM 2.0 form")
    used = {op.name for op in circuit.ops}
    lines = ["OPENQASM 2.0;", 'include "qelib1.inc";']
    lines += [d for name, d in _QASM2_DEFS.items() if name in used]
    if circuit.n_qubits:
        lines.append(f"qreg q[{circuit.n_qubits}];")
    return "\n".join(lines + body) + "\n"

