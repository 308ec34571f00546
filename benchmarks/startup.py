"""Start-up: ``qdl --help`` and ``qdl datasets`` against ``python -c "import torch"``, and the
time to the first output of ``qdl train``.

    python -m benchmarks.startup [--repeats 7]

Wall time of each command, median of ``--repeats`` rounds run interleaved (the order rotates
every round), reported as a ratio to importing torch, the floor for any torch program. Then
the time to the first output of ``qdl train`` on a tiny config, median of ``--repeats // 2 +
1`` runs (at least 5): read through a pipe holding both stdout and stderr (what CI logs,
notebooks and ``qdl train 2>&1 | tee log`` see; Python block-buffers a piped stdout, so only
what the command flushes counts), and through a pseudo-terminal (what a user at a terminal
sees), interleaved.
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


def first_output_s(argv: list[str], via: str = "pipe", timeout: float = 120.0,
                   env: dict[str, str] | None = None) -> dict[str, Any]:
    """When ``argv`` first shows something: ``first_s`` (seconds to the first visible
    character, terminal control sequences aside: a progress bar counts, a cursor-hiding code
    does not; ``None``: never), ``line`` (the first line shown), ``total_s`` and
    ``returncode``. ``via``: ``pipe`` (stdout and stderr into one pipe) or ``pty`` (a
    pseudo-terminal). The process is left to finish."""
    if via == "pty":
        read_fd, write_fd = pty.openpty()
    else:
        read_fd, write_fd = os.pipe()
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=write_fd, stderr=write_fd, stdin=subprocess.DEVNULL,
                            env=env)
    os.close(write_fd)
    buf, first = b"", None
    try:
        while time.perf_counter() - t0 < timeout:
            ready, _, _ = select.select([read_fd], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(read_fd, 4096)
            except OSError:  # a pty whose child closed it
                break
            if not chunk:  # end of output: every writer has exited
                break
            buf += chunk
            if first is None and _ANSI.sub(b"", buf):
                first = time.perf_counter() - t0
        proc.wait(timeout=max(1.0, timeout - (time.perf_counter() - t0)))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(read_fd)
    text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", buf).decode(errors="replace").strip()
    return {"first_s": first, "line": text.splitlines()[0] if text else "",
            "total_s": time.perf_counter() - t0, "returncode": proc.returncode}


def train_argv(out: Path, qdl: list[str] | None = None) -> list[str]:
    """``qdl train`` on a tiny config: iris, a 4-qubit VQC with one layer, one epoch."""
    return [*(qdl or qdl_command()), "train", "--dataset", "iris", "--model", "vqc",
            "--qubits", "4", "--layers", "1", "--epochs", "1", "-o", str(out)]


def train_first_output(repeats: int = 5) -> dict[str, Any]:
    """``qdl train`` (tiny config) in a temporary folder, through a pipe and a terminal
    (interleaved): medians of the time to the first output and of the total time."""
    runs: dict[str, list[dict[str, Any]]] = {"pipe": [], "pty": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats):
            for via in ("pipe", "pty") if r % 2 == 0 else ("pty", "pipe"):
                runs[via].append(first_output_s(train_argv(Path(tmp) / f"{via}{r}"), via))
    out: dict[str, Any] = {}
    for via, results in runs.items():
        firsts = [r["first_s"] for r in results]
        out[via] = {
            "first_line_s": None if None in firsts else statistics.median(firsts),
            "line": results[-1]["line"], "total_s": statistics.median(r["total_s"]
                                                                      for r in results),
            "returncode": max(r["returncode"] for r in results), "runs": results}
    # The keys of the through-a-pipe measurement at the top (benchmarks.summary reads them).
    return {**out["pipe"], "pty": out["pty"]}


def run(repeats: int = 7) -> dict[str, Any]:
    """Both measurements; prints them and returns a dict."""
    med = time_commands(commands(), repeats)
    base = med["import torch"]
    for name, t in med.items():
        print(f"startup {name:13s} {t * 1e3:7.0f} ms  ({t / base:.2f}x import torch)", flush=True)
    train = train_first_output(max(5, repeats // 2 + 1))
    for via, res in (("a pipe", train), ("a terminal", train["pty"])):
        first = res["first_line_s"]
        print(f"qdl train (tiny) through {via}: first output after "
              f"{'never' if first is None else f'{first:.2f} s'} ({res['line'][:70]!r}), "
              f"done after {res['total_s']:.1f} s (exit status {res['returncode']})",
              flush=True)
    return {"wall_s": med, "ratio": {k: v / base for k, v in med.items()}, "train": train}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command-line entry."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    return run(ap.parse_args(argv).repeats)


if __name__ == "__main__":
    main()
