"""Pérez-Salinas et al. 2020 (Quantum 4, 226): single-qubit data re-uploading classifier.

Their benchmark problems in ``[−1, 1]²`` (definitions as in the authors' code,
github.com/AdrianPerezSalinas/universal_qlassifier, ``data_gen.py``): *circle* (inside
radius ``sqrt(2/π)``, half the area), *crown* (``sqrt(0.8 − 2/π) < |x| < sqrt(0.8)``) and
*non-convex* (``x₁ > −2x₀ + 1.5 sin(πx₀)``). One qubit, ``L`` layers
``U(θ_l) U(s_l ∘ x)`` (:func:`qdl.templates.data_reuploading` with ``scaling=True``), label
states ``|0⟩`` / ``|1⟩``, fidelity cost ``χ² = mean(1 − |⟨ψ_label|ψ(x)⟩|²)``, L-BFGS, 200
training and 4000 test points, best of a few random starts by training cost.

The authors' code folds data and weights into one rotation per layer, ``U(θ_l + w_l ∘ x)``;
the template keeps the paper's two-factor form ``U(θ_l) U(w_l ∘ x)``.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from _util import parse_args, table, write_result

from qdl import expval
from qdl.templates import data_reuploading


def label(problem: str, x: np.ndarray) -> np.ndarray:
    """Binary labels of points ``x`` of shape ``(m, 2)``."""
    r = np.linalg.norm(x, axis=1)
    if problem == "circle":
        return (r < math.sqrt(2 / math.pi)).astype(np.int64)
    if problem == "crown":
        return ((r > math.sqrt(0.8 - 2 / math.pi)) & (r < math.sqrt(0.8))).astype(np.int64)
    return (x[:, 1] > -2 * x[:, 0] + 1.5 * np.sin(math.pi * x[:, 0])).astype(np.int64)


def data(problem: str, size: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``size`` uniform points of ``[−1, 1]²`` and their labels."""
    x = rng.uniform(-1, 1, size=(size, 2))
    return torch.tensor(x), torch.tensor(label(problem, x))


def z_expectation(circuit, weights, x):
    """⟨Z⟩ for every point of ``x`` ``(m, 2)``, one batched call."""
    return expval(circuit, "Z0", {**weights, "x0": x[:, 0], "x1": x[:, 1]},
                  dtype=torch.complex128)[:, 0]


def fidelity_cost(circuit, weights, x: torch.Tensor, sign: torch.Tensor) -> torch.Tensor:
    """mean(1 − F) with F = (1 + sign·⟨Z⟩)/2 the fidelity to the label state."""
    return (0.5 * (1 - sign * z_expectation(circuit, weights, x))).mean()


def minimize(circuit, weights, x: torch.Tensor, sign: torch.Tensor, iters: int) -> float:
    """L-BFGS on the fidelity cost; returns the final cost."""
    optimizer = torch.optim.LBFGS(weights.values(), max_iter=iters,
                                  line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        cost = fidelity_cost(circuit, weights, x, sign)
        cost.backward()
        return cost

    optimizer.step(closure)
    with torch.no_grad():
        return float(fidelity_cost(circuit, weights, x, sign))


def train(layers: int, x: torch.Tensor, y: torch.Tensor, starts: int, iters: int, seed: int):
    """Best (training cost, weights) over ``starts`` L-BFGS runs."""
    circuit = data_reuploading(2, layers, scaling=True)
    sign = 1.0 - 2.0 * y.double()  # label 0 ↔ |0⟩ (⟨Z⟩ = +1), label 1 ↔ |1⟩
    best = (math.inf, None)
    for start in range(starts):
        generator = torch.Generator().manual_seed(seed + 97 * layers + start)
        weights = {n: torch.rand((), generator=generator, dtype=torch.float64).requires_grad_()
                   for n in circuit.parameters if n not in ("x0", "x1")}
        cost = minimize(circuit, weights, x, sign, iters)
        if cost < best[0]:
            best = (cost, {k: v.detach() for k, v in weights.items()})
    return circuit, best


def accuracy(circuit, weights, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of points whose nearer label state (sign of ⟨Z⟩) is their label."""
    with torch.no_grad():
        predicted = (z_expectation(circuit, weights, x) < 0).long()
    return float((predicted == y).double().mean())


def main() -> None:
    """Run the reproduction, print the table and write the result file."""
    args = parse_args(__doc__.splitlines()[0])
    started = time.perf_counter()
    problems = ["circle"] if args.quick else ["circle", "crown", "non-convex"]
    layer_counts = [1, 2, 4] if args.quick else [1, 2, 3, 4, 5, 6, 8, 10]
    starts, iters = (2, 150) if args.quick else (3, 300)
    rows = []
    for problem in problems:
        rng = np.random.default_rng(args.seed)
        x_train, y_train = data(problem, 200, rng)
        x_test, y_test = data(problem, 4000, rng)
        for layers in layer_counts:
            circuit, (cost, weights) = train(layers, x_train, y_train, starts, iters, args.seed)
            rows.append([problem, layers, f"{cost:.4f}",
                         f"{accuracy(circuit, weights, x_train, y_train):.3f}",
                         f"{accuracy(circuit, weights, x_test, y_test):.3f}", "not retrieved"])
    lines = [
        "# Pérez-Salinas et al. 2020: single-qubit data re-uploading classifier", "",
        f"200 training / 4000 test points per problem, L-BFGS ({iters} iterations, best of "
        f"{starts} random start(s)), fidelity cost.", "",
        *table(["problem", "layers", "train cost χ²", "train accuracy", "test accuracy",
                "published test accuracy"], rows), "",
        "Published column: the paper tabulates success rates per problem and layer count, "
        "but its tables were not accessible to us here, so no published numbers are shown "
        "(none are invented). The paper's qualitative claim, that a single qubit classifies "
        "these problems better as layers (re-uploadings) are added, can be read off the "
        "test-accuracy column.",
    ]
    write_result("perez_salinas2020", args.quick, lines, started)


if __name__ == "__main__":
    main()
