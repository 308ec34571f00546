"""Cong, Choi & Lukin 2019 (Nat. Phys. 15, 1273): a QCNN recognises the cluster-Ising SPT phase.

Their Fig. 2: a QCNN trained only on ground states of the exactly solvable line ``h2 = 0`` of
``H = -J Σ Z X Z - h1 Σ X - h2 Σ X X`` (open chain) outputs the SPT phase over the whole
``(h1, h2)`` plane, including the antiferromagnetic region it never saw.

Here: exact 8-qubit ground states (``qdl.data.quantum``; the paper simulated larger chains),
``qdl.models.QCNN(8, 2, embedding="state")`` — shared two-qubit convolution unitaries in a
brick wall, controlled-rotation pooling that halves the wires, one readout wire — trained with
Adam on cross-entropy (SPT vs not) on ``N`` evenly spaced points of ``h2 = 0``,
``0 < h1 < 2`` (label: ``h1 < 1``, exact), then evaluated on the 24 × 24 grid of the
``cluster-ising`` dataset (``0 < h1 < 1.6``, ``-1.6 < h2 < 1.6``), labelled by the phase
boundaries of ``qdl.data.quantum`` (ED estimate; see ``experiments/cong2019_boundary.py``).
Writes ``results/cong2019.md``, ``results/cong2019.json`` and ``results/cong2019.png``.
"""

from __future__ import annotations

import json
import time

import numpy as np
import torch
from _util import RESULTS, parse_args, table, write_result

from qdl.data.quantum import (
    SPT_AFM_BOUNDARY,
    SPT_PM_BOUNDARY,
    phase_boundary,
    phase_dataset,
)
from qdl.models import QCNN

N_QUBITS = 8


def train(states: torch.Tensor, labels: torch.Tensor, seed: int, epochs: int) -> QCNN:
    """A QCNN fitted to (state, SPT?) pairs, full batch."""
    torch.manual_seed(seed)
    model = QCNN(N_QUBITS, 2, embedding="state", dtype=torch.float64)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(epochs):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(states), labels)
        loss.backward()
        opt.step()
    return model


def near_boundary(params: np.ndarray, width: float = 0.15) -> np.ndarray:
    """Grid points within ``width`` (in h2) of either phase boundary."""
    h1, h2 = params[:, 0], params[:, 1]
    return np.minimum(np.abs(h2 - phase_boundary(SPT_PM_BOUNDARY, h1)),
                      np.abs(h2 - phase_boundary(SPT_AFM_BOUNDARY, h1))) < width


def plot(grid, p_spt: np.ndarray, train_h1: np.ndarray, path) -> None:
    """Predicted P(SPT) over the plane, the boundaries and the training line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h1, h2 = np.unique(grid[:, 0]), np.unique(grid[:, 1])
    fig, ax = plt.subplots(figsize=(5.5, 5))
    mesh = ax.pcolormesh(h1, h2, p_spt.reshape(len(h2), len(h1)), cmap="RdBu", vmin=0, vmax=1,
                         shading="nearest")
    fig.colorbar(mesh, ax=ax, label="QCNN P(SPT)")
    line = np.linspace(0, 1.6, 50)
    ax.plot(line, phase_boundary(SPT_PM_BOUNDARY, line), "k--", label="SPT / PM boundary")
    ax.plot(line, phase_boundary(SPT_AFM_BOUNDARY, line), "k:", label="SPT / AFM boundary")
    ax.plot(train_h1[train_h1 <= 1.6], 0 * train_h1[train_h1 <= 1.6], "o", ms=3, color="gold",
            label="training points (h2 = 0)")
    ax.set_xlabel("h1 / J")
    ax.set_ylabel("h2 / J")
    ax.set_title(f"QCNN on {N_QUBITS}-qubit cluster-Ising ground states")
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    """Sample-complexity sweep, then the phase diagram of the largest training set."""
    args = parse_args(__doc__.splitlines()[0])
    started = time.perf_counter()
    sizes = (5, 10, 40) if args.quick else (5, 10, 20, 40)
    seeds = (0,) if args.quick else (0, 1, 2)
    epochs = 60 if args.quick else 150
    test = phase_dataset("cluster-ising", N_QUBITS)
    x_test = torch.as_tensor(test.states)
    y_test = test.labels == 0  # SPT vs not (paramagnetic or antiferromagnetic)
    near = near_boundary(test.params)
    rows, record, best = [], {}, None
    for size in sizes:
        h1 = 2.0 * (np.arange(size) + 0.5) / size
        line = phase_dataset("cluster-ising", N_QUBITS, np.stack([h1, 0 * h1], axis=1))
        x, y = torch.as_tensor(line.states), torch.as_tensor((line.labels == 0).astype(int))
        accs, near_accs, afm_accs = [], [], []
        for seed in seeds:
            model = train(x, y, args.seed + seed, epochs)
            with torch.no_grad():
                p = torch.softmax(model(x_test), -1)[:, 1].numpy()
            hit = (p > 0.5) == y_test
            accs.append(hit.mean())
            near_accs.append(hit[near].mean())
            afm_accs.append(hit[test.labels == 2].mean())
            if size == max(sizes) and seed == seeds[0]:
                best = (p, h1)
        rows.append([size, f"{np.mean(accs):.3f} ± {np.std(accs):.3f}",
                     f"{np.mean(near_accs):.3f} ± {np.std(near_accs):.3f}",
                     f"{np.mean(afm_accs):.3f} ± {np.std(afm_accs):.3f}"])
        record[size] = {"accuracy": accs, "near_boundary": near_accs, "antiferromagnetic":
                        afm_accs}
    suffix = "_quick" if args.quick else ""
    p, h1 = best
    plot(test.params, p, h1, RESULTS / f"cong2019{suffix}.png")
    (RESULTS / f"cong2019{suffix}.json").write_text(json.dumps(
        {"n_qubits": N_QUBITS, "epochs": epochs, "seeds": list(seeds),
         "grid_points": len(test.labels), "near_boundary_points": int(near.sum()),
         "results": {str(k): {m: [float(a) for a in v] for m, v in r.items()}
                     for k, r in record.items()}}, indent=1))
    lines = [
        "# Cong, Choi & Lukin 2019: QCNN phase diagram of the cluster-Ising chain", "",
        f"{N_QUBITS}-qubit exact ground states; QCNN with "
        f"{sum(q.numel() for q in QCNN(N_QUBITS, 2, embedding='state').parameters())} "
        f"parameters trained {epochs} epochs (Adam, lr 0.05, full batch) on N points of the "
        f"h2 = 0 line, 0 < h1 < 2; tested on the {len(test.labels)}-point grid 0 < h1 < 1.6, "
        f"-1.6 < h2 < 1.6 (SPT vs not). 'near boundary': the {int(near.sum())} grid points "
        f"within 0.15 (in h2) of a phase boundary. Mean ± std over {len(seeds)} seed(s).", "",
        *table(["training points N", "accuracy (whole plane)", "accuracy near boundary",
                "accuracy in the AFM region (never trained on)"], rows),
        "", f"Phase diagram (N = {max(sizes)}, seed {args.seed}): `cong2019{suffix}.png`.",
    ]
    write_result("cong2019", args.quick, lines, started)


if __name__ == "__main__":
    main()
