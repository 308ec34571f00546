"""Seeded splits and a preprocessing pipeline fitted on the training rows and saved with a run.

Pipeline: encode columns (numbers as they are, missing numbers → the training median;
text → one-hot over the training categories) → standardise → optional PCA → optional
scaling to angles in ``[0, π]``. Image datasets are only divided by the training maximum,
so pixels stay pixels. The whole state is plain lists and numbers, so it is saved inside a
checkpoint that ``torch.load(weights_only=True)`` reads.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

import numpy as np

from qdl.data.registry import Table, class_labels
from qdl.errors import QDLError

SCALES = ("standard", "angle", "image", "state")


def split_indices(
    labels: np.ndarray | None,
    n: int,
    test_size: float,
    val_size: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train / validation / test row indices, stratified by ``labels`` when given.

    Args:
        labels: class of every row (stratifies the split), or ``None`` (regression).
        n: number of rows.
        test_size: fraction of rows for the test set.
        val_size: fraction of rows for the validation set (may be 0).
        seed: seeds the shuffle.

    >>> tr, va, te = split_indices(np.array([0, 1] * 10), 20, 0.2, 0.1, seed=0)
    >>> len(tr), len(va), len(te)
    (14, 2, 4)
    """
    rng = np.random.default_rng(seed)
    groups = [np.arange(n)] if labels is None else [np.flatnonzero(labels == c)
                                                   for c in np.unique(labels)]
    parts: list[list[np.ndarray]] = [[], [], []]
    for group in groups:
        group = rng.permutation(group)
        n_test = round(len(group) * test_size)
        n_val = round(len(group) * val_size)
        parts[2].append(group[:n_test])
        parts[1].append(group[n_test:n_test + n_val])
        parts[0].append(group[n_test + n_val:])
    train, val, test = (np.sort(np.concatenate(p)) for p in parts)
    if len(train) == 0 or len(test) == 0:
        empty = "training" if len(train) == 0 else "test"
        # Stratified splits round per class, so small classes may give no test rows at all.
        how = "" if labels is None else " (rounded per class, to keep class proportions)"
        raise QDLError(f"{n} rows are too few for test_size={test_size}, val_size={val_size}: "
                       f"no {empty} rows{how}; use more rows or change data.test_size / "
                       f"data.val_size")
    return train, val, test


