"""Workload W (shared/specs/benchmark.md): QDL against its peers, in one run.

    python -m benchmarks.workload_w                 # the full grid, peers found in this env
    python -m benchmarks.workload_w --n 4 8 --quick # a short look

Times one training step (forward, then backward of ``outputs.sum()`` for ``w`` and ``x``),
median of interleaved repeats after warm-up, 2 threads; prints the table, a floating-point
lower bound, peak RSS for the adjoint at n=16 with L=4 and L=32, and writes
``benchmarks/results/workload_w-<date>.json`` and a PNG plot. Peers missing from the
environment are skipped with a note (``benchmarks/setup_peers.sh`` builds one with all).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402
from peers import NOTES, PEERS, PeerStep, _torch_peer, default_inputs  # noqa: E402
from timing import measure, medians, peak_rss_of  # noqa: E402

import qdl  # noqa: E402

GRID = [(4, 64), (8, 64), (12, 64), (16, 64), (20, 4)]


def w_circuit(n: int, L: int) -> qdl.Circuit:
    """Workload W with named inputs ``x{i}`` and weights ``w{l}_{i}_{k}``."""
    c = qdl.Circuit(n)
    for i in range(n):
        c.ry(i, f"x{i}")
    for layer in range(L):
        for i in range(n):
            c.ry(i, f"w{layer}_{i}_0").rz(i, f"w{layer}_{i}_1")
        for i in range(n):
            c.cx(i, (i + 1) % n)
    return c


def make_qdl(n: int, L: int, B: int, dtype: str = "complex64", method: str = "adjoint",
             x: Any = None, w: Any = None) -> PeerStep:
    """QDL through ``qdl.expval`` on an already-built circuit with named parameters."""
    if x is None or w is None:
        x, w = default_inputs(n, L, B)
    circuit = w_circuit(n, L)
    cdtype = getattr(torch, dtype)
    observables = [f"Z{i}" for i in range(n)]

    def forward(xt: torch.Tensor, wt: torch.Tensor) -> torch.Tensor:
        params = {f"x{i}": xt[:, i] for i in range(n)}
        params.update({f"w{layer}_{i}_{k}": wt[layer, i, k] for layer in range(L)
                       for i in range(n) for k in range(2)})
        return qdl.expval(circuit, observables, params, diff_method=method, dtype=cdtype)

    real = torch.float32 if dtype == "complex64" else torch.float64
    return _torch_peer(f"qdl_{method}", forward, x, w, real, "qdl.expval")


def make_qdl_layer(n: int, L: int, B: int, dtype: str = "complex64", x: Any = None,
                   w: Any = None) -> PeerStep | None:
    """QDL through ``qdl.nn.QuantumLayer`` (inputs x, trainable weights w)."""
    try:
        from qdl.nn import QuantumLayer
    except ImportError as exc:
        NOTES["qdl_layer"] = f"qdl.nn not available: {exc}"
        return None
    if x is None or w is None:
        x, w = default_inputs(n, L, B)
    circuit = w_circuit(n, L)
    layer = QuantumLayer(circuit, [f"Z{i}" for i in range(n)], inputs=[f"x{i}" for i in range(n)],
                         dtype=getattr(torch, dtype))
    names = layer.weight_names
    order = [names.index(f"w{a}_{i}_{k}") for a in range(L) for i in range(n) for k in range(2)]
    with torch.no_grad():
        layer.weights[order] = torch.as_tensor(w, dtype=layer.weights.dtype).reshape(-1)
    real = layer.weights.dtype
    xt = torch.tensor(x, dtype=real, requires_grad=True)

    def step() -> None:
        xt.grad = None
        layer.zero_grad()
        layer(xt).sum().backward()

    return PeerStep("qdl_layer", step, lambda: None, "qdl.nn.QuantumLayer")


def cmac_rate() -> float:
    """This machine's complex64 multiply-add rate (per second) from a 1024² GEMM."""
    torch.set_num_threads(2)
    a = torch.randn(1024, 1024, dtype=torch.complex64)
    a @ a
    best = math.inf
    for _ in range(5):
        t0 = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - t0)
    return 1024**3 / best


def lower_bound_ms(n: int, B: int, L: int, rate: float) -> float:
    """Flop bound of the fused step: L·n fused 2×2 gates, 2 complex MACs per amplitude each;
    the adjoint backward un-computes the state and the bra and contracts once (3× forward)."""
    cmacs = 4 * L * n * 2 * B * 2**n
    return 1e3 * cmacs / rate


def qdl_rss(n: int, L: int, method: str) -> None:
    """One QDL step in this (child) process, for peak RSS."""
    make_qdl(n, L, 64, method=method)()


