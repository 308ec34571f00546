"""The `qdl` command: output, gradients, batches and one-line errors with exit status 2."""

import json
import math
import subprocess
import sys

import pytest

from qdl.cli import main

QASM = """OPENQASM 3.0;
include "stdgates.inc";
input float[64] theta;
qubit[2] q;
h q[0];
cx q[0], q[1];
ry(2 * theta + 0.1) q[1];
"""


@pytest.fixture
def qasm_file(tmp_path):
    path = tmp_path / "c.qasm"
    path.write_text(QASM)
    return path


def _analytic(theta):
    """<Z1> and d<Z1>/dtheta for the Bell pair followed by ry(a) on q1, a = 2θ+0.1.

    After the Bell pair q1 is maximally mixed, so <Z1> = 0 for every angle; <X0 X1> is
    cos(a): ry(a) rotates the X1 correlation of the Bell state (<X0X1> = 1) in the X-Z plane.
    """
    a = 2 * theta + 0.1
    return {"Z1": (0.0, 0.0), "X0 X1": (math.cos(a), -2 * math.sin(a))}


def test_run_json_values_and_grads(qasm_file, capsys):
    """`qdl run --json --grad` prints values and gradients that match the closed form."""
    rc = main(["run", str(qasm_file), "-O", "Z1", "-O", "X0 X1", "-p", "theta=0.3", "--grad",
               "--json", "--dtype", "complex128"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    expected = _analytic(0.3)
    for k, obs in enumerate(["Z1", "X0 X1"]):
        assert out["expval"][k] == pytest.approx(expected[obs][0], abs=1e-9)
        assert out["grad"][obs]["theta"] == pytest.approx(expected[obs][1], abs=1e-9)


def test_run_batch_text_output(qasm_file, capsys):
    """A comma list gives a batch; the text output has one value per batch element."""
    assert main(["run", str(qasm_file), "-O", "X0 X1", "-p", "theta=0.0,0.5"]) == 0
    line = capsys.readouterr().out.strip()
    values = [float(v) for v in line.split("=", 1)[1].strip(" []").split(",")]
    assert values == pytest.approx([math.cos(0.1), math.cos(1.1)], abs=1e-6)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "missing.qasm", "-O", "Z0"], "no such file"),
        (["run", "{file}", "-O", "Q7"], "bad observable"),
        (["run", "{file}", "-O", "Z5", "-p", "theta=1"], "qubit 5"),
        (["run", "{file}", "-O", "Z0"], "missing value for parameter"),
        (["run", "{file}", "-O", "Z0", "-p", "theta=abc"], "not a number"),
        (["run", "{file}", "-O", "Z0", "-p", "theta"], "NAME=VALUE"),
        (["run", "{file}", "-O", "Z0", "-p", "theta=1", "-p", "phi=2"], "unknown parameter"),
        (["run", "{file}", "-O", "Z0", "-p", "theta=nan"], "NaN"),
        (["run", "{file}", "-O", "Z0", "-p", "theta=1", "--shots", "0"], "shots"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_exit_2(qasm_file, capsys, args, needle):
    """Bad input: exit status 2 and a single 'qdl: error:' line naming the problem."""
    args = [a.replace("{file}", str(qasm_file)) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("qdl: error:")
    assert needle in err


def test_console_script_runs(qasm_file):
    """The installed `qdl` entry point runs as a module, prints a drawing, exits 0."""
    result = subprocess.run([sys.executable, "-m", "qdl.cli", "draw", str(qasm_file)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "q0:" in result.stdout and "RY" in result.stdout


def test_shots_estimate_close(qasm_file, capsys):
    """With --shots the estimate lies within 5 standard errors of the exact value."""
    shots = 4000
    assert main(["run", str(qasm_file), "-O", "X0 X1", "-p", "theta=0.3", "--shots",
                 str(shots), "--seed", "7", "--json"]) == 0
    value = json.loads(capsys.readouterr().out)["expval"][0]
    exact = math.cos(0.7)
    assert abs(value - exact) < 5 * math.sqrt((1 - exact**2) / shots)


def test_draw_max_ops(tmp_path, capsys):
    """The reader's operation budget: refused in one line by default, --max-ops raises it."""
    path = tmp_path / "pow.qasm"
    path.write_text('OPENQASM 3;\ninclude "stdgates.inc";\nqubit q;\npow(150000) @ x q;\n')
    assert main(["draw", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "past the operation budget of 100000" in err
    assert main(["draw", str(path), "--max-ops", "150000"]) == 0
    assert capsys.readouterr().out.startswith("q0: ─X──X──X─")
