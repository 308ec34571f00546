"""``qdl sweep``: a hyperparameter grid × seeds, locally or on Ray."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qdl.cli.train import job_progress, load_app


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``sweep`` to ``sub``."""
    sweep = sub.add_parser("sweep", help="train a config over a hyperparameter grid and seeds")
    sweep.add_argument("config", help="base run configuration (YAML, TOML or JSON)")
    sweep.add_argument("--grid", action="append", required=True, metavar="SECTION.KEY=V1,V2",
                       help="values to try, e.g. train.lr=0.01,0.05 (repeatable: product)")
    sweep.add_argument("--seeds", type=int, default=3)
    sweep.add_argument("-o", "--out", default="sweeps/sweep")
    sweep.add_argument("--ray", metavar="ADDRESS",
                       help="run the jobs on Ray ('local', 'auto' or a cluster address)")
    sweep.add_argument("-q", "--quiet", action="store_true")
    sweep.set_defaults(handler=_sweep)


def _sweep(args: argparse.Namespace) -> None:
    config, _ = load_app()
    from qdl.app import report, sweep

    base = config.read_config(args.config)
    jobs = sweep.sweep_jobs(base, sweep.parse_grid(args.grid), args.seeds)
    executor = report.ray_executor(args.ray) if args.ray else report.local_executor
    with job_progress(args.quiet, "sweep", len(jobs)) as advance:
        results = report.run_jobs(args.out, jobs, sweep.run_sweep_job, executor, lambda r: advance(
            f"{r['point']} seed {r['seed']}: {r['score']:.3f}"))
    table = sweep.sweep_table(results)
    out = Path(args.out)
    (out / "sweep.md").write_text(table)
    print(table)
    print(f"wrote {out / 'sweep.md'}", file=sys.stderr)