@dataclass
class Preprocessor:
    """Turns a frame's feature columns into a float matrix, and targets into labels/values.

    Build it with :meth:`fit` on the training rows; :meth:`transform` applies the same steps
    to any frame with the same columns. :meth:`state` / :meth:`from_state` save and restore it.

    >>> import pandas as pd
    >>> frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "c": ["x", "y", "x", "y"],
    ...                       "t": ["no", "yes", "no", "yes"]})
    >>> pre = Preprocessor.fit(Table(frame, "t", "classification", "demo"), np.arange(4))
    >>> pre.transform(frame).shape, pre.classes
    ((4, 3), ['no', 'yes'])
    """

    task: str
    target: str
    features: list[str]
    medians: dict[str, float] = field(default_factory=dict)
    categories: dict[str, list[str]] = field(default_factory=dict)
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    components: list[list[float]] | None = None
    scale: str = "standard"
    low: list[float] = field(default_factory=list)
    high: list[float] = field(default_factory=list)
    classes: list[str] | None = None
    target_mean: float = 0.0
    target_std: float = 1.0
    image_shape: list[int] | None = None

    @classmethod
    def fit(
        cls,
        table: Table,
        rows: np.ndarray,
        pca: int | None = None,
        scale: str = "standard",
    ) -> Preprocessor:
        """Fit every step on ``table.frame.iloc[rows]``.

        Args:
            table: the dataset.
            rows: indices of the training rows.
            pca: keep this many principal components (``None``: keep all features).
            scale: ``standard`` (zero mean, unit variance), ``angle`` (then min-max to
                ``[0, π]`` for circuits that encode features as rotation angles), ``image``
                (divide by the training maximum; no standardisation, no PCA) or ``state``
                (quantum-state amplitudes, passed through unchanged).
        """
        if scale not in SCALES:
            raise QDLError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
        frame = table.frame.iloc[rows]
        pre = cls(table.task, table.target, table.features, scale=scale,
                  image_shape=list(table.image_shape) if table.image_shape else None)
        pre._fit_columns(frame)
        pre._fit_target(frame[table.target])
        x = pre._encode(frame)
        if scale == "image":
            pre.mean, pre.std = [0.0] * x.shape[1], [float(max(x.max(), 1e-12))] * x.shape[1]
            return pre
        if scale == "state":
            # Amplitudes of quantum states stay as they are: models read them as states.
            pre.mean, pre.std = [0.0] * x.shape[1], [1.0] * x.shape[1]
            return pre
        pre.mean = x.mean(axis=0).tolist()
        pre.std = np.where(x.std(axis=0) > 1e-12, x.std(axis=0), 1.0).tolist()
        z = (x - pre.mean) / pre.std
        if pca is not None and pca < z.shape[1]:
            pre.components = _principal_components(z, pca).tolist()
            z = z @ np.asarray(pre.components).T
        if scale == "angle":
            pre.low, pre.high = z.min(axis=0).tolist(), z.max(axis=0).tolist()
        return pre

    def _fit_columns(self, frame: Any) -> None:
        for name in self.features:
            column = frame[name]
            if column.dtype.kind in "biuf":  # pandas' string dtypes are not numpy dtypes
                _check_magnitude(column.to_numpy(dtype=float), f"feature column {name!r}")
                median = column.median()
                self.medians[name] = 0.0 if math.isnan(median) else float(median)
            else:
                self.categories[name] = sorted(map(str, column.dropna().unique()))

    def _fit_target(self, target: Any) -> None:
        if self.task == "classification":
            self.classes = sorted(map(str, target.unique()))
            if len(self.classes) < 2:
                raise QDLError(f"the target {self.target!r} has one class only in the "
                               f"training rows: {self.classes}")
        else:
            values = target.to_numpy(dtype=float)
            _check_magnitude(values, f"the target {self.target!r}")
            self.target_mean = float(values.mean())
            self.target_std = float(values.std()) or 1.0

    @property
    def n_outputs(self) -> int:
        """Number of model outputs: classes, or 1 for regression."""
        return len(self.classes) if self.classes else 1

    @property
    def n_features(self) -> int:
        """Width of :meth:`transform`'s output."""
        if self.components is not None:
            return len(self.components)
        return len(self.mean)

    def _encode(self, frame: Any) -> np.ndarray:
        missing = [c for c in self.features if c not in frame.columns]
        if missing:
            raise QDLError(f"the data lacks feature column(s) {', '.join(missing)}; the run "
                           f"was trained on {len(self.features)} features: "
                           f"{', '.join(self.features)}")
        cols = []
        for name in self.features:
            if name in self.categories:
                values = frame[name].astype(str).to_numpy()
                cols.extend((values == c).astype(float) for c in self.categories[name])
            else:
                cols.append(self._numeric(frame[name], name))
        return np.stack(cols, axis=1) if cols else np.zeros((len(frame), 0))

    def _numeric(self, column: Any, name: str) -> np.ndarray:
        try:
            values = column.to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise QDLError(f"feature column {name!r} must be numeric, as in training") from None
        return np.where(np.isnan(values), self.medians[name], values)

    def transform(self, frame: Any) -> np.ndarray:
        """Features ``(N, n_features)`` (float64) of a frame with the training columns."""
        z = (self._encode(frame) - np.asarray(self.mean)) / np.asarray(self.std)
        if self.components is not None:
            z = z @ np.asarray(self.components).T
        if self.scale == "angle":
            low, high = np.asarray(self.low), np.asarray(self.high)
            z = math.pi * (z - low) / np.where(high > low, high - low, 1.0)
        return z

    def encode_target(self, frame: Any) -> np.ndarray:
        """Class indices (int64) or standardised values (float64) of the target column."""
        if self.target not in frame.columns:
            raise QDLError(f"the data has no target column {self.target!r}")
        column = frame[self.target]
        if self.classes is None:
            return (column.to_numpy(dtype=float) - self.target_mean) / self.target_std
        labels = column.astype(str).to_numpy()
        if set(labels) - set(self.classes):  # maybe 1.0 for a class trained as 1
            labels = class_labels(column).to_numpy()
        unknown = sorted(set(labels) - set(self.classes))
        if unknown:
            raise QDLError(f"target values {unknown[:5]} were not seen in training "
                           f"(classes: {self.classes})")
        return np.searchsorted(np.asarray(self.classes), labels).astype(np.int64)

    def decode_target(self, values: np.ndarray) -> np.ndarray:
        """Class names for indices, or values in the target's units for regression."""
        if self.classes is None:
            return values * self.target_std + self.target_mean
        return np.asarray(self.classes)[values]

    def state(self) -> dict[str, Any]:
        """Plain lists and numbers (saved inside a run's checkpoint)."""
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Preprocessor:
        """Rebuild from :meth:`state`; ``QDLError`` naming the first bad or missing field."""
        if not isinstance(state, dict):
            raise QDLError(f"the saved preprocessing is a {type(state).__name__}, not a mapping")
        unknown = sorted(set(state) - set(_STATE_TYPES), key=str)
        if unknown:
            raise QDLError(f"the saved preprocessing has unknown field {unknown[0]!r}")
        # Fields with a default may be absent (saved by an older QDL); the others may not.
        required = [f.name for f in fields(cls) if f.default is MISSING
                    and f.default_factory is MISSING]
        missing = [name for name in required if name not in state]
        if missing:
            raise QDLError(f"the saved preprocessing lacks the field {missing[0]!r}")
        for name, value in state.items():
            if not _STATE_TYPES[name](value):
                raise QDLError(f"the saved preprocessing has a malformed {name!r}: "
                               f"{_short(value)}")
        pre = cls(**state)
        pre._check_sizes()
        return pre

    def _check_sizes(self) -> None:
        """The saved lists must fit together, or transform would fail (or lie) later."""
        width = sum(len(self.categories[f]) if f in self.categories else 1
                    for f in self.features)
        problems = [
            (set(self.features) != set(self.medians) | set(self.categories),
             "features do not match the medians and categories"),
            (len(self.mean) != width or len(self.std) != width,
             f"mean/std do not have the {width} encoded columns"),
            (self.components is not None
             and any(len(row) != width for row in self.components),
             f"PCA components do not have {width} columns"),
            (self.scale == "angle" and (len(self.low) != self.n_features
                                        or len(self.high) != self.n_features),
             "angle scaling bounds do not match the features"),
            ((self.classes is None) != (self.task == "regression"),
             f"classes do not match the task {self.task!r}"),
            (self.image_shape is not None and math.prod(self.image_shape) != width,
             f"the image shape does not hold {width} pixels"),
        ]
        for bad, what in problems:
            if bad:
                raise QDLError(f"the saved preprocessing is inconsistent: {what}")


