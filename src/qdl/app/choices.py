"""The one list of each choice the app offers, built from the library's own constants.

The config schema's ``Literal`` types (:mod:`qdl.app.config`) and the ``qdl`` command's
argparse ``choices`` are both made from these, so a new ansatz, dtype or gradient method in
the library appears in both at once. No pydantic here: the CLI builds its parsers from this
module even when the ``app`` extra is not installed.
"""

from __future__ import annotations

from qdl.data.qchem import FEATURE_SETS
from qdl.grad import DiffMethod
from qdl.models import ANSATZE, DTYPES
from qdl.nn.layer import INITS

QUANTUM_MODELS = ("hybrid", "vqc", "qcnn", "quanvolution")
MODELS = (*QUANTUM_MODELS, "logistic", "mlp")
DIFF_METHODS = tuple(m.value for m in DiffMethod)
OPTIMIZERS = ("adam", "adamw", "sgd")
DEVICES = ("cpu", "cuda", "auto")
TASKS = ("classification", "regression")
PRECISIONS = tuple(DTYPES)
SELECTS = ("best_val", "last")

__all__ = ["ANSATZE", "DEVICES", "DIFF_METHODS", "FEATURE_SETS", "INITS", "MODELS", "OPTIMIZERS",
           "PRECISIONS", "QUANTUM_MODELS", "SELECTS", "TASKS"]
