"""Targets, the summary table and README's performance section, from ``benchmarks.all``'s results.

Pure formatting, no timing: a saved JSON can be summarised again (``--from-json``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from peers import JIT_PEERS, PEERS

BEGIN, END = "<!-- perf:begin -->", "<!-- perf:end -->"
Row = tuple[str, str, str]

#: Workload W: (n, required fastest-eager-peer / qdl).
W_SPEEDUP = {4: 5.0, 8: 10.0, 12: 10.0, 16: 20.0}
#: Training step: (n, allowed qdl / mlp).
MLP_RATIO = {4: 2.0, 8: 3.0}


def _verdict(ok: bool | None) -> str:
    return "no data" if ok is None else ("pass" if ok else "FAIL")


def _ms(v: float) -> str:
    return f"{v:.3f} ms" if v < 1 else (f"{v:.1f} ms" if v < 1000 else f"{v / 1e3:.2f} s")


def _w_rows(res: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    by_n = {r["n"]: r for r in res.get("w", [])}
    for n in (4, 8, 12, 16):
        r = by_n.get(n)
        peers = {k: v for k, v in (r or {}).get("ms", {}).items() if k in PEERS}
        if not peers:
            out.append((f"W n={n}: faster than every peer incl. JIT", "no peers ran", "no data"))
            continue
        q = r["ms"]["qdl_adjoint"]
        name = min(peers, key=peers.get)
        out.append((f"W n={n}: faster than every peer incl. JIT",
                    f"fastest peer {name}: {peers[name] / q:.2f}x qdl's time",
                    _verdict(peers[name] > q)))
        eager = {k: v for k, v in peers.items() if k not in JIT_PEERS}
        if eager:
            best = min(eager.values()) / q
            out.append((f"W n={n}: >= {W_SPEEDUP[n]:g}x fastest eager peer", f"{best:.1f}x",
                        _verdict(best >= W_SPEEDUP[n])))
    for n in (12, 16):
        r = by_n.get(n)
        if r:
            ratio = r["ms"]["qdl_adjoint"] / r["bound_ms"]
            which = "flop" if r["flop_bound_ms"] >= r["byte_bound_ms"] else "byte"
            out.append((f"W n={n}: qdl / machine bound <= 2x",
                        f"{ratio:.1f}x ({which} bound {_ms(r['bound_ms'])})", _verdict(ratio <= 2)))
    return out


def _training_rows(res: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    for r in res.get("training", []):
        n, ms = r["n"], r["ms"]
        limit = MLP_RATIO.get(n)
        ratio = ms["qdl"] / ms["mlp"]
        out.append((f"training step n={n}: qdl / MLP" + (f" <= {limit:g}x" if limit else ""),
                    f"{ratio:.1f}x ({_ms(ms['qdl'])} vs {_ms(ms['mlp'])})",
                    _verdict(ratio <= limit) if limit else "report"))
        if n >= 8:
            tc = ms.get("tcng")
            out.append((f"training step n={n}: beat tc-ng (qdl / tc-ng < 1)",
                        f"{ms['qdl'] / tc:.2f}x (tc-ng {_ms(tc)})" if tc else "tc-ng not run",
                        _verdict(ms["qdl"] < tc if tc else None)))
    return out


def _batch1_rows(res: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    for r in res.get("batch1", []):
        if r["n"] != 4:
            continue
        ms = r["ms"]
        q = ms.get("qdl_layer", ms["qdl_adjoint"])
        out.append(("batch-1 fwd+bwd n=4 (QuantumLayer) <= 1 ms",
                    f"{_ms(q)} (qdl.expval {_ms(ms['qdl_adjoint'])})", _verdict(q <= 1.0)))
        qul = ms.get("qulacs")
        out.append(("batch-1 n=4: within 5x of Qulacs",
                    f"{q / qul:.1f}x Qulacs ({_ms(qul)})" if qul else "qulacs not run",
                    _verdict(q <= 5 * qul if qul else None)))
    return out


def _busy_rows(res: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    for n in sorted({r["n"] for r in res.get("busy", [])}):
        rows = [r for r in res["busy"] if r["n"] == n]
        worst = max(r["ratio"] for r in rows)
        detail = ", ".join(f"{r['order']} {r['ratio']:.2f}x" for r in rows)
        out.append((f"busy machine n={n}: default threads <= 1.25x best", detail,
                    _verdict(worst <= 1.25)))
    return out


def _startup_rows(res: dict[str, Any]) -> list[Row]:
    s = res.get("startup")
    if not s:
        return []
    out: list[Row] = [(f"start-up: {k} <= 1.3x import torch",
                       f"{s['ratio'][k]:.2f}x ({s['wall_s'][k]:.2f} s vs "
                       f"{s['wall_s']['import torch']:.2f} s)", _verdict(s["ratio"][k] <= 1.3))
                      for k in ("qdl --help", "qdl datasets")]
    train = s["train"]
    first, line = train["first_line_s"], train["line"]
    target = "qdl train (tiny config): first output through a pipe <= 1 s"
    # A failed run (e.g. the app extra missing in this environment) measures nothing.
    if train.get("returncode", 0) != 0 or "error" in line.lower():
        out.append((target, f"train failed ({line[:50]})", "no data"))
    else:
        terminal = train.get("pty", {}).get("first_line_s")
        also = "" if terminal is None else f" (terminal {terminal:.2f} s)"
        out.append((target, "never" if first is None else f"{first:.2f} s{also}",
                    _verdict(first is not None and first <= 1.0)))
    return out


def summary_rows(res: dict[str, Any]) -> list[Row]:
    """(target, measured, verdict) for every target, in the issue's order."""
    rows = _w_rows(res) + _training_rows(res) + _batch1_rows(res) + _busy_rows(res)
    rows += _startup_rows(res)
    if "big_batch1_ms" in res:
        rows.append(("22-qubit batch-1 adjoint step (W, L=4)", _ms(res["big_batch1_ms"]),
                     "report"))
    return rows


