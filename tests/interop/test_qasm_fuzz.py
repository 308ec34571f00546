"""Hostile and mutated OpenQASM: every program ends in a circuit or a QDLError, soon and small.

Programs run in a worker process whose address space may grow by at most ``MEMORY_LIMIT`` and
which is killed when it runs past ``HANG_AFTER``, so a regression fails a test instead of
exhausting the machine. Time is the worker's CPU time, which other load on the machine does
not inflate.
"""

from __future__ import annotations

import json
import re
import select
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import qdl

DATA = Path(__file__).resolve().parents[1] / "data" / "qasm"
SUITE = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "qasmbench"
# Seeds: the example programs and, where the conformance suite is present, its small files.
SEEDS = [p.read_text() for p in sorted(DATA.glob("*.qasm"))] + [
    p.read_text() for p in sorted(SUITE.glob("*.qasm")) if p.stat().st_size < 20_000
]
TIME_LIMIT = 2.0  # CPU seconds one program may take, reading and drawing
MEMORY_LIMIT = 1 << 30  # bytes the worker's address space may grow by
HANG_AFTER = 30.0  # wall seconds after which the worker is killed

WORKER = r"""
import json, resource, sys, time, traceback
import qdl
from qdl.circuit import draw

with open("/proc/self/statm") as f:
    size = int(f.read().split()[0]) * resource.getpagesize()
hard = resource.getrlimit(resource.RLIMIT_AS)[1]
limit = size + int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit if hard < 0 else min(limit, hard), hard))
# The reference parser builds its prediction tables on first use; not the program's cost.
qdl.Circuit.from_qasm(sys.argv[2])
print("ready", flush=True)
for line in sys.stdin:
    start = time.process_time()
    try:
        draw(qdl.Circuit.from_qasm(json.loads(line)))
        outcome = "circuit"
    except qdl.QDLError:
        outcome = "error"
    except BaseException:
        outcome = traceback.format_exc(limit=-4)
    print(json.dumps([outcome, time.process_time() - start]), flush=True)
"""


WARM_UP = """OPENQASM 3.0;
include "stdgates.inc";
input float[64] t;
const float k = -sin(2 ** -(tau * pi / 2 + 1));
gate g(a) x, y { ctrl @ rx(arctan(-(a + 1) * 2 ** 2 / pi)) x, y; U(a, -a, (a)) y; }
qubit[3] q; bit[3] c;
inv @ pow(2) @ g(t - tau) q[0], q[1]; negctrl @ g(sqrt(-k)) q[2], q[0], q[1];
h q[0:2]; x q[{0, 2}]; measure q -> c;
"""


