"""Sim, Johnson & Aspuru-Guzik 2019 (arXiv:1905.10876): expressibility and entangling capability.

Their circuits 1-19 on four qubits, ``L = 1, 2, 3`` layers, parameters uniform in
``[0, 2π)``. Expressibility: KL divergence of the histogram (75 bins on [0, 1]) of 5000
fidelities of random parameter pairs from the Haar distribution, whose bin probabilities are
integrated exactly. Entangling capability: mean Meyer–Wallach Q over 5000 random parameter
vectors.

Published values: we could not retrieve the paper's figures here. The "quoted" columns are
the reference values in the test suite of the qml-essentials package
(github.com/cirKITers/qml-essentials, tests/test_expressiblity.py and
tests/test_entanglement.py), which attributes them to the paper (doi:10.1002/qute.201900070);
we have not checked them against the paper itself. Only L = 1 and L = 3 are quoted there.

The quoted Ent values are not reproducible from the paper's definitions, by us or by
qml-essentials: its own Meyer-Wallach code is the same Q = 2(1 - mean purity) as ours, and its
entanglement test accepts a 55 % relative deviation ("FIXME: reduce when reason for discrepancy
is found") and skips circuits 2 and 3 because their order fails. The script adds one check of
its own: circuits 1 and 2 share the RX, RZ layer (their quoted Expr agree, as they must), so
the largest Ent over every sequence of three CNOTs after that layer bounds circuit 2's Ent under
any reading of its CNOT ladder.
"""

from __future__ import annotations

import time
from itertools import product

from _util import parse_args, table, write_result

from qdl.diagnostics import entangling_capability, expressibility, sim_circuit

_EXPR_ORDER = [9, 1, 2, 16, 3, 18, 10, 12, 15, 17, 4, 11, 7, 8, 19, 5, 13, 14, 6]
_ENT_ORDER = [1, 7, 3, 16, 8, 5, 18, 17, 4, 10, 19, 13, 12, 14, 11, 6, 2, 15, 9]
QUOTED_EXPR = {
    1: dict(zip(_EXPR_ORDER, [0.6773, 0.2999, 0.2860, 0.2602, 0.2396, 0.2340, 0.2286, 0.1984,
                              0.1892, 0.1359, 0.1343, 0.1312, 0.0977, 0.0858, 0.0809, 0.0602,
                              0.0516, 0.0144, 0.0061], strict=True)),
    3: dict(zip(_EXPR_ORDER, [0.0322, 0.2079, 0.0084, 0.0375, 0.0403, 0.0221, 0.1297, 0.0089,
                              0.1152, 0.0180, 0.0107, 0.0038, 0.0162, 0.0122, 0.0040, 0.0030,
                              0.0049, 0.0035, 0.0039], strict=True)),
}
QUOTED_ENT = {
    1: dict(zip(_ENT_ORDER, [0.0000, 0.3241, 0.3412, 0.3439, 0.3926, 0.4090, 0.4385, 0.4533,
                             0.4721, 0.5362, 0.5916, 0.6077, 0.6486, 0.6604, 0.7335, 0.7781,
                             0.8104, 0.8184, 1.0000], strict=True)),
    3: dict(zip(_ENT_ORDER, [0.0000, 0.6194, 0.5852, 0.5859, 0.6567, 0.7953, 0.7130, 0.6557,
                             0.6607, 0.7865, 0.7906, 0.8224, 0.7838, 0.8557, 0.8288, 0.8721,
                             0.8657, 0.8734, 1.0000], strict=True)),
}


def _quoted(table_: dict[int, dict[int, float]], layers: int, number: int) -> str:
    value = table_.get(layers, {}).get(number)
    return "—" if value is None else f"{value:.4f}"


_LADDER = ((3, 2), (2, 1), (1, 0))
Wiring = tuple[tuple[int, int], ...]


def _cnot_wirings(samples: int, seed: int) -> tuple[float, Wiring, float]:
    """Largest Ent over all 12³ sequences of three CNOTs after circuit 1, its wiring, ours.

    Every sequence sees the same parameter draws (one seed), so the maximum is not one over
    independent noise and our ladder's value is directly comparable.
    """
    pairs = [(c, t) for c in range(4) for t in range(4) if c != t]
    values: dict[Wiring, float] = {}
    for wiring in product(pairs, repeat=3):
        circuit = sim_circuit(1, 4, 1)
        for control, target in wiring:
            circuit.cx(control, target)
        values[wiring] = entangling_capability(circuit, samples, seed=seed)
    best = max(values, key=values.__getitem__)
    return values[best], best, values[_LADDER]


