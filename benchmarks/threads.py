"""Thread settings on a busy machine: QDL's default against the best setting, per size.

Each row runs in a fresh process (OpenMP reads ``OMP_WAIT_POLICY`` once, when torch loads)
while ``--busy`` other processes spin on the cores, and times a forward+backward of a
hardware-efficient circuit (batch 64, 4 layers, ⟨Z_i⟩ on every wire) with 1 and 2 torch
threads, interleaved. ``waiting`` is ``passive`` (what ``import qdl`` sets when torch is not
loaded yet) or ``active`` (OpenMP's spin-waiting, what a process that loaded torch first
gets). The last column is the 2-thread default over the best of the two settings.

    python -m benchmarks.threads [--busy 2] [--sizes 4 8 12 16]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

STEP = r"""
c = qdl.Circuit(n)
for i in range(n):
    c.ry(i, f"x{i}")
for layer in range(4):
    for i in range(n):
        c.rx(i, f"a{layer}_{i}").ry(i, f"b{layer}_{i}").rz(i, f"c{layer}_{i}")
    for i in range(n):
        c.cx(i, (i + 1) % n)
params = {p: (torch.rand(64) if p.startswith("x") else torch.rand(())).requires_grad_()
          for p in c.parameters}
obs = [f"Z{i}" for i in range(n)]
def step():
    qdl.expval(c, obs, params).sum().backward()
"""
"""The timed step, shared with benchmarks/busy.py: a hardware-efficient circuit on ``n``
wires (batch 64, 4 layers, <Z_i> on every wire), forward + backward through ``qdl.expval``."""

_CHILD = r"""
import json, os, sys, time
policy = sys.argv[1]
if policy == "active":
    import torch  # loaded before qdl: OpenMP keeps its default (spinning) wait policy
import qdl
import torch
n = int(sys.argv[2])
""" + STEP + r"""reps = max(2, int(200 / 4 ** (n / 4)))
times = {1: [], 2: []}
for threads in (1, 2):
    torch.set_num_threads(threads)
    step()
for _ in range(5):
    for threads in (1, 2):
        torch.set_num_threads(threads)
        t = time.perf_counter()
        for _ in range(reps):
            step()
        times[threads].append((time.perf_counter() - t) / reps)
print(json.dumps({k: sorted(v)[2] for k, v in times.items()}))
"""


def _row(policy: str, n: int) -> dict[int, float]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", _CHILD, policy, str(n)], env=env,
                         capture_output=True, text=True, check=True)
    return {int(k): v for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}


def main(argv: list[str] | None = None) -> None:
    """Print, per circuit size and wait policy, 1- and 2-thread times and default/best."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=2, help="spinning processes (default 2)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 8, 12, 16])
    args = parser.parse_args(argv)
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(args.busy)]
    try:
        time.sleep(0.5)
        print(f"{args.busy} busy processes; ms per forward+backward (batch 64, 4 layers)")
        print(f"{'n':>3} {'waiting':>8} {'1 thread':>9} {'2 threads':>10} {'default/best':>13}")
        for n in args.sizes:
            for policy in ("passive", "active"):
                t = _row(policy, n)
                print(f"{n:>3} {policy:>8} {t[1] * 1e3:>9.2f} {t[2] * 1e3:>10.2f} "
                      f"{t[2] / min(t.values()):>13.2f}", flush=True)
    finally:
        for p in spinners:
            p.kill()


if __name__ == "__main__":
    main()
