"""Cross-check every available peer against a dense numpy reference of workload W.

Run: ``benchmarks/.peers-venv/bin/python benchmarks/check_peers.py [--dtype complex128]``.
The reference builds each gate as a full 2**n x 2**n matrix with ``np.kron`` (wire 0 = most
significant bit), in complex128. Gradients come from the exact parameter-shift rule
(every angle drives exactly one ry/rz gate, whose generator has eigenvalues +-1/2).
Exit status 1 if any peer differs from the reference by more than ``--tol``.
The complex128 tolerance is 1e-8, not ~1e-15: lightning.qubit's forward values through the
torch interface with trainable parameters are off by ~5e-9 (its gradients are exact, and
its numpy-interface values are exact); every other peer agrees to ~1e-15 there.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import NOTES, PEERS, default_inputs

I2 = np.eye(2, dtype=np.complex128)


def ry(t: float) -> np.ndarray:
    """ry(t) = exp(-i t Y / 2)."""
    c, s = np.cos(t / 2), np.sin(t / 2)
    return np.array([[c, -s], [s, c]], dtype=np.complex128)


def rz(t: float) -> np.ndarray:
    """rz(t) = exp(-i t Z / 2)."""
    return np.diag([np.exp(-0.5j * t), np.exp(0.5j * t)])


def on_wire(gate: np.ndarray, wire: int, n: int) -> np.ndarray:
    """Embed a 1-qubit gate on ``wire`` (wire 0 = most significant bit)."""
    out = np.eye(1, dtype=np.complex128)
    for k in range(n):
        out = np.kron(out, gate if k == wire else I2)
    return out


def cx(control: int, target: int, n: int) -> np.ndarray:
    """CNOT as |0><0|_c (x) I + |1><1|_c (x) X_t, built with kron."""
    p0 = np.diag([1.0, 0.0]).astype(np.complex128)
    p1 = np.diag([0.0, 1.0]).astype(np.complex128)
    xg = np.array([[0, 1], [1, 0]], dtype=np.complex128)
    a = np.eye(1, dtype=np.complex128)
    b = np.eye(1, dtype=np.complex128)
    for k in range(n):
        a = np.kron(a, p0 if k == control else I2)
        b = np.kron(b, p1 if k == control else (xg if k == target else I2))
    return a + b


def z_expvals(x_row: np.ndarray, w: np.ndarray) -> np.ndarray:
    """<Z_i> for one sample of workload W, shape (n,)."""
    n, L = x_row.size, w.shape[0]
    state = np.zeros(2**n, dtype=np.complex128)
    state[0] = 1.0
    for i in range(n):
        state = on_wire(ry(x_row[i]), i, n) @ state
    ring = np.eye(2**n, dtype=np.complex128)
    for i in range(n):
        ring = cx(i, (i + 1) % n, n) @ ring
    for layer in range(L):
        for i in range(n):
            state = on_wire(rz(w[layer, i, 1]) @ ry(w[layer, i, 0]), i, n) @ state
        state = ring @ state
    probs = np.abs(state) ** 2
    zdiag = [on_wire(np.diag([1.0, -1.0]), i, n).diagonal().real for i in range(n)]
    return np.array([probs @ d for d in zdiag])


def reference(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outputs (B, n), d sum(outputs)/dw (L, n, 2) and d sum(outputs)/dx (B, n)."""
    B, n = x.shape
    out = np.stack([z_expvals(x[b], w) for b in range(B)])
    grad_x = np.zeros_like(x)
    grad_w = np.zeros_like(w)
    s = np.pi / 2
    for b in range(B):
        for i in range(n):
            xp, xm = x[b].copy(), x[b].copy()
            xp[i] += s
            xm[i] -= s
            grad_x[b, i] = (z_expvals(xp, w).sum() - z_expvals(xm, w).sum()) / 2
        for idx in np.ndindex(w.shape):
            wp, wm = w.copy(), w.copy()
            wp[idx] += s
            wm[idx] -= s
            grad_w[idx] += (z_expvals(x[b], wp).sum() - z_expvals(x[b], wm).sum()) / 2
    return out, grad_w, grad_x


def main() -> int:
    """Compare all peers to the reference and print max abs differences."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--L", type=int, default=2)
    ap.add_argument("--B", type=int, default=3)
    ap.add_argument("--dtype", default="complex64", choices=["complex64", "complex128"])
    ap.add_argument("--tol", type=float, default=None, help="default 2e-5 / 1e-8")
    args = ap.parse_args()
    tol = args.tol if args.tol is not None else (2e-5 if args.dtype == "complex64" else 1e-8)
    x, w = default_inputs(args.n, args.L, args.B, seed=1234)
    ref = reference(x, w)
    print(f"n={args.n} L={args.L} B={args.B} dtype={args.dtype} tol={tol:g}")
    print(f"{'peer':22s} {'outputs':>10s} {'grad_w':>10s} {'grad_x':>10s}  status")
    bad = 0
    for name, make in PEERS.items():
        try:
            peer = make(args.n, args.L, args.B, args.dtype, x=x, w=w)
            got = peer.evaluate() if peer is not None else None
        except Exception as exc:
            print(f"{name:22s} {'ERROR':>10s} {exc!r}")
            bad += 1
            continue
        if got is None:
            print(f"{name:22s} {'skipped':>10s}  ({NOTES.get(name, '')})")
            continue
        diffs = [float(np.max(np.abs(np.asarray(g) - r))) for g, r in zip(got, ref, strict=True)]
        shapes_ok = all(np.shape(g) == r.shape for g, r in zip(got, ref, strict=True))
        ok = shapes_ok and max(diffs) <= tol
        bad += not ok
        status = "ok" if ok else ("BAD SHAPE" if not shapes_ok else "MISMATCH")
        print(
            f"{name:22s} {diffs[0]:10.2e} {diffs[1]:10.2e} {diffs[2]:10.2e}  {status}"
            f"  ({NOTES.get(name, '')})"
        )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
