"""The one list of each choice the app offers, checked against the library's own constants.

The config schema's ``Literal`` types (:mod:`qdl.app.config`) and the ``qdl`` command's
argparse ``choices`` are both made from these. No pydantic here: the CLI builds its parsers
from this module even when the ``app`` extra is not installed. No torch either: ``qdl train``
reads and checks its config, and says what it is about to do, before it imports torch (~1 s).
The lists that the library defines in modules importing torch are therefore written out
here; ``tests/app/test_choices.py`` fails when one differs from the library's constant, so a
new ansatz, dtype or gradient method must be added here too.
"""

from __future__ import annotations

from qdl.data.qchem import FEATURE_SETS

QUANTUM_MODELS = ("hybrid", "vqc", "qcnn", "quanvolution")
MODELS = (*QUANTUM_MODELS, "logistic", "mlp")
# qdl.models.ANSATZE
ANSATZE = ("strongly_entangling", "basic", "hardware_efficient", "reuploading")
# the values of qdl.grad.DiffMethod
DIFF_METHODS = ("backprop", "adjoint", "parameter-shift", "finite-diff", "best")
# qdl.nn.layer.INITS
INITS = ("uniform", "small", "zeros")
# the keys of qdl.models.DTYPES
PRECISIONS = ("float32", "float64")
OPTIMIZERS = ("adam", "adamw", "sgd")
DEVICES = ("cpu", "cuda", "auto")
TASKS = ("classification", "regression")
SELECTS = ("best_val", "last")

__all__ = ["ANSATZE", "DEVICES", "DIFF_METHODS", "FEATURE_SETS", "INITS", "MODELS", "OPTIMIZERS",
           "PRECISIONS", "QUANTUM_MODELS", "SELECTS", "TASKS"]