def _check_magnitude(values: np.ndarray, what: str) -> None:
    """``QDLError`` when ``values`` are too large to standardise in float64.

    Their variance would overflow to inf and turn every feature into NaN, with numpy
    warnings on the way; say which column instead.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        spread = np.nanstd(values) if np.isfinite(values).any() else 0.0
    if not np.isfinite(spread):
        raise QDLError(f"{what} holds values too large to standardise (up to "
                       f"{np.nanmax(np.abs(values)):.3g}); rescale it (e.g. other units)")


def _floats(value: Any) -> bool:
    return isinstance(value, list) and all(_number(v) for v in value)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


_STATE_TYPES: dict[str, Callable[[Any], bool]] = {
    "task": lambda v: v in ("classification", "regression"),
    "target": lambda v: isinstance(v, str),
    "features": _strings,
    "medians": lambda v: isinstance(v, dict) and all(_number(x) for x in v.values()),
    "categories": lambda v: isinstance(v, dict) and all(_strings(x) for x in v.values()),
    "mean": _floats,
    "std": _floats,
    "components": lambda v: v is None or (isinstance(v, list) and all(map(_floats, v))),
    "scale": lambda v: v in SCALES,
    "low": _floats,
    "high": _floats,
    "classes": lambda v: v is None or _strings(v),
    "target_mean": _number,
    "target_std": _number,
    "image_shape": lambda v: v is None or (isinstance(v, list) and len(v) == 2
                                           and all(isinstance(x, int) and x > 0 for x in v)),
}


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _principal_components(z: np.ndarray, k: int) -> np.ndarray:
    """The top-``k`` right singular vectors of centred ``z``, with a fixed sign convention."""
    _, _, vt = np.linalg.svd(z - z.mean(axis=0), full_matrices=False)
    vt = vt[:k]
    # SVD signs are arbitrary; fix them so the same data always gives the same features.
    signs = np.sign(vt[np.arange(k), np.abs(vt).argmax(axis=1)])
    return vt * signs[:, None]