def _table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _w_table(res: dict[str, Any]) -> str:
    from workload_w import _table as w_table

    rows = res.get("w", [])
    peers = [p for p in PEERS if any(p in r["ms"] for r in rows)]
    return w_table(rows, peers)


def _compile_line(res: dict[str, Any]) -> str:
    parts = [f"{k} {v / 1e3:.0f} s at n={r['n']}" for r in res.get("w", [])
             for k, v in r.get("compile_ms", {}).items()]
    parts += [f"tc-ng training step {r['tcng']['compile_ms'] / 1e3:.0f} s at n={r['n']}"
              for r in res.get("training", []) if "compile_ms" in r.get("tcng", {})]
    return ("JIT compile time (first call; not in the step times above): "
            + "; ".join(parts) + ".") if parts else ""


def _training_table(res: dict[str, Any]) -> str:
    rows = []
    for r in res.get("training", []):
        ms, tc = r["ms"], r.get("tcng", {})
        rows.append([str(r["n"]), str(r["params"]), str(r["mlp_params"]), _ms(ms["qdl"]),
                     _ms(ms["mlp"]), _ms(ms["tcng"]) if "tcng" in ms else "-",
                     f"{ms['qdl'] / ms['mlp']:.1f}x",
                     f"{ms['qdl'] / ms['tcng']:.2f}x" if "tcng" in ms else "-",
                     f"{tc['grad_diff']:.0e}" if "grad_diff" in tc else "-"])
    return _table(["n", "params", "MLP params", "qdl", "MLP", "tc-ng (jit)", "qdl / MLP",
                   "qdl / tc-ng", "max grad diff tc-ng vs qdl"], rows)


def _batch1_table(res: dict[str, Any]) -> str:
    rows = res.get("batch1", [])
    names = list(dict.fromkeys(k for r in rows for k in r["ms"]))
    return _table(["n", *names], [[str(r["n"]), *(_ms(r["ms"][k]) if k in r["ms"] else "-"
                                                  for k in names)] for r in rows])


