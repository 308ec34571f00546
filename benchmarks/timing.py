"""Tiny timing and memory harness for the benchmark (peers and QDL alike).

``measure`` times zero-argument callables: warm-up, then repeats interleaved round-robin
so slow drifts of the machine (thermal, other load) hit every contender alike; report the
median. ``peak_rss_of`` runs a function in a fresh spawned process and returns its peak
resident set size.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import resource
import statistics
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "2")

THREADS = 2


def _set_threads(threads: int = THREADS) -> None:
    """Pin torch's intra-op pool (if torch is importable) to ``threads``."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(threads)


def measure(
    callables: dict[str, Callable[[], Any]], repeats: int = 5, warmup: int = 1,
    pause_s: float = 0.01, threads: int | None = THREADS,
) -> dict[str, list[float]]:
    """Time each callable ``repeats`` times (round-robin) after ``warmup`` calls each.

    ``threads=None`` leaves torch's thread count as it is (what users get by default).
    Returns milliseconds per call, in run order, for every name; see :func:`medians`.
    """
    if threads is not None:
        _set_threads(threads)
    for fn in callables.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in callables}
    names = list(callables)
    for r in range(repeats):
        # Rotate the order each round so no contender always follows the same neighbour
        # (the one before it decides how warm caches and the allocator are).
        for name in names[r % len(names):] + names[: r % len(names)]:
            fn = callables[name]
            # Between calls: collect garbage and let OpenMP pools (torch, qulacs, lightning)
            # stop spin-waiting, so one contender's leftovers (PennyLane leaves many Python
            # objects) do not land in the next one's time. As timeit does, no GC while timing.
            gc.collect()
            time.sleep(pause_s)
            gc.disable()
            try:
                t0 = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - t0) * 1e3)
            finally:
                gc.enable()
    return times


def medians(times: dict[str, list[float]]) -> dict[str, float]:
    """Median milliseconds per name (the number the report uses)."""
    return {name: statistics.median(ts) for name, ts in times.items()}


def _peak_rss_mib() -> float:
    """This process's peak RSS in MiB: VmHWM from /proc, else getrusage(RUSAGE_SELF)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _child(conn: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """Spawned-process body: report baseline and peak RSS around ``fn(*args)``."""
    _set_threads()
    base = _peak_rss_mib()
    try:
        fn(*args)
    except BaseException as exc:
        conn.send(("error", repr(exc)))
    else:
        conn.send(("ok", (base, _peak_rss_mib())))
    finally:
        conn.close()


def peak_rss_of(fn: Callable[..., Any], *args: Any, baseline: bool = False) -> Any:
    """Peak RSS (MiB) of a fresh process that imports ``fn``'s module and runs ``fn(*args)``.

    ``fn`` must be picklable (a module-level function), because the process is started
    with the ``spawn`` method: a clean interpreter, not a fork that would inherit this
    process's memory high-water mark. The child reads its own ``VmHWM`` from
    ``/proc/self/status`` (falling back to ``getrusage(RUSAGE_SELF)``) and sends it back.
    We do not use ``getrusage(RUSAGE_CHILDREN)`` in the parent: that is the maximum over
    *all* children ever reaped by the parent, so successive calls could not be told apart.
    The peak includes the interpreter and imported libraries; with ``baseline=True`` the
    result is ``(baseline_mib, peak_mib)``, baseline being the peak just before ``fn`` ran.
    """
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, fn, args))
    proc.start()
    child.close()
    try:
        status, payload = parent.recv()
    except EOFError as exc:
        proc.join()
        raise RuntimeError(f"child died (exit code {proc.exitcode}), likely OOM") from exc
    proc.join()
    if status != "ok":
        raise RuntimeError(f"peak_rss_of: child raised {payload}")
    base, peak = payload
    return (base, peak) if baseline else peak


BURST = 20  # steps per timed sample: a training loop runs its steps back to back


def burst(step: Callable[[], None], k: int = BURST) -> Callable[[], None]:
    """``k`` calls of ``step`` in a row, as one timed sample (divide its time by ``k``).

    The harness pauses and collects garbage between samples so contenders do not disturb one
    another; for a step under a millisecond that pause puts torch's thread pool to sleep and
    the caches out, so a single step per sample times a cold start, not a loop.
    """

    def run() -> None:
        for _ in range(k):
            step()

    return run


def per_step(med: dict[str, float], k: int = BURST) -> dict[str, float]:
    """Milliseconds per step from medians of bursts."""
    return {name: ms / k for name, ms in med.items()}


def fresh(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` in a fresh (``spawn``-ed) interpreter; returns its result.

    One study's leftovers (other libraries' thread pools, allocator state, a lowered torch
    thread count) slowed the next study's every contender 2-4x when all ran in one process:
    a torch MLP step took 1.06 ms after workload W's grid and 0.31 ms in a process of its own.
    ``fn`` must be a module-level function and its result picklable.
    """
    import concurrent.futures

    with concurrent.futures.ProcessPoolExecutor(
            max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(fn, *args, **kwargs).result()