class Worker:
    """A process that reads programs under the memory cap; restarted after a hang or crash."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None

    def start(self) -> subprocess.Popen:
        src = str(Path(qdl.__file__).resolve().parents[1])
        proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(MEMORY_LIMIT), WARM_UP], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"},
        )
        if self._line(proc, 120.0) != "ready\n":
            raise RuntimeError("the fuzz worker did not start")
        return proc

    @staticmethod
    def _line(proc: subprocess.Popen, timeout: float) -> str | None:
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        return proc.stdout.readline() if ready else None  # type: ignore[union-attr]

    def run(self, text: str) -> tuple[str, float]:
        """``("circuit" | "error" | traceback | "hang" | "died", CPU seconds)``."""
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self.start()
        self.proc.stdin.write(json.dumps(text) + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        line = self._line(self.proc, HANG_AFTER)
        if not line:
            self.close()
            return ("hang" if line is None else "died"), HANG_AFTER
        outcome, seconds = json.loads(line)
        return outcome, seconds

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.close()


def _doubling(depth: int) -> str:
    return 'OPENQASM 3.0;\ninclude "stdgates.inc";\ngate g0 a { x a; }\n' + "".join(
        f"gate g{i} a {{ g{i - 1} a; g{i - 1} a; }}\n" for i in range(1, depth + 1)
    ) + f"qubit[1] q;\ng{depth} q[0];\n"


HEAD = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\n'
HOSTILE = {
    "qubit[1e9]": "OPENQASM 3.0; qubit[1000000000] q; h q[0];",
    "qreg[1e9]": 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1000000000];\nh q[0];',
    "qubit[400 digits]": "OPENQASM 3.0; qubit[" + "9" * 400 + "] q; h q[0];",
    "qreg[5000 digits]": "OPENQASM 2.0;\nqreg q[" + "9" * 5000 + "];",
    "slice": HEAD + "h q[0:1000000000];",
    "backward slice": HEAD + "h q[1000000000:-1:0];",
    "pow(1e9)": HEAD + "pow(1000000000) @ x q[0];",
    "pow(1e30)": HEAD + "pow(1000000000000000000000000000000) @ x q[0];",
    "nested pow": HEAD + "pow(1000) @ pow(1000) @ inv @ x q[0];",
    "$1e9": 'OPENQASM 3.0; include "stdgates.inc"; h $1000000000;',
    "40 doubling gates": _doubling(40),
    "5000 brackets": HEAD + "rx(" + "(" * 5000 + "1" + ")" * 5000 + ") q[0];",
    "5000 brackets, slow lane": HEAD + "ctrl @ rx(" + "(" * 5000 + "1" + ")" * 5000
    + ") q[0], q[1];",
    "20000 minus": HEAD + "rx(" + "-" * 20000 + "1) q[0];",
    "20000-term sum": HEAD + "rx(" + "+".join(["1"] * 20000) + ") q[0];",
    "20000-term symbolic sum": "OPENQASM 3.0; input float[64] t; qubit q; U("
    + "+".join(["t"] * 20000) + ", 0, 0) q;",
    "rx(1e309)": HEAD + "rx(1e309) q[0];",
    "1e308 * 10": HEAD + "rx(1e308 * 10) q[0];",
}


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_programs_end_in_qdlerror_soon(worker, text):
    """Each hostile program is refused with a QDLError in under 2 s and 1 GiB."""
    outcome, seconds = worker.run(text)
    assert outcome == "error"
    assert seconds < TIME_LIMIT


# ---- mutations ---------------------------------------------------------------------------

NUMBERS = ["1000000000", "9" * 400, "9" * 5000, "1e309", "-1e308", "18446744073709551616",
           "0", "-1", "64", "65", "100001", "0.5", "1e-320", "4096"]
SNIPPETS = ["pow(1000000000) @ ", "pow(5000) @ ", "ctrl @ ", "negctrl(3) @ ", "inv @ ",
            "$1000000000", "$64", "[0:1000000000]", "[1000000000:-1:0]", "{", "}", ";", "(",
            ")", '"', "/*", "*/", "//", "\n", "-" * 500, "(" * 500, "+1" * 2000, "**", "^",
            "qubit[1000000000] z;", "qubit[64] z;", "gate ", "@", "1e309", ",", "q", "$0",
            "measure ", "if (c) ", "for int i in [0:1000000000] ", "U(1, 2, 3) ", "gphase(1) ",
            "π", "\x00", "é", "OPENQASM 3;", 'include "qelib1.inc";', "input float[64] t;"]
_NUMBER = re.compile(r"\d+(?:\.\d*)?(?:[eE][-+]?\d+)?")


def _delete(text: str, pick: Callable[[int], int]) -> str:
    i = pick(len(text) + 1)
    return text[:i] + text[i + 1 + pick(40):]


def _duplicate(text: str, pick: Callable[[int], int]) -> str:
    lines = text.split("\n")
    i = pick(len(lines))
    span = lines[i : i + 1 + pick(5)]
    return "\n".join(lines[:i] + span * (2 + pick(3)) + lines[i:])


def _number(text: str, pick: Callable[[int], int]) -> str:
    found = list(_NUMBER.finditer(text))
    if not found:
        return text
    match = found[pick(len(found))]
    return text[: match.start()] + NUMBERS[pick(len(NUMBERS))] + text[match.end() :]


def _insert(text: str, pick: Callable[[int], int]) -> str:
    i = pick(len(text) + 1)
    return text[:i] + SNIPPETS[pick(len(SNIPPETS))] + text[i:]


def _nest(text: str, pick: Callable[[int], int]) -> str:
    found = list(_NUMBER.finditer(text))
    if not found:
        return text
    match = found[pick(len(found))]
    k = (50, 99, 101, 5000)[pick(4)]
    inner = ("(" * k + match[0] + ")" * k) if pick(2) else "-" * k + match[0]
    return text[: match.start()] + inner + text[match.end() :]


def _double(text: str, pick: Callable[[int], int]) -> str:
    depth = (3, 12, 17, 40)[pick(4)]
    chain = "".join(f"gate zz{i} a {{ zz{i - 1} a; zz{i - 1} a; }}\n" for i in range(1, depth))
    return text + f"\ngate zz0 a {{ x a; }}\n{chain}qubit zq;\nzz{depth - 1} zq;\n"


MUTATIONS = [_delete, _duplicate, _number, _insert, _nest, _double]


def mutate(pick: Callable[[int], int]) -> str:
    """A seed program with one to four mutations; ``pick(n)`` chooses in ``range(n)``."""
    text = SEEDS[pick(len(SEEDS))]
    for _ in range(1 + pick(4)):
        text = MUTATIONS[pick(len(MUTATIONS))](text, pick)
    return text


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_mutated_programs_end_in_a_circuit_or_qdlerror(worker, data):
    """Mutated programs read to a circuit or a QDLError, in under 2 s and 1 GiB each."""
    text = mutate(lambda n: data.draw(st.integers(0, n - 1)))
    outcome, seconds = worker.run(text)
    note(f"program: {text[:2000]!r}\noutcome: {outcome}")
    assert outcome in ("circuit", "error")
    assert seconds < TIME_LIMIT