def _busy_table(res: dict[str, Any]) -> str:
    rows = []
    for r in res.get("busy", []):
        settings = [k for k in r["ms"] if k != "default"]
        rows.append([str(r["n"]), r["order"], f"{r['default_threads']}",
                     *(f"{r['ms'][k]:.2f}" for k in ["default", *settings]),
                     f"{r['ratio']:.2f}"])
    head = ["n", "import order", "default threads", "default (ms)"]
    if res.get("busy"):
        head += [f"{k} thread(s) (ms)" for k in res["busy"][0]["ms"] if k != "default"]
    return _table([*head, "default / best"], rows)


def _prose(res: dict[str, Any], summary: list[Row]) -> str:
    v = res.get("versions", {})
    peers = ", ".join(f"{k} {v[k]}" for k in ("pennylane", "pennylane-lightning", "torchquantum",
                                              "qulacs", "pyqtorch", "tensorcircuit-ng", "jax")
                      if k in v)
    failed = [t for t, _, ok in summary if ok == "FAIL"]
    passed = sum(ok == "pass" for _, _, ok in summary)
    text = (f"Measured {res.get('date')} by `python -m benchmarks.all"
            f"{' --quick' if res.get('quick') else ''}` on this project's shared 2-core x86_64 "
            f"machine (Python {v.get('python')}, torch {v.get('torch')}, QDL {v.get('qdl')}; "
            f"peers {peers or 'not installed'}); the command rewrites this section. Every number "
            "is a median of interleaved, order-rotated repeats (`benchmarks/timing.py`), each "
            "peer in a process of its own (`timing.Remote`); other "
            "jobs share these cores, so absolute times move by ±30 % or more between runs and "
            "the ratios are what to read. "
            f"{passed} of {sum(ok in ('pass', 'FAIL') for _, _, ok in summary)} targets pass")
    return text + (f"; missed: {'; '.join(failed)}." if failed else ".")


def markdown(res: dict[str, Any]) -> str:
    """The whole performance section (between the README markers) as Markdown."""
    summary = summary_rows(res)
    parts = [_prose(res, summary), "", _table(["target", "measured", "verdict"],
                                              [list(r) for r in summary]),
             "", "**Workload W** (`benchmarks/workload_w.py`): one training step, forward plus "
             "backward of `outputs.sum()` for weights and inputs, of `ry(x_i)` encoding, L=4 "
             "layers of `ry, rz` and a CNOT ring, `<Z_i>` on every wire, complex64 for QDL. "
             "Peers are checked against a numpy reference first (`benchmarks/check_peers.py`). "
             "Bounds: *flop* is the fused step's complex multiply-adds at this machine's "
             "measured GEMM rate; *byte* is 3(L+1) read+write passes over the state (one "
             "forward and two backward per layer) at the measured copy speed for a state of "
             "that size; qdl / bound uses the larger.", "", _w_table(res), "",
             _compile_line(res), "",
             "**Hybrid training step** (`benchmarks/training_step.py`): batch 32, "
             "Linear(30→n) → RY embedding, 2 layers of RX, RY, RZ and a CNOT ring, ⟨Z_i⟩ → "
             "Linear(n→2), cross-entropy, Adam, torch's default threads. QDL is "
             "`Sequential(Linear, qdl.nn.QuantumLayer, Linear)`; MLP is a tanh 30→h→2 net of "
             "about the same parameter count; tc-ng is tensorcircuit-ng's whole step "
             "(value_and_grad + optax Adam) under one `jax.jit`, `vmap` over the batch, "
             "started from QDL's weights (its loss and gradients are compared to QDL's).", "",
             _training_table(res), "",
             "**Batch of 1**: workload W with B=1, L=4, forward + backward.", "",
             _batch1_table(res), "",
             "**Busy machine** (`benchmarks/busy.py`): one spinning process per core; ms per "
             "forward + backward (batch 64, 4 layers of rx, ry, rz) in a fresh process per row "
             "with the thread count torch starts with (default) and each fixed setting.", "",
             _busy_table(res)]
    return "\n".join(parts).replace("\n\n\n", "\n\n") + "\n"


def write_readme(path: Path, md: str) -> None:
    """Replace the text between the perf markers in ``path`` with ``md``."""
    text = path.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{path}: markers {BEGIN} / {END} not found")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{BEGIN}\n{md}{END}{tail}")
