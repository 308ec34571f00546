"""Random circuits and parameters for the closed-form paths' tests (dense and fused)."""

from __future__ import annotations

import numpy as np
import torch
from helpers import batched_state, expectation

from qdl import Circuit
from qdl.expr import Sym
from qdl.observables import Hermitian, Projector, embed

SINGLE = ("rx", "ry", "rz", "p")
FIXED = ("h", "s", "t", "sx", "x", "y", "z", "sdg")
MIXERS = ("cx", "cz", "swap", "ch", "ccx", "cy")


def closed_form_circuit(n: int, depth: int, rng: np.random.Generator, reupload: bool = False
                   ) -> tuple[Circuit, list[str], list[str]]:
    """A circuit the closed-form paths take (:mod:`qdl.sim.dense`, :mod:`qdl.sim.fused`): an
    embedding, then random one-parameter, fixed and constant multi-qubit gates (with
    ``reupload``, also inputs after them); returns it with its input and weight names."""
    c = Circuit(n)
    inputs = [f"x{i}" for i in range(n)]
    for i in range(n):
        c.h(i) if rng.random() < 0.3 else None
        c.ry(i, inputs[i])
    weights: list[str] = []
    for k in range(depth):
        kind = rng.random()
        w = int(rng.integers(n))
        if kind < 0.45:
            name = f"w{k}"
            weights.append(name)
            getattr(c, str(rng.choice(SINGLE)))(w, name)
        elif kind < 0.6:
            getattr(c, str(rng.choice(FIXED)))(w)
        elif kind < 0.65:
            c.rx(w, 0.37)
        elif kind < 0.7 and reupload:
            c.rz(w, 0.5 * Sym(inputs[w]) + 0.1)
        elif n > 1:
            gate = str(rng.choice(MIXERS[:-2] if n < 3 else MIXERS))
            wires = rng.permutation(n)[: 3 if gate == "ccx" else 2]
            getattr(c, gate)(*map(int, wires))
    return c, inputs, weights


def shared_weights(inputs, weights, batch, rng, dtype):
    """Random per-row inputs and shared weights, requiring grad."""
    real = torch.float64 if dtype == torch.complex128 else torch.float32
    params = {n: torch.tensor(rng.uniform(-np.pi, np.pi, batch), dtype=real,
                              requires_grad=True) for n in inputs}
    params.update({n: torch.tensor(rng.uniform(-np.pi, np.pi), dtype=real, requires_grad=True)
                   for n in weights})
    return params


def reference_expectations(circuit, params, observables):
    """Dense numpy expectations for every row: ``(B, O)``."""
    states = batched_state(circuit, {k: v.detach().numpy() for k, v in params.items()})
    return np.stack([expectation(states, o) for o in observables], -1)


def matrix_observables(rng: np.random.Generator) -> tuple[list, list[np.ndarray]]:
    """A random Hermitian on wires (2, 0) and the projector |1?0><1?0| of a 3-qubit register,
    with their dense numpy operators."""
    h = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    h = h + h.conj().T
    ops = [embed(h, (2, 0), range(3)), np.diag([1.0 if (i >> 2) & 1 and not i & 1 else 0.0
                                                 for i in range(8)])]
    return [Hermitian(h, (2, 0)), Projector((1, 0), (0, 2))], ops
