"""The one progress display of QDL: epochs of a run, jobs of a report or sweep, samples.

On a terminal it is a ``rich`` bar. Redirected to a file or a CI log (stderr is not a
terminal), a bar would be cut to the log's idea of a line width and repainted into a mess,
so it prints plain lines instead: the first step, then at most one line every ``interval``
seconds, and the last step. ``QDL_PROGRESS=plain`` or ``bar`` overrides the choice. Without
``rich`` (it comes with ``qdl[app]``) the plain lines are used on terminals too.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

Update = Callable[..., None]


class _Plain:
    """Periodic one-line reports, for logs."""

    def __init__(self, stream: TextIO, interval: float):
        self.stream, self.interval = stream, interval

    def add(self, label: str, total: int, unit: str, completed: int = 0) -> Update:
        state = {"done": completed, "last": -float("inf"), "start": time.perf_counter()}

        def update(completed: int | None = None, advance: int = 0, stats: str = "") -> None:
            state["done"] = completed if completed is not None else state["done"] + advance
            now = time.perf_counter()
            if state["done"] < total and now - state["last"] < self.interval:
                return
            state["last"] = now
            elapsed = now - state["start"]
            stats = f"  {stats}" if stats else ""
            print(f"{label}: {state['done']}/{total} {unit}{stats}  ({elapsed:.1f} s)",
                  file=self.stream, flush=True)

        return update


class _Rich:
    """A ``rich`` progress bar, for terminals."""

    def __init__(self, progress: Any):
        self.progress = progress

    def add(self, label: str, total: int, unit: str, completed: int = 0) -> Update:
        task = self.progress.add_task(label, total=total, completed=completed, stats="",
                                      unit=unit)

        def update(completed: int | None = None, advance: int = 0, stats: str = "") -> None:
            if completed is not None:
                self.progress.update(task, completed=completed, stats=stats)
            else:
                self.progress.update(task, advance=advance, stats=stats)

        return update


class _Quiet:
    def add(self, label: str, total: int, unit: str, completed: int = 0) -> Update:
        return lambda *args, **kwargs: None


def _use_bar(stream: TextIO) -> bool:
    mode = os.environ.get("QDL_PROGRESS", "").lower()
    if mode in ("plain", "bar"):
        return mode == "bar"
    return bool(getattr(stream, "isatty", lambda: False)())


@contextmanager
def progress(quiet: bool = False, stream: TextIO | None = None,
             interval: float = 5.0) -> Iterator[Any]:
    """A display with ``add(label, total, unit, completed=0) -> update``.

    ``update(completed=N, stats=...)`` or ``update(advance=1, stats=...)`` reports a step.

    Args:
        quiet: show nothing.
        stream: where to write (default: stderr, read when the display opens).
        interval: seconds between plain lines when ``stream`` is not a terminal.
    """
    stream = sys.stderr if stream is None else stream
    if quiet:
        yield _Quiet()
        return
    if not _use_bar(stream):
        yield _Plain(stream, interval)
        return
    try:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
    except ImportError:  # rich is optional (qdl[app]): plain lines do the same job
        yield _Plain(stream, interval)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[unit]}  {task.fields[stats]}"), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=Console(file=stream)) as bar:
        yield _Rich(bar)