def _expr_summary(results: list[tuple[int, int, float, float]], samples: int) -> str:
    relative = {n: abs(e / QUOTED_EXPR[1][n] - 1) for n, layers, e, _ in results if layers == 1}
    far = sorted(n for n, r in relative.items() if r > 0.25)
    absolute = [abs(e - QUOTED_EXPR[3][n]) for n, layers, e, _ in results if layers == 3]
    return (f"Expr: at L = 1 ours is within 25 % of the quoted value for "
            f"{len(relative) - len(far)} of {len(relative)} circuits"
            + (f" (not for {', '.join(map(str, far))})" if far else "")
            + f"; at L = 3 the largest absolute difference is {max(absolute):.4f} (for "
            f"reference, the histogram KL estimator's finite-sample bias is of order "
            f"(bins − 1)/(2·samples) = {74 / (2 * samples):.4f}).")


def _ent_summary(results: list[tuple[int, int, float, float]],
                 wiring: tuple[float, Wiring, float]) -> list[str]:
    lower = sorted({n for n, layers, _, q in results if layers in QUOTED_ENT
                    and q < QUOTED_ENT[layers][n] - 0.01})
    matched = sorted({n for n, _, _, _ in results} - set(lower))
    ours = {(n, layers): (e, q) for n, layers, e, q in results}
    best, seq, ladder = wiring
    lines = [
        f"Ent: ours is lower than the quoted value (by more than 0.01) for circuits "
        f"{', '.join(map(str, lower)) or 'none'} and matches for circuits "
        f"{', '.join(map(str, matched)) or 'none'}.", "",
        f"Why we do not follow the quoted Ent: over all 1728 sequences of three CNOTs after "
        f"circuit 1's RX, RZ layer the largest Ent is {best:.4f}, for "
        f"{', '.join(f'({c}→{t})' for c, t in seq)}, and {ladder:.4f} for our ladder "
        f"(3→2), (2→1), (1→0) with the same draws: all below the 0.8104 quoted for "
        f"circuit 2 at L = 1, so no reading of its "
        f"CNOT ladder gives that value under the paper's Eq. 3; a from-scratch numpy build of "
        f"circuit 2 and the cross-product form of Q reproduce our number "
        f"(tests/diagnostics/test_entanglement.py).",
    ]
    if (6, 3) in ours:
        expr, ent = ours[6, 3]
        lines[-1] += (f" At L = 3 the quoted values of circuits 6 and 15 (0.8721, 0.8734) "
                      f"also exceed the Haar mean 14/17 = 0.8235, which circuits whose Expr "
                      f"is at the Haar level approach (ours: circuit 6, Expr {expr:.4f}, "
                      f"Ent {ent:.4f}).")
    lines[-1] += " The ranking of the circuits by Ent is broadly the same."
    return lines


def main() -> None:
    """Run the reproduction, print the table and write the result file."""
    args = parse_args(__doc__.splitlines()[0])
    started = time.perf_counter()
    numbers = [1, 2, 9, 11] if args.quick else list(range(1, 20))
    layer_counts = [1, 3] if args.quick else [1, 2, 3]
    samples = 1000 if args.quick else 5000
    rows, results = [], []
    for number in numbers:
        for layers in layer_counts:
            circuit = sim_circuit(number, 4, layers)
            expr = expressibility(circuit, samples, seed=args.seed + 100 * number + layers)
            ent = entangling_capability(circuit, samples, seed=args.seed + 7 + 100 * number)
            results.append((number, layers, expr, ent))
            rows.append([number, layers, len(circuit.parameters), f"{expr:.4f}",
                         _quoted(QUOTED_EXPR, layers, number), f"{ent:.4f}",
                         _quoted(QUOTED_ENT, layers, number)])
    lines = [
        "# Sim et al. 2019: expressibility and entangling capability (4 qubits)", "",
        f"{samples} fidelity pairs and 75 bins for Expr (KL to Haar, nats; smaller is more "
        f"expressive); {samples} parameter vectors for Ent (mean Meyer–Wallach Q).", "",
        *table(["circuit", "L", "params", "Expr (ours)", "Expr (quoted)", "Ent (ours)",
                "Ent (quoted)"], rows), "",
        "\"quoted\": reference values from the qml-essentials test suite, attributed there to "
        "the paper; not verified against the paper by us (its figures were not accessible "
        "here). Its Ent values are not reproduced by qml-essentials' own Meyer–Wallach code "
        "either (its test allows a 55 % relative deviation, marked FIXME, and skips circuits "
        "2 and 3). — : no value quoted.", "",
        "Checks that need no published number: circuits 1 and 2 have the same Expr at L = 1 "
        "up to sampling noise (a fixed final CNOT ladder does not change fidelities); circuit "
        "9 makes linear cluster states, so its Ent is exactly 1; circuit 1 never entangles "
        "(Ent 0); Haar-random 4-qubit states have mean Q = 14/17 = 0.8235.", "",
        _expr_summary(results, samples), "",
        *_ent_summary(results, _cnot_wirings(samples, args.seed + 7)),
    ]
    write_result("sim2019", args.quick, lines, started)


if __name__ == "__main__":
    main()
