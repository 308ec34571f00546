"""Workload W on one device: QDL's training step (forward + backward) for growing n.

    python -m benchmarks.gpu                 # CUDA when available, else CPU
    python -m benchmarks.gpu --device cpu --n 4 8 --batch 64

Times with ``torch.cuda.synchronize()`` around every step on CUDA (kernels are
asynchronous), reports the median of ``--repeats`` steps after one warm-up, peak device
memory on CUDA, and the adjoint / backprop / noisy (density-matrix) paths, so a session that
is lent a GPU gets every number for the README from one command.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

import qdl
from benchmarks.workload_w import w_circuit
from qdl.noise import NoiseModel, depolarizing

HERE = Path(__file__).parent


def _step(n: int, L: int, B: int, device: torch.device, method: str, noisy: bool) -> None:
    circuit = w_circuit(n, L)
    names = circuit.parameters
    gen = torch.Generator().manual_seed(0)
    params = {k: (torch.rand(B, generator=gen) * 3).to(device).requires_grad_()
              for k in names}
    noise = NoiseModel().add("all", depolarizing(0.01)) if noisy else None
    out = qdl.expval(circuit, [f"Z{i}" for i in range(n)], params, diff_method=method,
                     noise=noise)
    out.sum().backward()


def _time(fn, device: torch.device, repeats: int) -> float:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    fn()   # warm-up: plan compilation, caches, CUDA context
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    """Run the grid and print a markdown table; write JSON under benchmarks/results/."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--n", type=int, nargs="+", default=[4, 8, 12, 16, 20, 24])
    ap.add_argument("--noisy-n", type=int, nargs="+", default=[4, 6, 8, 10])
    ap.add_argument("--L", type=int, default=4)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    rows = []
    grid = [(n, m, False) for n in args.n for m in ("adjoint", "backprop")]
    grid += [(n, "backprop", True) for n in args.noisy_n]
    for n, method, noisy in grid:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        seconds = _time(lambda n=n, m=method, z=noisy: _step(n, args.L, args.batch, device,
                                                               m, z), device, args.repeats)
        peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
        rows.append({"n": n, "method": method, "noise": noisy, "ms": 1e3 * seconds,
                     "peak_mib": peak})
        print(f"| {n} | {method}{' + noise' if noisy else ''} | {1e3 * seconds:.2f} ms | "
              f"{'-' if peak is None else f'{peak:.0f} MiB'} |", flush=True)
    out = HERE / "results" / f"gpu_{device.type}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"device": name, "torch": torch.__version__, "L": args.L,
                               "batch": args.batch, "rows": rows}, indent=2))
    print(f"device: {name}; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
