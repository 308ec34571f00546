"""Tiny timing and memory harness for the benchmark (peers and QDL alike).

``measure`` times zero-argument callables: warm-up, then repeats interleaved round-robin
so slow drifts of the machine (thermal, other load) hit every contender alike; report the
median. A :class:`Remote` contender lives in a process of its own (peers' libraries and
threads then never share a process with QDL) and is timed there. ``peak_rss_of`` runs a
function in a fresh spawned process and returns its peak resident set size.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing as mp
import os
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
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
                times[name].append(seconds(fn) * 1e3)
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


def burst(step: Callable[[], Any], k: int = BURST) -> Callable[[], Any]:
    """``k`` calls of ``step`` in a row, as one timed sample (divide its time by ``k``).

    The harness pauses and collects garbage between samples so contenders do not disturb one
    another; for a step under a millisecond that pause puts torch's thread pool to sleep and
    the caches out, so a single step per sample times a cold start, not a loop.
    """
    if isinstance(step, Remote):
        return lambda: step.run(k)

    def run() -> None:
        for _ in range(k):
            step()

    return run


@dataclass(frozen=True)
class Elapsed:
    """A sample timed where it ran (a :class:`Remote` contender's own clock)."""

    seconds: float


def _serve(conn: Any, threads: int | None, factory: Callable[..., Any], args: tuple,
           kwargs: dict) -> None:
    """Worker body of :class:`Remote`: build the step, then run ``k`` steps per request and
    send back their time."""
    if threads is not None:
        _set_threads(threads)
    try:
        step = factory(*args, **kwargs)
    except BaseException as exc:  # the parent reports it like a peer that failed to build
        conn.send(("error", repr(exc)))
        return
    if step is None:
        conn.send(("error", f"{factory.__name__} built no step"))
        return
    # Numbers and words only: an array would make this process import its library.
    extra = {k: v for k, v in getattr(step, "extra", {}).items()
             if isinstance(v, int | float | str)}
    conn.send(("ready", extra))
    while True:
        k = conn.recv()
        if k is None:
            return
        gc.collect()
        gc.disable()
        t0 = time.perf_counter()
        for _ in range(k):
            step()
        took = time.perf_counter() - t0
        gc.enable()
        conn.send(took)


class Remote:
    """A contender built and run in a process of its own, driven step by step from here.

    Interleaving contenders in one process let one library's threads slow another's: with
    JAX loaded next to torch, QDL's workload-W step at n=8 took 3.3 ms instead of 2.6 ms (and
    4.4 ms with every peer), which no user who runs one of them sees. Each peer here has its
    own interpreter; the harness still alternates their samples, and each sample is timed by
    the worker's own clock (the pipe's round trip is not in it).

    ``factory(*args, **kwargs)`` must be a module-level function returning a zero-argument
    step; ``extra`` holds the numbers and words of the step's ``extra`` dict. The worker pins
    torch to ``threads`` (``None``: torch's default, what users get). A factory that raises (or
    returns ``None``) makes the constructor raise ``RuntimeError`` with the reason.
    """

    def __init__(self, factory: Callable[..., Any], *args: Any, threads: int | None = THREADS,
                 **kwargs: Any):
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, threads, factory, args, kwargs),
                                daemon=True)
        self.proc.start()
        child.close()
        try:
            status, payload = self.conn.recv()
        except EOFError:  # the worker died while building (a crash in the peer's library)
            status, payload = "error", f"worker exited with code {self.proc.exitcode}"
        if status == "error":
            self.close()
            raise RuntimeError(payload)
        self.extra: dict[str, Any] = payload

    def run(self, k: int = 1) -> Elapsed:
        """``k`` steps in the worker; their time."""
        self.conn.send(k)
        return Elapsed(self.conn.recv())

    def __call__(self) -> Elapsed:
        return self.run(1)

    def close(self) -> None:
        """Stop the worker."""
        if self.proc.is_alive():
            with contextlib.suppress(OSError, BrokenPipeError):
                self.conn.send(None)
            self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()


def close_all(contenders: dict[str, Any]) -> None:
    """Stop the workers of the :class:`Remote` contenders."""
    for c in contenders.values():
        if isinstance(c, Remote):
            c.close()


def seconds(fn: Callable[[], Any]) -> float:
    """One call of ``fn``, timed (by the worker's clock for a :class:`Remote`)."""
    t0 = time.perf_counter()
    done = fn()
    return done.seconds if isinstance(done, Elapsed) else time.perf_counter() - t0


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
