"""Quick peer timing: ``python benchmarks/time_peers.py --n 4 8 --B 64 --L 4 [--rss]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import NOTES, PEERS, make_all, run_peer
from timing import measure, medians, peak_rss_of


def main() -> None:
    """Print median ms per step for every available peer and each n."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--B", type=int, default=64)
    ap.add_argument("--L", type=int, default=4)
    ap.add_argument("--dtype", default="complex64")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--peers", nargs="+", default=list(PEERS))
    ap.add_argument("--rss", action="store_true", help="also peak RSS (fresh process each)")
    args = ap.parse_args()
    names = list(PEERS)
    print(f"{'n':>3s} {'B':>4s} {'L':>3s} " + " ".join(f"{p:>20s}" for p in names))
    for n in args.n:
        steps = {
            k: v for k, v in make_all(n, args.L, args.B, args.dtype).items() if k in args.peers
        }
        med = medians(measure(steps, repeats=args.repeats, warmup=1))
        cells = [f"{med[p]:17.2f} ms" if p in med else f"{'-':>20s}" for p in names]
        print(f"{n:3d} {args.B:4d} {args.L:3d} " + " ".join(cells), flush=True)
        if args.rss:
            rss = {p: peak_rss_of(run_peer, p, n, args.L, args.B, args.dtype) for p in steps}
            cells = [f"{rss[p]:16.0f} MiB" if p in rss else f"{'-':>20s}" for p in names]
            print(f"{'':12s}" + " ".join(cells), flush=True)
    for p, note in NOTES.items():
        print(f"  {p}: {note}")


if __name__ == "__main__":
    main()
