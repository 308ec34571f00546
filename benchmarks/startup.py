"""Start-up: ``qdl --help`` and ``qdl datasets`` against ``python -c "import torch"``.

    python -m benchmarks.startup [--repeats 7]

Wall time of each command, median of ``--repeats`` rounds run interleaved (the order rotates
every round), reported as a ratio to importing torch, the floor for any torch program. Then
the time to the first output of ``qdl train`` on a tiny config, read through a
pseudo-terminal: through a pipe Python would block-buffer stdout and the first line would
arrive only at exit, which is not what a user at a terminal sees.
"""

from __future__ import annotations

import argparse
import os
import pty
import re
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def qdl_command() -> list[str]:
    """The ``qdl`` console script of this interpreter's environment (as users run it)."""
    script = Path(sys.executable).parent / "qdl"
    if script.exists():
        return [str(script)]
    found = shutil.which("qdl")
    return [found] if found else [sys.executable, "-m", "qdl.cli"]


def commands() -> dict[str, list[str]]:
    """The contenders: name -> argv."""
    qdl = qdl_command()
    return {"import torch": [sys.executable, "-c", "import torch"],
            "qdl --help": [*qdl, "--help"], "qdl datasets": [*qdl, "datasets"]}


def time_commands(cmds: dict[str, list[str]], repeats: int) -> dict[str, float]:
    """Median wall seconds per command over interleaved, order-rotated rounds."""
    times: dict[str, list[float]] = {k: [] for k in cmds}
    names = list(cmds)
    for name in names:  # warm the page cache once each
        subprocess.run(cmds[name], capture_output=True, check=True)
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            t0 = time.perf_counter()
            subprocess.run(cmds[name], capture_output=True, check=True)
            times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


_ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|[\r\n\t ]")


def first_line_s(argv: list[str], timeout: float = 120.0) -> tuple[float | None, str, float]:
    """Seconds until ``argv`` shows something on a terminal (the first visible character,
    terminal control sequences aside: a progress bar counts, a cursor-hiding code does not),
    the text shown by then, and the total run time. The process is left to finish."""
    master, slave = pty.openpty()
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=slave, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    buf, first, line = b"", None, ""
    try:
        while time.perf_counter() - t0 < timeout:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                buf += chunk
                if first is None and _ANSI.sub(b"", buf):
                    first = time.perf_counter() - t0
                    line = _ANSI.sub(b" ", buf).decode(errors="replace").strip()
            elif proc.poll() is not None:
                break
        proc.wait(timeout=max(1.0, timeout - (time.perf_counter() - t0)))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return first, line, time.perf_counter() - t0


def train_first_line() -> dict[str, Any]:
    """``qdl train`` on a tiny config (iris, 2-qubit VQC, 1 epoch) in a temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        argv = [*qdl_command(), "train", "--dataset", "iris", "--model", "vqc", "--qubits",
                "2", "--layers", "1", "--epochs", "1", "-o", str(Path(tmp) / "run")]
        first, line, total = first_line_s(argv)
    return {"first_line_s": first, "line": line, "total_s": total}


def run(repeats: int = 7) -> dict[str, Any]:
    """Both measurements; prints them and returns a dict."""
    med = time_commands(commands(), repeats)
    base = med["import torch"]
    for name, t in med.items():
        print(f"startup {name:13s} {t * 1e3:7.0f} ms  ({t / base:.2f}x import torch)", flush=True)
    train = train_first_line()
    first = train["first_line_s"]
    print(f"qdl train (tiny): first output after "
          f"{'never' if first is None else f'{first:.2f} s'} ({train['line'][:60]!r}), "
          f"done after {train['total_s']:.1f} s", flush=True)
    return {"wall_s": med, "ratio": {k: v / base for k, v in med.items()}, "train": train}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command-line entry."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    return run(ap.parse_args(argv).repeats)


if __name__ == "__main__":
    main()
