"""The run configuration: a validated schema, read from YAML, TOML or JSON, or built from flags.

Unknown keys and wrong types are errors that name the key (``train.epochs: Input should be
greater than 0``), never silently ignored.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Literal

# The schema's literals come from the one list of each choice (also the CLI's choices).
from qdl.app.choices import (
    ANSATZE,
    DEVICES,
    DIFF_METHODS,
    FEATURE_SETS,
    INITS,
    MODELS,
    OPTIMIZERS,
    PRECISIONS,
    SELECTS,
    TASKS,
)
from qdl.configfile import read_config  # noqa: F401 (the one config reader, re-exported)
from qdl.errors import QDLError

try:
    from pydantic import (
        BaseModel,
        BeforeValidator,
        ConfigDict,
        Field,
        ValidationError,
        field_validator,
        model_validator,
    )
except ImportError:  # pragma: no cover - exercised only without the app extra
    raise QDLError('the qdl application needs pydantic: pip install "qdl[app]"') from None


# Bounds of the numeric fields. Values beyond them pass a type check and then crash or hang
# deep inside numpy/torch (negative or 65-bit seeds, an lr that overflows float32, 10**8
# circuit layers), so the schema refuses them up front, naming the key.
MAX_SEED = 2**32 - 1  # numpy's legacy seed range; the epoch generators multiply it by ~1e6
MIN_LR, MAX_LR = 1e-10, 10.0  # below 1e-10 float32 steps vanish; above 10 nothing converges
MAX_WEIGHT_DECAY = 10.0
MAX_EPOCHS = 100_000
MAX_ROWS = 10**9  # batch_size and max_samples; larger values mean "all rows" anyway
MAX_LAYERS = 1_000  # circuit layers; 1000 already take seconds per batch on 4 qubits
MAX_WIDTH = 100_000  # one hidden layer or PCA; memory is checked again before building
MAX_HIDDEN_LAYERS = 100
MAX_QUBITS = 24  # a 24-qubit state vector is 128 MiB per row in complex64


def _not_bool(value: Any) -> Any:
    # YAML's `epochs: yes` would otherwise count as 1 epoch.
    if isinstance(value, bool):
        raise ValueError("Input should be a valid integer, not a boolean")
    return value


Int = Annotated[int, BeforeValidator(_not_bool)]


class _Strict(BaseModel):
    # inf/NaN pass gt=0 style bounds (or fail them with a confusing message); refuse them.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DataConfig(_Strict):
    """Where the data comes from and how it is split and preprocessed."""

    name: str | None = Field(None, description="registry dataset (qdl datasets lists them)")
    csv: str | None = Field(None, description="a CSV file instead of a registry dataset")
    target: str | None = Field(None, description="target column of the CSV file")
    task: Literal[TASKS] | None = None  # type: ignore[valid-type]
    test_size: float = Field(0.2, gt=0, lt=1)
    val_size: float = Field(0.1, ge=0, lt=1)
    max_samples: Int | None = Field(None, gt=1, le=MAX_ROWS,
                                    description="random subset of the rows")
    features: Literal[FEATURE_SETS] = Field(  # type: ignore[valid-type]
        "descriptors", description="molecule datasets (bbbp, chembl-pic50): RDKit descriptors, "
                                   "qchem (RHF/STO-3G features, qdl.data.qchem) or both")
    pca: Int | Literal["auto"] | None = Field(
        "auto", description="principal components to keep; auto: the qubit count for models "
                            "that encode features directly on qubits (vqc, qcnn)")

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if (self.name is None) == (self.csv is None):
            raise ValueError("give exactly one of data.name (a registry dataset) and data.csv")
        if self.csv is not None and self.target is None:
            raise ValueError("data.csv needs data.target, the column to predict")
        if self.test_size + self.val_size >= 1:
            raise ValueError("data.test_size + data.val_size must be below 1")
        return self

    @field_validator("pca")
    @classmethod
    def _positive_pca(cls, pca: int | str | None) -> int | str | None:
        # A field check (not a model check) so the error names data.pca and its value.
        if isinstance(pca, int) and not 1 <= pca <= MAX_WIDTH:
            raise ValueError(f"data.pca must be between 1 and {MAX_WIDTH}")
        return pca


class ModelConfig(_Strict):
    """Which model, and the shape of its circuit and classical parts."""

    kind: Literal[MODELS] = "hybrid"  # type: ignore[valid-type]
    qubits: Int = Field(4, ge=1, le=MAX_QUBITS)
    layers: Int = Field(2, ge=1, le=MAX_LAYERS)
    ansatz: Literal[ANSATZE] = "strongly_entangling"  # type: ignore[valid-type]
    hidden: list[Int] = Field([16], max_length=MAX_HIDDEN_LAYERS,
                              description="widths of hidden layers (pre-net or MLP)")
    init: Literal[INITS] = "uniform"  # type: ignore[valid-type]

    @field_validator("hidden")
    @classmethod
    def _positive_widths(cls, hidden: list[int]) -> list[int]:
        if any(not 1 <= h <= MAX_WIDTH for h in hidden):
            raise ValueError(f"model.hidden widths must be between 1 and {MAX_WIDTH}")
        return hidden


class TrainConfig(_Strict):
    """Optimiser, schedule, seed, device and gradient method."""

    optimizer: Literal[OPTIMIZERS] = "adam"  # type: ignore[valid-type]
    lr: float = Field(0.02, ge=MIN_LR, le=MAX_LR)
    weight_decay: float = Field(0.0, ge=0, le=MAX_WEIGHT_DECAY)
    epochs: Int = Field(30, ge=1, le=MAX_EPOCHS)
    batch_size: Int = Field(32, ge=1, le=MAX_ROWS)
    seed: Int = Field(0, ge=0, le=MAX_SEED, description="seeds numpy and torch")
    device: Literal[DEVICES] = "auto"  # type: ignore[valid-type]
    diff_method: Literal[DIFF_METHODS] = "best"  # type: ignore[valid-type]
    dtype: Literal[PRECISIONS] = "float32"  # type: ignore[valid-type]
    tensorboard: bool = Field(False, description="write TensorBoard event files into "
                                                 "RUN/tensorboard (needs qdl[tensorboard])")
    select: Literal[SELECTS] = Field(  # type: ignore[valid-type]
        "best_val", description="final weights: the epoch with the lowest validation loss "
                                "(the last epoch when there is no validation split), or the last")


class RunConfig(_Strict):
    """A whole training run: ``data``, ``model`` and ``train`` sections.

    >>> cfg = RunConfig.model_validate({"data": {"name": "iris"}, "train": {"epochs": 5}})
    >>> cfg.model.kind, cfg.train.epochs
    ('hybrid', 5)
    """

    data: DataConfig
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()

    def resolved_pca(self, n_features: int) -> int | None:
        """Number of PCA components to keep for ``n_features`` input features (or None)."""
        pca = self.data.pca
        if pca == "auto":
            direct = self.model.kind in ("vqc", "qcnn")
            pca = self.model.qubits if direct and n_features > self.model.qubits else None
        return pca if pca is None or pca < n_features else None


def validate(data: dict[str, Any], source: str = "config") -> RunConfig:
    """A :class:`RunConfig` from a nested dict; ``QDLError`` naming the first bad key.

    >>> validate({"data": {"name": "iris"}, "trian": {}})
    Traceback (most recent call last):
    qdl.errors.QDLError: config: trian: unknown key (did you mean 'train'?)
    """
    if not isinstance(data, dict):
        raise QDLError(f"{source}: expected a mapping with data/model/train sections")
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        # A misspelt key usually also leaves a required one missing: name the typo first.
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        first = errors[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = _unknown_key(first["loc"])
        got = "" if first["type"] in ("missing", "extra_forbidden") or not first["loc"] \
            else f" (got {_short(first.get('input'))})"
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise QDLError(f"{source}: {where}: {message}{got}{more}") from None


def _unknown_key(loc: tuple[Any, ...]) -> str:
    """``unknown key (did you mean 'epochs'?)`` for the misspelt key at ``loc``."""
    model: Any = RunConfig
    for part in loc[:-1]:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        model = field.annotation if field is not None else None
        if not isinstance(model, type) or not issubclass(model, BaseModel):
            return "unknown key"
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1, cutoff=0.5)
    known = ", ".join(model.model_fields)
    return f"unknown key (did you mean {close[0]!r}?)" if close else \
        f"unknown key (known keys: {known})"


def differences(old: RunConfig, new: RunConfig) -> list[str]:
    """The dotted keys whose values differ between two configs.

    >>> a = validate({"data": {"name": "iris"}})
    >>> differences(a, validate({"data": {"name": "iris"}, "train": {"lr": 0.1}}))
    ['train.lr']
    """
    before, after = old.model_dump(), new.model_dump()
    return [f"{s}.{k}" for s in before for k in before[s] if before[s][k] != after[s][k]]


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters so a huge list stays one readable line."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def merge(base: dict[str, Any], overrides: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``base`` with each section updated by the non-``None`` values of ``overrides``.

    >>> merge({"train": {"epochs": 5, "lr": 0.1}}, {"train": {"epochs": 9, "seed": None}})
    {'train': {'epochs': 9, 'lr': 0.1}}
    """
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for section, values in overrides.items():
        given = {k: v for k, v in values.items() if v is not None}
        if given:
            current = out.get(section)
            out[section] = {**(current if isinstance(current, dict) else {}), **given}
    return out
