"""The measurements behind two layout choices in ``qdl.sim``, interleaved in one run.

    python -m benchmarks.layout            # n = 12 and 16, batch 64, 2 threads

1. Batch-last states ``(2, ..., 2, B)`` vs batch-first ``(B, 2, ..., 2)``: a fused 4-wire
   block (16×16) on middle wires (one GEMM over the other wires and the batch, vs a batched
   GEMM per batch item) and a CNOT ring applied as one gather of rows (vs a gather inside
   every batch item).
2. The gather index of a CNOT ring at 20 qubits: int32 with the inverse by one scatter
   (what ``qdl.sim.plan`` does) vs int64 with the inverse by ``argsort``.

Prints medians and the ratio other / chosen (above 1: the chosen layout is faster).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402
from timing import measure, medians  # noqa: E402


def gate_batch_last(state: torch.Tensor, m: torch.Tensor, wire: int) -> torch.Tensor:
    """A fused block ``m`` (16×16: four wires) from ``wire`` on, batch-last: one GEMM."""
    return torch.matmul(m, state.reshape(2**wire, m.shape[0], -1)).reshape(state.shape)


def gate_batch_first(state: torch.Tensor, m: torch.Tensor, wire: int) -> torch.Tensor:
    """The same gate on a batch-first state: a GEMM per batch item."""
    b = state.shape[0]
    return torch.matmul(m, state.reshape(b, 2**wire, m.shape[0], -1)).reshape(state.shape)


def ring_index(n: int, dtype: torch.dtype) -> torch.Tensor:
    """Gather index of a CNOT ring on ``n`` wires (wire 0 most significant)."""
    index = torch.arange(2**n, dtype=dtype)
    for c in range(n):
        t = (c + 1) % n
        cbit, tbit = 1 << (n - 1 - c), 1 << (n - 1 - t)
        index = index ^ (((index & cbit) != 0).to(dtype) * tbit)
    return index


def scatter_inverse(index: torch.Tensor) -> torch.Tensor:
    inverse = torch.empty_like(index)
    inverse[index.long()] = torch.arange(index.numel(), dtype=index.dtype)
    return inverse


def _layout_contenders(n: int, batch: int, m: torch.Tensor) -> dict:
    last = torch.randn((2,) * n + (batch,), dtype=torch.complex64)
    first = last.movedim(-1, 0).contiguous()
    index = ring_index(n, torch.int64)
    wire = n // 2 - 2
    return {
        "gate batch-last": lambda: gate_batch_last(last, m, wire),
        "gate batch-first": lambda: gate_batch_first(first, m, wire),
        "ring batch-last": lambda: last.reshape(2**n, -1).index_select(0, index),
        "ring batch-first": lambda: first.reshape(batch, -1).index_select(1, index),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[12, 16])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(2)
    m = torch.randn(16, 16, dtype=torch.complex64)
    for n in args.n:
        t = medians(measure(_layout_contenders(n, args.batch, m), repeats=args.repeats))
        print(f"n={n} B={args.batch}: gate {t['gate batch-last']:.2f} ms vs "
              f"{t['gate batch-first']:.2f} ms batch-first "
              f"({t['gate batch-first'] / t['gate batch-last']:.1f}x); CNOT ring "
              f"{t['ring batch-last']:.2f} ms vs {t['ring batch-first']:.2f} ms "
              f"({t['ring batch-first'] / t['ring batch-last']:.1f}x)")
    runs = measure({
        "int32 + scatter": lambda: scatter_inverse(ring_index(20, torch.int32)),
        "int64 + argsort": lambda: torch.argsort(ring_index(20, torch.int64)),
    }, repeats=3)
    t = medians(runs)
    print(f"ring index at n=20: int32 + scatter {t['int32 + scatter']:.0f} ms vs "
          f"int64 + argsort {t['int64 + argsort']:.0f} ms "
          f"({t['int64 + argsort'] / t['int32 + scatter']:.1f}x)")


if __name__ == "__main__":
    main()