def _table(rows: list[dict], peers: list[str]) -> str:
    head = ["n", "B", "L", "qdl expval", "qdl layer", *peers, "best peer / qdl", "bound",
            "qdl / bound"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [str(r["n"]), str(r["B"]), str(r["L"])]
        cells += [_ms(r["ms"].get(k)) for k in ["qdl_adjoint", "qdl_layer", *peers]]
        best = min((r["ms"][p] for p in peers if p in r["ms"]), default=None)
        cells.append(f"{best / r['ms']['qdl_adjoint']:.1f}x" if best else "-")
        cells += [_ms(r["bound_ms"]), f"{r['ms']['qdl_adjoint'] / r['bound_ms']:.1f}x"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value:.3f} ms"
    return f"{value:.1f} ms" if value < 1000 else f"{value / 1000:.2f} s"


def main(argv: list[str] | None = None) -> int:
    """Run the grid, print the table, write JSON and a plot."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, nargs="+", help="qubit counts (default: the spec grid)")
    ap.add_argument("--L", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--peers", nargs="*", default=list(PEERS))
    ap.add_argument("--peer-max-n", type=int, default=16,
                    help="skip peers above this n (some take minutes per step)")
    ap.add_argument("--no-rss", action="store_true")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)
    grid = [(n, b) for n, b in GRID if args.n is None or n in args.n]
    rate = cmac_rate()
    print(f"complex64 GEMM: {rate / 1e9:.1f} G complex MAC/s on {torch.get_num_threads()} threads")
    rows = []
    for n, B in grid:
        x, w = default_inputs(n, args.L, B)
        contenders = {"qdl_adjoint": make_qdl(n, args.L, B, x=x, w=w)}
        layer = make_qdl_layer(n, args.L, B, x=x, w=w)
        if layer is not None:
            contenders["qdl_layer"] = layer
        for name in args.peers if n <= args.peer_max_n else []:
            try:
                peer = PEERS[name](n, args.L, B, "complex64", x=x, w=w)
            except Exception as exc:
                NOTES[name] = f"failed: {exc!r}"
                peer = None
            if peer is not None:
                contenders[name] = peer
        med = medians(measure(contenders, repeats=args.repeats, warmup=1))
        row = {"n": n, "B": B, "L": args.L, "ms": med,
               "bound_ms": lower_bound_ms(n, B, args.L, rate)}
        rows.append(row)
        print(f"n={n:2d} B={B}: " + ", ".join(f"{k} {_ms(v)}" for k, v in med.items()),
              flush=True)
    present = [p for p in args.peers if any(p in r["ms"] for r in rows)]
    print("\n" + _table(rows, present))
    rss = {}
    if not args.no_rss:
        for L in (4, 32):
            rss[f"adjoint L={L}"] = peak_rss_of(qdl_rss, 16, L, "adjoint")
        print("\npeak RSS, n=16 B=64: " + ", ".join(f"{k}: {v:.0f} MiB" for k, v in rss.items()))
    for name, note in NOTES.items():
        print(f"  note {name}: {note}")
    _write(args.out, rows, rss, present, rate)
    return 0


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "machine": platform.machine()}
    for pkg in ["torch", "qdl", "pennylane", "pennylane-lightning", "torchquantum", "qulacs",
                "pyqtorch"]:
        with contextlib.suppress(PackageNotFoundError):
            out[pkg] = version(pkg)
    return out


def _write(out: Path, rows: list[dict], rss: dict, peers: list[str], rate: float) -> None:
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.date.today().isoformat()
    data = {"date": stamp, "versions": _versions(), "cmac_per_s": rate, "rows": rows,
            "peak_rss_mib": rss, "notes": dict(NOTES), "table": _table(rows, peers)}
    path = out / f"workload_w-{stamp}.json"
    path.write_text(json.dumps(data, indent=2))
    print(f"\nwrote {path}")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plot")
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in ["qdl_adjoint", "qdl_layer", *peers]:
        pts = [(r["n"], r["ms"][name]) for r in rows if name in r["ms"]]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="o", label=name)
    ax.plot([r["n"] for r in rows], [r["bound_ms"] for r in rows], "k--", label="flop bound")
    ax.set(yscale="log", xlabel="qubits n", ylabel="ms per step (fwd + bwd)",
           title=f"Workload W, L={rows[0]['L']}, 2 threads" if rows else "Workload W")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / f"workload_w-{stamp}.png", dpi=120)
    print(f"wrote {out / f'workload_w-{stamp}.png'}")


if __name__ == "__main__":
    sys.exit(main())
