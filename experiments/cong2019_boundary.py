"""The cluster-Ising phase boundaries that label QDL's ``cluster-ising`` dataset.

Cong, Choi & Lukin (Nat. Phys. 15, 1273 (2019), Fig. 2) draw the SPT / paramagnetic and SPT /
antiferromagnetic boundaries from infinite-size DMRG; those numbers are not available
offline here, so this script estimates the same boundaries by exact diagonalisation of the
open chain (n = 12 by default), and prints the two polylines stored in
``qdl.data.quantum`` (``SPT_PM_BOUNDARY``, ``SPT_AFM_BOUNDARY``).

Rule: a point is SPT where the string order ``⟨Z_2 X_3 X_5 … X_{n-5} Z_{n-4}⟩`` of the
symmetric-sector ground state (see ``qdl.data.quantum.ground_state``) exceeds ``S*``, its
value at the one exactly known critical point on the plane, ``(h1, h2) = (1, 0)`` (the
``h2 = 0`` line is free fermions). For every ``h1`` the upper crossing ``S = S*`` (towards the
paramagnet) and the lower one (towards the antiferromagnet) are found by bisection in ``h2``.
By construction the labels are exact on ``h2 = 0``; elsewhere they carry the finite-size error
of a 12-site chain (compare ``--n 16``).

Run: ``python experiments/cong2019_boundary.py [--n 12] [--points 17]`` (about a minute).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from qdl.data.quantum import _cluster_sector, cluster_ising_terms, ground_state, pauli_sum


def string_order(n: int, h1: float, h2: float) -> float:
    """String order of the ground state between sites 2 and n-4."""
    a, b = 2, n - 4
    op = pauli_sum([(1.0, ((a, "Z"), *((k, "X") for k in range(a + 1, b, 2)), (b, "Z")))], n)
    _, psi = ground_state(pauli_sum(cluster_ising_terms(n, h1, h2), n), _cluster_sector(n))
    return float(psi @ (op @ psi))


def crossing(f, low: float, high: float, steps: int = 18) -> float:
    """``x`` in ``[low, high]`` where ``f`` changes sign (bisection)."""
    f_low = f(low) > 0
    for _ in range(steps):
        mid = (low + high) / 2
        if (f(mid) > 0) == f_low:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def main() -> None:
    """Print both boundaries as (h1, h2) polylines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=12)
    parser.add_argument("--points", type=int, default=17)
    args = parser.parse_args()
    start = time.perf_counter()
    s_star = string_order(args.n, 1.0, 0.0)
    upper, lower = [], []
    for h1 in np.linspace(0.0, 1.6, args.points):
        def f(h2, h1=h1):
            return string_order(args.n, h1, h2) - s_star
        top = crossing(f, 1.6, -0.6)
        # Start the lower search inside the SPT band, just below its upper edge.
        upper.append((round(float(h1), 3), round(top, 3)))
        lower.append((round(float(h1), 3), round(crossing(f, top - 0.25, -2.2), 3)))
    print(f"n = {args.n}, S* = {s_star:.4f}, {time.perf_counter() - start:.0f} s")
    print("SPT_PM_BOUNDARY =", tuple(upper))
    print("SPT_AFM_BOUNDARY =", tuple(lower))


if __name__ == "__main__":
    main()
