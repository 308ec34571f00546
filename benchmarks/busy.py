"""Busy machine: is QDL's default thread setting close to the best one when the cores are taken?

    python -m benchmarks.busy [--sizes 4 8 12] [--busy N]

Spawns ``--busy`` processes (default: one per core) that spin forever, then, per circuit size,
runs a fresh Python process that imports torch and qdl the way a user does and times a
forward + backward (batch 64, ``ry`` encoding, 4 layers of ``rx, ry, rz`` and a CNOT ring,
``<Z_i>`` on every wire; the circuit of ``benchmarks/threads.py``) with the thread count it
found at start (the *default*) and with every setting from 1 to the core count, interleaved.
The ratio is default / best; QDL adapts the default (``qdl.sim.core.adapt_threads``), the
fixed settings run with ``QDL_ADAPT_THREADS=0``. Two import orders are measured (``qdl
first``, ``torch first``): QDL once set ``OMP_WAIT_POLICY=PASSIVE`` when it was imported
first, and the two orders must now behave alike.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from threads import STEP

_CHILD = r"""
import json, os, statistics, sys, time
order, n, cores = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if order == "torch":
    import torch
import qdl
import torch
default = torch.get_num_threads()
""" + STEP + r"""settings = {"default": default, **{str(k): k for k in range(1, cores + 1)}}
reps = max(3, int(800 / 4 ** (n / 4)))  # about 0.3 s per sample: the spinners make it noisy


def use(k):
    # A fixed setting is that many threads: QDL's adaptation is switched off for it.
    os.environ.pop("QDL_ADAPT_THREADS", None)
    if k != "default":
        os.environ["QDL_ADAPT_THREADS"] = "0"
    torch.set_num_threads(settings[k])


times = {k: [] for k in settings}
for k in settings:
    use(k)
    step()
names = list(settings)
for r in range(9):
    for k in names[r % len(names):] + names[:r % len(names)]:
        use(k)
        t = time.perf_counter()
        for _ in range(reps):
            step()
        times[k].append((time.perf_counter() - t) / reps * 1e3)
print(json.dumps({"default_threads": default,
                  "ms": {k: statistics.median(v) for k, v in times.items()}}))
"""

ORDERS = {"qdl first": "qdl", "torch first": "torch"}


def _child(order: str, n: int, cores: int) -> dict[str, Any]:
    """Run one size in a fresh process; the user's environment minus OMP_WAIT_POLICY."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY",
                                                            "OMP_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", _CHILD, order, str(n), str(cores)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(sizes: list[int], busy: int | None = None) -> list[dict[str, Any]]:
    """Rows of {n, order, default_threads, ms per setting, ratio default/best}."""
    cores = os.cpu_count() or 2
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(cores if busy is None else busy)]
    rows = []
    try:
        time.sleep(0.5)
        for n in sizes:
            for label, order in ORDERS.items():
                res = _child(order, n, cores)
                ms = res["ms"]
                best = min(v for k, v in ms.items() if k != "default")
                rows.append({"n": n, "order": label, "default_threads": res["default_threads"],
                             "ms": ms, "ratio": ms["default"] / best})
                print(f"busy n={n:2d} {label:11s}: default ({res['default_threads']} threads) "
                      f"{ms['default']:.2f} ms, " + ", ".join(
                          f"{k} thr {v:.2f} ms" for k, v in ms.items() if k != "default")
                      + f"; default/best {rows[-1]['ratio']:.2f}", flush=True)
    finally:
        for p in spinners:
            p.kill()
            p.wait()
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Print default/best per size and import order."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[4, 8, 12])
    ap.add_argument("--busy", type=int, default=None, help="spinning processes (default: cores)")
    args = ap.parse_args(argv)
    return run(args.sizes, args.busy)


if __name__ == "__main__":
    main()
