"""Blood–brain-barrier permeability: RDKit descriptors vs descriptors + quantum chemistry.

``python -m benchmarks.qchem_features [--molecules 300] [--max-heavy 15] [--seeds 5]``

A fixed subset of B3DB (``bbbp``): molecules whose largest fragment has at most
``--max-heavy`` heavy atoms (so every Hartree–Fock finishes in seconds on a laptop), drawn
with ``numpy.random.default_rng(0)``. Each molecule gets the eight RHF/STO-3G features of
:mod:`qdl.data.qchem`. The same rows then train the application's models (``hybrid``,
``logistic``, ``mlp``; 30 epochs, Adam, lr 0.02, batch 32, split 70/10/20 seeded by the run
seed, weights of the lowest validation loss) on three feature sets: ``descriptors`` (the
ten RDKit descriptors), ``qchem`` (the eight HF features) and ``both``. Reported: test
accuracy and ROC-AUC (probability of BBB+), mean ± std over the seeds, and the
feature-computation time per molecule (an empty cache: set ``QDL_CACHE``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import numpy as np
import torch

from qdl.app.config import validate
from qdl.app.evaluation import predict_outputs
from qdl.app.runner import Trainer, prepare
from qdl.data import load_dataset
from qdl.data.qchem import QCHEM_FEATURES, with_qchem

torch.set_num_threads(1)


def _subset(n: int, max_heavy: int):
    from rdkit import Chem

    table = load_dataset("bbbp")
    heavy = []
    for s in table.smiles:
        frags = Chem.GetMolFrags(Chem.MolFromSmiles(s), asMols=True)
        heavy.append(max(f.GetNumHeavyAtoms() for f in frags))
    small = np.flatnonzero(np.array(heavy) <= max_heavy)
    rows = np.sort(np.random.default_rng(0).choice(small, n, replace=False))
    frame = table.frame.iloc[rows].reset_index(drop=True)
    return replace(table, frame=frame, smiles=tuple(table.smiles[i] for i in rows)), len(small)


def _score(kind: str, table, seed: int) -> tuple[float, float]:
    from sklearn.metrics import roc_auc_score

    cfg = validate({"data": {"name": "bbbp"}, "model": {"kind": kind},
                    "train": {"epochs": 30, "seed": seed}})
    data = prepare(cfg, table)
    trainer = Trainer(cfg, data)
    trainer.fit()
    trainer.select()
    out = predict_outputs(trainer.model, data.x["test"])
    y = data.y["test"].numpy()
    positive = list(data.pre.classes).index("BBB+")
    prob = torch.softmax(out.double(), -1)[:, positive].numpy()
    accuracy = float((out.argmax(-1).numpy() == y).mean())
    return accuracy, float(roc_auc_score(y == positive, prob))


def main() -> None:
    """Compute the features, train every model on every feature set, print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--molecules", type=int, default=300)
    parser.add_argument("--max-heavy", type=int, default=15)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    table, pool = _subset(args.molecules, args.max_heavy)
    start = time.perf_counter()
    both = with_qchem(table, "both")
    seconds = time.perf_counter() - start
    missing = int(both.frame[list(QCHEM_FEATURES)].isna().any(axis=1).sum())
    sets = {"descriptors": table, "qchem": with_qchem(table, "qchem"), "both": both}
    labels = table.frame[table.target]
    print(f"{len(table.frame)} molecules drawn (seed 0) from the {pool} B3DB molecules with "
          f"<= {args.max_heavy} heavy atoms; BBB+ share {float((labels == 'BBB+').mean()):.2f}; "
          f"features: {seconds:.0f} s ({seconds / len(table.frame):.2f} s per molecule), "
          f"{missing} without quantum features")
    print(f"\n| model | features | accuracy | ROC-AUC |  ({args.seeds} seeds)")
    print("|---|---|---|---|")
    for kind in ("hybrid", "logistic", "mlp"):
        for name, variant in sets.items():
            scores = [_score(kind, variant, seed) for seed in range(args.seeds)]
            acc, auc = zip(*scores, strict=True)
            print(f"| {kind} | {name} | {statistics.mean(acc):.3f} ± {statistics.stdev(acc):.3f}"
                  f" | {statistics.mean(auc):.3f} ± {statistics.stdev(auc):.3f} |", flush=True)


if __name__ == "__main__":
    main()
