"""Datasets that work offline, and the preprocessing saved with every run.

* :data:`DATASETS` — the registry (``qdl datasets`` prints it); :func:`load_dataset`;
* :func:`load_csv` — any CSV file with a named target column (:func:`read_csv` reads it);
* :func:`split_indices` — seeded, stratified train/validation/test split;
* :class:`Preprocessor` — encoding, standardisation, PCA and angle scaling, fitted on the
  training rows.

>>> from qdl.data import load_dataset, split_indices, Preprocessor
>>> table = load_dataset("moons")
>>> train, val, test = split_indices(None, len(table.frame), 0.2, 0.1, seed=0)
>>> Preprocessor.fit(table, train).transform(table.frame).shape
(400, 2)
"""

from qdl.data.preprocess import Preprocessor, split_indices
from qdl.data.registry import DATASETS, DatasetInfo, Table, load_csv, load_dataset, read_csv

__all__ = ["DATASETS", "DatasetInfo", "Preprocessor", "Table", "load_csv", "load_dataset",
           "read_csv", "split_indices"]
