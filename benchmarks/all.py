"""Every performance target in one command: run, summarise, write JSON + Markdown, README.

    benchmarks/.peers-venv/bin/python -m benchmarks.all [--quick] [--readme]
    python -m benchmarks.all --from-json benchmarks/results/all-DATE.json --readme

Runs, in sequence and each in a fresh process: workload W against every peer (eager and
JIT) with both machine bounds (``workload_w``), the hybrid training step and the batch-of-1
step (``training_step``), the busy-machine thread check (``busy``), start-up (``startup``) and
a 22-qubit batch-1 adjoint step. Prints one table (target, measured, pass), writes
``benchmarks/results/all-DATE.json`` and ``.md``; ``--readme`` rewrites README.md between
``<!-- perf:begin -->`` and ``<!-- perf:end -->`` from those numbers. Peers that are not
installed are skipped and their targets read "no data" (run it in
``benchmarks/.peers-venv``, see ``setup_peers.sh``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import busy  # noqa: E402
import startup  # noqa: E402
import training_step  # noqa: E402
import workload_w  # noqa: E402
from peers import NOTES, PEERS  # noqa: E402
from summary import markdown, summary_rows, write_readme  # noqa: E402
from timing import fresh, measure, medians  # noqa: E402

RESULTS = HERE / "results"


def big_batch1(n: int = 22, L: int = 4, repeats: int = 3) -> float:
    """Median ms of one batch-1 adjoint step of workload W at ``n`` qubits (report only)."""
    step = workload_w.make_qdl(n, L, 1)
    return medians(measure({"qdl": step}, repeats=repeats, warmup=1))["qdl"]


def _w_grid(grid: list[tuple[int, int]], repeats: int, jit_max_n: int, slow_s: float
            ) -> tuple[list[dict], float, dict[str, str]]:
    """Workload W's rows, the GEMM rate and the peers' notes (run in a fresh process)."""
    rows, rate = workload_w.run_grid(grid, L=4, repeats=repeats, peers=list(PEERS),
                                     peer_max_n=16, jit_max_n=jit_max_n, slow_s=slow_s)
    return rows, rate, dict(NOTES)


def run(quick: bool) -> dict[str, Any]:
    """Run every study; return the raw results."""
    t0 = time.perf_counter()
    grid = [(4, 64), (8, 64), (12, 64), (16, 64)] + ([] if quick else [(20, 4)])
    # Each study runs in a fresh process (see timing.fresh); the peers' notes come back with
    # W's rows.
    rows, rate, notes = fresh(_w_grid, grid, 5 if quick else 7, 8 if quick else 12,
                              2.0 if quick else 10.0)
    print("\n" + workload_w._table(rows, [p for p in PEERS if any(p in r["ms"] for r in rows)]))
    res: dict[str, Any] = {"w": rows, "cmac_per_s": rate}
    res["training"] = fresh(training_step.training_rows, [4, 8, 12], repeats=5 if quick else 9)
    res["batch1"] = fresh(training_step.batch1_rows, [4, 8], repeats=9 if quick else 15)
    res["busy"] = busy.run([4, 8, 12])
    res["startup"] = startup.run(repeats=5 if quick else 9)
    res["big_batch1_ms"] = fresh(big_batch1, 22, repeats=2 if quick else 3)
    print(f"22-qubit batch-1 adjoint step (W, L=4): {res['big_batch1_ms'] / 1e3:.2f} s")
    res["notes"] = {**notes, **NOTES}
    res["quick"] = quick
    res["date"] = datetime.date.today().isoformat()
    res["versions"] = workload_w._versions()
    res["wall_s"] = time.perf_counter() - t0
    return res


def main(argv: list[str] | None = None) -> int:
    """Run (or load) the results, print the summary, write files, optionally the README."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="fewer repeats, JIT peers only up to n=8, no n=20 row (~20-30 min)")
    ap.add_argument("--readme", action="store_true", help="rewrite README's performance section")
    ap.add_argument("--from-json", type=Path, help="summarise an earlier run instead of running")
    args = ap.parse_args(argv)
    if args.from_json:
        res = json.loads(args.from_json.read_text())
    else:
        res = run(args.quick)
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"all-{res['date']}.json"
        path.write_text(json.dumps(res, indent=2, default=str))
        print(f"wrote {path}")
    md = markdown(res)
    print("\n" + "\n".join(_plain(r) for r in summary_rows(res)))
    (RESULTS / f"all-{res['date']}.md").write_text(md)
    if args.readme:
        write_readme(HERE.parent / "README.md", md)
        print("README.md performance section rewritten")
    return 0


def _plain(row: tuple[str, str, str]) -> str:
    target, measured, ok = row
    return f"{ok:8s} {target:58s} {measured}"


if __name__ == "__main__":
    sys.exit(main())
