"""Shared command line and result-file helpers for the reproduction scripts."""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(description: str, seed: int = 0,
               configure: Callable[[argparse.ArgumentParser], None] | None = None
               ) -> argparse.Namespace:
    """``--quick`` (a < 30 s smoke run), ``--seed`` and whatever ``configure`` adds."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small run, under 30 s")
    parser.add_argument("--seed", type=int, default=seed, help="seed of every random draw")
    if configure is not None:
        configure(parser)
    # Small batched kernels gain nothing from more threads on a busy 2-core machine.
    torch.set_num_threads(int(os.environ.get("QDL_EXPERIMENT_THREADS", "1")))
    return parser.parse_args()


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """A markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def write_result(name: str, quick: bool, lines: list[str], started: float,
                 variant: Sequence[str] = ()) -> Path:
    """Print ``lines`` and write them to ``results/{name}[_quick].md`` with run details.

    ``variant`` holds non-default options, e.g. ``("--form", "ours")``: they are quoted in the
    run line and their values suffix the file name, so a variant never overwrites the default.
    """
    flags = "".join(f" {f}" for f in (*variant, *(["--quick"] if quick else [])))
    suffix = "".join(f"_{v}" for v in variant if not v.startswith("-"))
    footer = ["", f"Run: `python experiments/{name}.py{flags}`, "
              f"{time.perf_counter() - started:.1f} s on {platform.machine()} "
              f"({torch.get_num_threads()} torch thread(s)), torch {torch.__version__}."]
    text = "\n".join(lines + footer) + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}{suffix}{'_quick' if quick else ''}.md"
    path.write_text(text)
    return path
