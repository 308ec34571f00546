"""Pérez-Salinas et al. 2020 (Quantum 4, 226): single-qubit data re-uploading classifier.

Everything follows the authors' code (github.com/AdrianPerezSalinas/universal_qlassifier)
unless noted. Benchmark problems in ``[−1, 1]²`` (``data_gen.py``): *circle* (inside radius
``sqrt(2/π)``, half the area), *crown* (``sqrt(0.8 − 2/π) < |x| < sqrt(0.8)``) and
*non-convex* (``x₁ > −2x₀ + 1.5 sin(πx₀)``); 4200 points drawn with ``numpy.random.seed``
(their seed 30 is our default), the first 200 to train and the other 4000 to test.

Layers (``--form``):

* ``authors`` (default, ``circuitery.py``): one rotation per layer with the data added to
  its angles, ``U3(θ_l + α_l ∘ x)`` where their ``U3(a, b, d) = R_z(−b) R_y(a) R_z(−d)``
  (``QuantumState.py``): ``x₀`` shifts the ``R_y`` angle, ``x₁`` the last ``R_z`` angle.
  Built here from QDL gate-angle expressions such as ``theta0_0 + alpha0_0*x0``.
* ``ours``: the paper's two-factor layer ``U(θ_l) U(w_l ∘ x)``
  (:func:`qdl.templates.data_reuploading` with ``scaling=True``).

Label states ``|0⟩`` / ``|1⟩`` (``problem_gen.representatives``); a point gets the class of
the label state it is closest to (``test_data.py``). Cost (``--cost``): ``amplitude``
(default) is the authors' ``fidelity_chi``, which maximizes the mean of ``|⟨ψ_y|ψ(x)⟩|``
(not squared; ``fidelity_minimization.py``), written here as ``1 − mean |⟨ψ_y|ψ(x)⟩|``;
``fidelity`` is ``mean(1 − |⟨ψ_y|ψ(x)⟩|²)``; ``weighted`` is their
``weighted_fidelity_chi``, ``mean ½ Σ_c (w_c F_c(x) − δ_{c,y})²`` with trainable class
weights ``w_c`` (start 1) and ``F_c = |⟨ψ_c|ψ(x)⟩|²``, classifying by the largest
``w_c F_c``. Optimizer: scipy's L-BFGS-B as in their ``main.py``, but with exact autograd
gradients (theirs are finite differences) and an iteration cap. Start 0 is their initial
point (``θ``, then ``α``, uniform in ``[0, 1)`` from the same seeded stream after the data);
we keep the best of a few starts by training cost where they run one.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from _util import parse_args, table, write_result
from scipy.optimize import minimize

from qdl import Circuit, state
from qdl.expr import Sym
from qdl.templates import data_reuploading

FORMS = ("authors", "ours")
COSTS = ("amplitude", "fidelity", "weighted")
TRAIN, TOTAL = 200, 4200


def label(problem: str, x: np.ndarray) -> np.ndarray:
    """Binary labels of points ``x`` of shape ``(m, 2)``."""
    r = np.linalg.norm(x, axis=1)
    if problem == "circle":
        return (r < math.sqrt(2 / math.pi)).astype(np.int64)
    if problem == "crown":
        return ((r > math.sqrt(0.8 - 2 / math.pi)) & (r < math.sqrt(0.8))).astype(np.int64)
    return (x[:, 1] > -2 * x[:, 0] + 1.5 * np.sin(math.pi * x[:, 0])).astype(np.int64)


def authors_circuit(layers: int) -> tuple[Circuit, list[str], list[str]]:
    """Their layer ``U3(θ + α∘x) = R_z(−θ₁ − α₁x₁) R_y(θ₀ + α₀x₀) R_z(−θ₂)``, in time order.

    Returns the circuit and the names standing for their ``θ`` ``(L, 3)`` and ``α`` ``(L, 2)``.
    """
    x0, x1 = Sym("x0"), Sym("x1")
    thetas = [f"theta{layer}_{k}" for layer in range(layers) for k in range(3)]
    alphas = [f"alpha{layer}_{j}" for layer in range(layers) for j in range(2)]
    circuit = Circuit(1, parameters=["x0", "x1", *thetas, *alphas])
    for layer in range(layers):
        t = [Sym(f"theta{layer}_{k}") for k in range(3)]
        a = [Sym(f"alpha{layer}_{j}") for j in range(2)]
        circuit.rz(0, -t[2]).ry(0, t[0] + a[0] * x0).rz(0, -(t[1] + a[1] * x1))
    return circuit, thetas, alphas


def build(form: str, layers: int) -> tuple[Circuit, list[str], list[str]]:
    """Circuit of ``form`` and the names initialized like their ``θ`` and ``α``."""
    if form == "authors":
        return authors_circuit(layers)
    circuit = data_reuploading(2, layers, scaling=True)
    # Same number of trainables per layer (3 + 2), so the same draws seed both forms.
    return (circuit, [f"w{layer}_0_{k}" for layer in range(layers) for k in range(3)],
            [f"s{layer}_0_{j}" for layer in range(layers) for j in range(2)])


def amplitudes(circuit: Circuit, params: dict, x: torch.Tensor) -> torch.Tensor:
    """Output states ``(m, 2)`` for the points ``x`` ``(m, 2)``, one batched call."""
    return state(circuit, {**params, "x0": x[:, 0], "x1": x[:, 1]}, dtype=torch.complex128)


def class_scores(cost: str, psi: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Per-class scores ``(m, 2)``: fidelities to ``|0⟩``, ``|1⟩``, weighted for ``weighted``."""
    fidelities = psi.abs().square()
    return fidelities * weights if cost == "weighted" else fidelities


def cost_value(cost: str, psi: torch.Tensor, y: torch.Tensor, weights: torch.Tensor):
    """The training cost of ``cost`` (see the module docstring)."""
    if cost == "amplitude":
        return 1 - psi.gather(1, y[:, None]).abs().mean()
    if cost == "fidelity":
        return 1 - psi.gather(1, y[:, None]).abs().square().mean()
    target = torch.nn.functional.one_hot(y, 2).double()
    return 0.5 * (class_scores(cost, psi, weights) - target).square().sum(1).mean()


class Model:
    """One classifier: circuit, cost and a flat parameter vector for scipy."""

    def __init__(self, form: str, cost: str, layers: int):
        self.circuit, self.thetas, self.alphas = build(form, layers)
        self.cost = cost
        self.names = self.thetas + self.alphas

    def unpack(self, vector: torch.Tensor) -> tuple[dict, torch.Tensor]:
        """Circuit parameters and class weights (the last two entries when weighted)."""
        params = dict(zip(self.names, vector[:len(self.names)], strict=True))
        weights = vector[len(self.names):] if self.cost == "weighted" else vector[:0]
        return params, weights

    def loss(self, vector: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Training cost at ``vector``."""
        params, weights = self.unpack(vector)
        return cost_value(self.cost, amplitudes(self.circuit, params, x), y, weights)

    def initial(self, rs: np.random.RandomState) -> np.ndarray:
        """Their draw order: ``θ`` ``(L, 3)``, then ``α`` ``(L, 2)``; class weights 1."""
        theta, alpha = rs.rand(len(self.thetas)), rs.rand(len(self.alphas))
        weights = np.ones(2 if self.cost == "weighted" else 0)
        return np.concatenate([theta, alpha, weights])

    def fit(self, start: np.ndarray, x: torch.Tensor, y: torch.Tensor, iters: int):
        """L-BFGS-B from ``start``; returns (final cost, parameter vector)."""

        def objective(v: np.ndarray) -> tuple[float, np.ndarray]:
            vector = torch.tensor(v, dtype=torch.float64, requires_grad=True)
            value = self.loss(vector, x, y)
            value.backward()
            return float(value.detach()), vector.grad.numpy()

        result = minimize(objective, start, jac=True, method="L-BFGS-B",
                          options={"maxiter": iters})
        return float(result.fun), torch.tensor(result.x, dtype=torch.float64)

    def accuracy(self, vector: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> float:
        """Fraction of points whose highest class score is their label."""
        params, weights = self.unpack(vector)
        with torch.no_grad():
            scores = class_scores(self.cost, amplitudes(self.circuit, params, x), weights)
        return float((scores.argmax(1) == y).double().mean())


def draw(problem: str, seed: int):
    """Their data stream: seed, 4200 points (200 train, 4000 test), then the initial draws."""
    rs = np.random.RandomState(seed)
    x = 2 * rs.rand(TOTAL, 2) - 1  # the same stream as their 4200 calls of rand(2)
    xt, yt = torch.tensor(x), torch.tensor(label(problem, x))
    return (xt[:TRAIN], yt[:TRAIN]), (xt[TRAIN:], yt[TRAIN:]), rs


def run(args: argparse.Namespace, problem: str, layers: int, starts: int, iters: int):
    """One table row: best of ``starts`` fits by training cost."""
    (x_train, y_train), (x_test, y_test), rs = draw(problem, args.seed)
    model = Model(args.form, args.cost, layers)
    best = min((model.fit(model.initial(rs), x_train, y_train, iters) for _ in range(starts)),
               key=lambda fit: fit[0])
    return [problem, layers, f"{best[0]:.4f}",
            f"{model.accuracy(best[1], x_train, y_train):.3f}",
            f"{model.accuracy(best[1], x_test, y_test):.3f}", "not retrieved"]


def options(parser: argparse.ArgumentParser) -> None:
    """The layer form and the cost function."""
    parser.add_argument("--form", choices=FORMS, default="authors",
                        help="authors: U3(θ + α∘x) per layer; ours: U(θ) U(w∘x)")
    parser.add_argument("--cost", choices=COSTS, default="amplitude",
                        help="amplitude: their fidelity_chi (|⟨ψ_y|ψ⟩|); fidelity: squared; "
                             "weighted: their weighted_fidelity_chi")


def describe(args: argparse.Namespace, starts: int, iters: int) -> list[str]:
    """The heading lines of the result file."""
    layer = ("`U3(θ_l + α_l ∘ x)` (the authors' code, one rotation per layer)"
             if args.form == "authors" else
             "`U(θ_l) U(w_l ∘ x)` (the paper's two-factor layer, QDL's template)")
    cost = {"amplitude": "`1 − mean |⟨ψ_y|ψ⟩|` (the authors' fidelity_chi)",
            "fidelity": "`mean(1 − |⟨ψ_y|ψ⟩|²)`",
            "weighted": "the authors' weighted_fidelity_chi"}[args.cost]
    return [
        "# Pérez-Salinas et al. 2020: single-qubit data re-uploading classifier", "",
        f"Layer {layer}; cost {cost}; label states |0⟩, |1⟩. {TRAIN} training / "
        f"{TOTAL - TRAIN} test points per problem (seed {args.seed}), scipy L-BFGS-B with "
        f"autograd gradients (scipy's tolerances, at most {iters} iterations), best of "
        f"{starts} start(s), the first the authors' initial point.", "",
    ]


def main() -> None:
    """Run the reproduction, print the table and write the result file."""
    args = parse_args(__doc__.splitlines()[0], seed=30, configure=options)
    started = time.perf_counter()
    problems = ["circle"] if args.quick else ["circle", "crown", "non-convex"]
    layer_counts = [1, 2, 4] if args.quick else [1, 2, 3, 4, 5, 6, 8, 10]
    starts, iters = (2, 100) if args.quick else (5, 15000)
    rows = [run(args, problem, layers, starts, iters)
            for problem in problems for layers in layer_counts]
    lines = [
        *describe(args, starts, iters),
        *table(["problem", "layers", "train cost", "train accuracy", "test accuracy",
                "published test accuracy"], rows), "",
        "Published column: the paper tabulates success rates per problem and layer count "
        "(fidelity and weighted-fidelity costs), but its tables were not accessible to us "
        "here, so no published numbers are shown (none are invented). The paper's "
        "qualitative claim, that a single qubit classifies these problems better as layers "
        "(re-uploadings) are added, can be read off the test-accuracy column.",
    ]
    variant: list[str] = []  # non-default options name their own result file
    for name, default in (("form", "authors"), ("cost", "amplitude")):
        if (value := getattr(args, name)) != default:
            variant += [f"--{name}", value]
    write_result("perez_salinas2020", args.quick, lines, started, variant)


if __name__ == "__main__":
    main()
