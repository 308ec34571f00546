"""scikit-learn estimators around the QDL models (needs the optional extra ``qdl[ml]``).

* :class:`QNNClassifier` / :class:`QNNRegressor`: a :class:`qdl.models.HybridClassifier` /
  :class:`qdl.models.HybridRegressor` trained with Adam inside ``fit``;
* :class:`QSVC`: a :class:`qdl.models.QuantumKernel` Gram matrix fed to
  ``sklearn.svm.SVC(kernel="precomputed")``.

They follow the scikit-learn estimator API (``fit`` / ``predict`` / ``predict_proba`` /
``score``, ``get_params`` / ``set_params``; every hyperparameter is an ``__init__`` argument
stored unchanged) and work in ``Pipeline``, ``GridSearchCV`` and ``cross_val_score``. A fixed
``random_state`` makes ``fit`` reproducible. Features are scaled **inside** the estimators
(statistics from the training data, see each class); targets of :class:`QNNRegressor` are
standardised inside too. Bad input (wrong feature count, NaN/inf, ...) raises
:class:`qdl.QDLError` (a ``ValueError``) with scikit-learn's message.

``import qdl`` never imports scikit-learn; this module imports it when it is itself imported,
and without it every estimator raises ``QDLError`` on construction.

>>> import numpy as np
>>> from qdl.sklearn import QSVC
>>> X = np.array([[0.0, 0.1], [0.2, 0.0], [1.0, 0.9], [0.9, 1.1]])
>>> QSVC(C=10.0, random_state=0).fit(X, [0, 0, 1, 1]).predict([[0.1, 0.0], [1.0, 1.0]])
array([0, 1])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from qdl.errors import QDLError
from qdl.models import DTYPES, HybridClassifier, HybridRegressor, QuantumKernel, train_model

MISSING = "scikit-learn is needed for qdl.sklearn: pip install 'qdl[ml]'"

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.validation import check_is_fitted, check_random_state
except ImportError:  # pragma: no cover - exercised only without scikit-learn
    _HAVE_SKLEARN = False

    class BaseEstimator:  # type: ignore[no-redef]
        """Stand-in when scikit-learn is missing: estimators refuse to be built."""

    class ClassifierMixin:  # type: ignore[no-redef]
        """Stand-in when scikit-learn is missing."""

    class RegressorMixin:  # type: ignore[no-redef]
        """Stand-in when scikit-learn is missing."""

    def available_if(check: Callable) -> Callable:  # type: ignore[no-redef]
        return lambda method: method
else:
    _HAVE_SKLEARN = True

__all__ = ["QSVC", "QNNClassifier", "QNNRegressor"]

MAX_FLOAT_CLASSES = 10  # more distinct float targets than this: a regression target
_CHUNK = 4096  # samples per forward pass at prediction time


def require_sklearn() -> None:
    """Raise ``QDLError`` with the install hint when scikit-learn is not installed."""
    if not _HAVE_SKLEARN:
        raise QDLError(MISSING)


def _validate(estimator: BaseEstimator, X: object, y: object = "no_validation", *,
              reset: bool, **kwargs: object) -> object:
    """scikit-learn's input validation (any version >= 1.3), errors as ``QDLError``."""
    try:
        from sklearn.utils.validation import validate_data
    except ImportError:  # scikit-learn < 1.6
        validate_data = type(estimator)._validate_data  # type: ignore[attr-defined]
    try:
        return validate_data(estimator, X, y, reset=reset, **kwargs)
    except ValueError as exc:
        if isinstance(exc, QDLError):
            raise
        raise QDLError(str(exc)) from exc


def _class_targets(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(classes, indices)`` for classification targets; ``QDLError`` otherwise."""
    from sklearn.utils.multiclass import check_classification_targets, type_of_target

    kind = type_of_target(y)
    distinct = len(np.unique(y)) if kind != "continuous" else None
    # Float targets with many distinct values are measurements, not labels (19 values of a
    # rounded measurement would otherwise become 19 classes); integers and strings are labels.
    if kind == "continuous" or (np.asarray(y).dtype.kind == "f" and distinct is not None
                                and distinct > MAX_FLOAT_CLASSES):
        what = "continuous" if kind == "continuous" else f"{distinct} distinct float values"
        raise QDLError(f"y looks like a regression target ({what}); use QNNRegressor for it, "
                       f"or pass integer or string labels if these are classes")
    try:
        check_classification_targets(y)
    except ValueError as exc:
        raise QDLError(str(exc)) from exc
    classes, indices = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise QDLError(f"a classifier needs samples of at least 2 classes, got 1 class "
                       f"({classes[0]!r})")
    return classes, indices


def _dtype(name: object) -> torch.dtype:
    if name not in DTYPES:
        raise QDLError(f"dtype must be one of {', '.join(DTYPES)}, got {name!r}")
    return DTYPES[name]  # type: ignore[index]


def _seed(random_state: object) -> int:
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


class _QNN(BaseEstimator):
    """Shared hyperparameters, scaling and training of the QNN estimators."""

    def __init__(
        self,
        n_qubits: int = 4,
        layers: int = 2,
        hidden_sizes: Sequence[int] = (16,),
        ansatz: str = "strongly_entangling",
        epochs: int = 100,
        batch_size: int | None = 32,
        learning_rate: float = 0.05,
        weight_decay: float = 0.0,
        scaling: str | None = "standard",
        dtype: str = "float64",
        diff_method: str = "best",
        random_state: int | np.random.RandomState | None = None,
        verbose: bool = False,
    ):
        require_sklearn()
        self.n_qubits = n_qubits
        self.layers = layers
        self.hidden_sizes = hidden_sizes
        self.ansatz = ansatz
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.scaling = scaling
        self.dtype = dtype
        self.diff_method = diff_method
        self.random_state = random_state
        self.verbose = verbose

    def _fit_scaling(self, X: np.ndarray) -> np.ndarray:
        if self.scaling not in ("standard", None):
            raise QDLError(f"scaling must be 'standard' or None, got {self.scaling!r}")
        self.x_mean_ = X.mean(0) if self.scaling else np.zeros(X.shape[1])
        std = X.std(0) if self.scaling else np.ones(X.shape[1])
        self.x_scale_ = np.where(std > 0, std, 1.0)
        return self._scale(X)

    def _scale(self, X: np.ndarray) -> torch.Tensor:
        return torch.as_tensor((X - self.x_mean_) / self.x_scale_, dtype=_dtype(self.dtype))

    def _train(self, model_class: type, X: np.ndarray, y: torch.Tensor, n_out: int,
               loss: str) -> None:
        x = self._fit_scaling(X)
        seed = _seed(self.random_state)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model_ = model_class(X.shape[1], n_out, self.n_qubits, self.layers,
                                      self.hidden_sizes, ansatz=self.ansatz,
                                      diff_method=self.diff_method, dtype=_dtype(self.dtype))
        self.loss_curve_ = train_model(
            self.model_, x, y, loss=loss, epochs=self.epochs, batch_size=self.batch_size,
            learning_rate=self.learning_rate, weight_decay=self.weight_decay, seed=seed,
            verbose=self.verbose)

    def _outputs(self, X: object) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = _validate(self, X, reset=False, dtype=np.float64)
        x = self._scale(X)
        with torch.no_grad():
            out = [self.model_(x[i:i + _CHUNK]) for i in range(0, len(x), _CHUNK)]
        return torch.cat(out).double().numpy()


class QNNClassifier(ClassifierMixin, _QNN):
    """Quantum neural-network classifier: a hybrid model trained with Adam in ``fit``.

    The model is :class:`qdl.models.HybridClassifier`: a pre-net (``Linear`` layers of widths
    ``hidden_sizes``) → ``n_qubits``-qubit circuit (``ry`` angle encoding of
    ``(π/2)·tanh(·)``, ``layers`` layers of ``ansatz``, ``⟨Z_i⟩`` readout) → ``Linear`` to one
    logit per class, trained on the cross-entropy.

    **Scaling**: with ``scaling="standard"`` (default) every feature is standardised inside
    (mean 0, standard deviation 1 on the training data; constant features are only
    centred) before the pre-net; ``None`` feeds the raw features.

    Args:
        n_qubits: circuit width.
        layers: trainable circuit layers.
        hidden_sizes: pre-net hidden widths (``()``: a single ``Linear``).
        ansatz: ``strongly_entangling``, ``basic``, ``hardware_efficient`` or
            ``reuploading``.
        epochs: passes over the training data.
        batch_size: samples per Adam step (``None``: full batch).
        learning_rate: Adam step size.
        weight_decay: Adam L2 penalty.
        scaling: ``"standard"`` or ``None`` (see above).
        dtype: ``"float64"`` (default; circuits in complex128) or ``"float32"``.
        diff_method: gradient method of the circuit (see :func:`qdl.expval`).
        random_state: seeds the initial weights and the shuffling.
        verbose: print the loss during training.

    Attributes:
        classes_: the class labels.
        model_: the trained ``torch.nn.Module``.
        loss_curve_: mean training loss per epoch.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 2))
    >>> y = np.where(X[:, 0] > 0, "pos", "neg")
    >>> clf = QNNClassifier(n_qubits=2, layers=1, epochs=30, random_state=0).fit(X, y)
    >>> clf.classes_, clf.score(X, y) > 0.9, clf.predict_proba(X[:2]).shape
    (array(['neg', 'pos'], dtype='<U3'), True, (2, 2))
    """

    def fit(self, X: object, y: object) -> QNNClassifier:
        """Train on features ``X`` ``(n_samples, n_features)`` and labels ``y``."""
        X, y = _validate(self, X, y, reset=True, dtype=np.float64)
        self.classes_, indices = _class_targets(y)
        self._train(HybridClassifier, X, torch.as_tensor(indices), len(self.classes_),
                    "cross_entropy")
        return self

    def predict_proba(self, X: object) -> np.ndarray:
        """Class probabilities ``(n_samples, n_classes)``, columns in ``classes_`` order."""
        logits = self._outputs(X)
        p = np.exp(logits - logits.max(1, keepdims=True))
        return p / p.sum(1, keepdims=True)

    def predict(self, X: object) -> np.ndarray:
        """The most likely class label per sample."""
        best = self._outputs(X).argmax(1)
        return self.classes_[best]


class QNNRegressor(RegressorMixin, _QNN):
    """Quantum neural-network regressor: a hybrid model trained with Adam in ``fit``.

    The model is :class:`qdl.models.HybridRegressor` (see :class:`QNNClassifier` for the
    architecture and every hyperparameter) with one linear output, trained on the mean
    squared error. Features are scaled as in :class:`QNNClassifier`; the target is always
    standardised inside (training mean and standard deviation) and predictions are mapped
    back.

    Attributes:
        model_: the trained ``torch.nn.Module``.
        loss_curve_: mean training loss per epoch (on the standardised target).

    >>> import numpy as np
    >>> X = np.linspace(-1, 1, 40)[:, None]
    >>> reg = QNNRegressor(n_qubits=2, layers=1, epochs=60, random_state=0).fit(X, 3 * X[:, 0])
    >>> reg.score(X, 3 * X[:, 0]) > 0.95
    True
    """

    def fit(self, X: object, y: object) -> QNNRegressor:
        """Train on features ``X`` ``(n_samples, n_features)`` and real targets ``y``."""
        X, y = _validate(self, X, y, reset=True, dtype=np.float64, y_numeric=True)
        y = np.asarray(y, dtype=np.float64)
        self.y_mean_ = float(y.mean())
        std = float(y.std())
        self.y_scale_ = std if std > 0 else 1.0
        target = torch.as_tensor((y - self.y_mean_) / self.y_scale_)[:, None]
        self._train(HybridRegressor, X, target, 1, "mse")
        return self

    def predict(self, X: object) -> np.ndarray:
        """Predicted targets ``(n_samples,)``."""
        return self._outputs(X)[:, 0] * self.y_scale_ + self.y_mean_


def _has_probability(estimator: QSVC) -> bool:
    if not estimator.probability:
        raise AttributeError("predict_proba is available only with probability=True")
    return True


AUTO_BANDWIDTHS = {"minmax": (0.05, 0.1, 0.2, 0.5, 1.0), None: (0.25, 0.5, 1.0)}


def centered_alignment(gram: np.ndarray, target: np.ndarray) -> float:
    """Centred kernel-target alignment ``<K_c, Y_c>_F / (‖K_c‖ ‖Y_c‖)`` (0 if degenerate).

    >>> y = np.array([[1.0, -1.0], [-1.0, 1.0]])
    >>> round(centered_alignment(np.eye(2), y), 6)
    1.0
    """
    n = len(gram)
    h = np.eye(n) - 1.0 / n
    kc, yc = h @ gram @ h, h @ target @ h
    norm = np.linalg.norm(kc) * np.linalg.norm(yc)
    return float((kc * yc).sum() / norm) if norm > 0 else 0.0


class QSVC(ClassifierMixin, BaseEstimator):
    """Support-vector classifier on a quantum fidelity kernel.

    ``fit`` computes the Gram matrix of :class:`qdl.models.QuantumKernel` (one qubit per
    feature) on the training data and fits ``sklearn.svm.SVC(kernel="precomputed")``;
    ``predict`` computes the kernel between new samples and the support vectors only.

    **Scaling**: with ``scaling="minmax"`` every feature is mapped inside to ``[-1, 1]``
    (training minimum and maximum; constant features to 0), then multiplied by ``bandwidth``
    before the feature map; ``None`` feeds ``bandwidth·x`` (the features are the angles, as
    in Qiskit's ``QSVC``). The ZZ feature map concentrates (its Gram matrix tends to the
    identity) on wide feature ranges, so no single setting suits every dataset: by default
    (``scaling="auto"``, ``bandwidth="auto"``) ``fit`` computes the Gram matrix of at most
    200 training samples for raw features (bandwidth 0.25, 0.5, 1) and min-max scaled ones
    (0.05, 0.1, 0.2, 0.5, 1) and keeps the setting whose kernel is best aligned with the
    labels (centred kernel-target alignment, Cortes, Mohri & Rostamizadeh, JMLR 13, 795
    (2012)); ``scaling_``, ``bandwidth_`` and ``alignments_`` record the choice. Give both
    explicitly (or tune them with ``GridSearchCV``) to skip it. Reduce many features first
    (e.g. ``StandardScaler`` + ``PCA`` in a ``Pipeline``): more than ``max_qubits``
    features raise ``QDLError``.

    Args:
        feature_map: ``"zz"`` or ``"angle"`` (see :class:`qdl.models.QuantumKernel`).
        reps: repetitions of the ZZ feature map.
        entanglement: ZZ coupling pattern (``full``, Qiskit's default, ``linear``, ``ring``).
        bandwidth: factor on the scaled features, or ``"auto"`` (see above).
        scaling: ``"minmax"``, ``None`` or ``"auto"`` (see above).
        C: SVC regularisation.
        class_weight: passed to ``SVC``.
        probability: enable ``predict_proba``: Platt scaling fitted on 5-fold
            cross-validated decision values (``CalibratedClassifierCV(..., ensemble=False)``);
            its most likely class can differ from ``predict`` near the boundary.
        tile_size: Gram-matrix tile size (memory bound, see ``QuantumKernel``).
        max_qubits: refuse more features than this.
        dtype: ``"float64"`` (complex128 states, default) or ``"float32"``.
        random_state: passed to ``SVC`` (used by ``probability``).

    Attributes:
        classes_: the class labels.
        kernel_: the :class:`qdl.models.QuantumKernel`.
        svc_: the fitted ``SVC``.
        calibrator_: the probability model (only with ``probability=True``).
        X_fit_: the scaled training features.
        scaling_: the scaling used (chosen when ``scaling="auto"``).
        bandwidth_: the bandwidth used (chosen when ``bandwidth="auto"``).
        alignments_: ``{(scaling, bandwidth): alignment}`` of the candidates tried.
    """

    def __init__(
        self,
        feature_map: str = "zz",
        reps: int = 2,
        entanglement: str = "full",
        bandwidth: float | str = "auto",
        scaling: str | None = "auto",
        C: float = 1.0,
        class_weight: dict | str | None = None,
        probability: bool = False,
        tile_size: int = 256,
        max_qubits: int = 20,
        dtype: str = "float64",
        random_state: int | np.random.RandomState | None = None,
    ):
        require_sklearn()
        self.feature_map = feature_map
        self.reps = reps
        self.entanglement = entanglement
        self.bandwidth = bandwidth
        self.scaling = scaling
        self.C = C
        self.class_weight = class_weight
        self.probability = probability
        self.tile_size = tile_size
        self.max_qubits = max_qubits
        self.dtype = dtype
        self.random_state = random_state

    def _scale(self, X: np.ndarray) -> torch.Tensor:
        return torch.as_tensor((X - self.x_center_) / self.x_half_range_,
                               dtype=_dtype(self.dtype))

    def fit(self, X: object, y: object) -> QSVC:
        """Fit the SVC on the quantum Gram matrix of ``X`` ``(n_samples, n_features)``."""
        from sklearn.svm import SVC

        X, y = _validate(self, X, y, reset=True, dtype=np.float64)
        self.classes_, indices = _class_targets(y)
        if X.shape[1] > self.max_qubits:
            raise QDLError(f"QSVC puts one feature on each qubit: {X.shape[1]} features exceed "
                           f"max_qubits={self.max_qubits}; reduce them first (e.g. PCA)")
        self.scaling_, self.bandwidth_ = self._choose(X, indices)
        self._configure(X, self.scaling_, self.bandwidth_)
        with torch.no_grad():
            gram = self.kernel_(self.X_fit_).double().numpy()
        self.svc_ = SVC(kernel="precomputed", C=self.C, class_weight=self.class_weight,
                        random_state=self.random_state).fit(gram, indices)
        if self.probability:
            from sklearn.calibration import CalibratedClassifierCV

            self.calibrator_ = CalibratedClassifierCV(clone(self.svc_), method="sigmoid", cv=5,
                                                      ensemble=False).fit(gram, indices)
        return self

    def _configure(self, X: np.ndarray, scaling: str | None, bandwidth: float) -> None:
        """Set the scaling and the kernel for ``(scaling, bandwidth)``; ``X_fit_`` too."""
        lo, hi = (X.min(0), X.max(0)) if scaling else (-np.ones(X.shape[1]),
                                                       np.ones(X.shape[1]))
        self.x_center_ = (hi + lo) / 2
        self.x_half_range_ = np.where(hi > lo, (hi - lo) / 2, 1.0)
        self.kernel_ = QuantumKernel(self.feature_map, X.shape[1], reps=self.reps,
                                     entanglement=self.entanglement, bandwidth=bandwidth,
                                     tile_size=self.tile_size, dtype=_dtype(self.dtype))
        self.X_fit_ = self._scale(X)

    def _choose(self, X: np.ndarray, indices: np.ndarray) -> tuple[str | None, float]:
        """The (scaling, bandwidth) to use: given, or the best-aligned candidate."""
        if self.scaling not in ("minmax", None, "auto"):
            raise QDLError(f"scaling must be 'minmax', None or 'auto', got {self.scaling!r}")
        scalings = ["minmax", None] if self.scaling == "auto" else [self.scaling]
        candidates = [(sc, b) for sc in scalings for b in (
            AUTO_BANDWIDTHS[sc] if self.bandwidth == "auto" else (self.bandwidth,))]
        self.alignments_ = {}
        if len(candidates) == 1:
            return candidates[0]
        rows = np.random.default_rng(0).permutation(len(X))[:200]
        target = (indices[rows][:, None] == indices[rows][None, :]) * 2.0 - 1.0
        for scaling, bandwidth in candidates:
            self._configure(X, scaling, bandwidth)
            with torch.no_grad():
                gram = self.kernel_(self.X_fit_[rows]).double().numpy()
            self.alignments_[scaling, bandwidth] = centered_alignment(gram, target)
        return max(self.alignments_, key=self.alignments_.__getitem__)

    def _kernel_rows(self, X: object, support_only: bool = True) -> np.ndarray:
        """Kernel between ``X`` and the training samples (zero off the support vectors)."""
        check_is_fitted(self, "svc_")
        X = _validate(self, X, reset=False, dtype=np.float64)
        support = self.svc_.support_ if support_only else np.arange(len(self.X_fit_))
        rows = np.zeros((len(X), len(self.X_fit_)))
        with torch.no_grad():
            rows[:, support] = self.kernel_(self._scale(X), self.X_fit_[support]).double().numpy()
        return rows

    def decision_function(self, X: object) -> np.ndarray:
        """``SVC.decision_function`` on the quantum kernel."""
        rows = self._kernel_rows(X)
        return self.svc_.decision_function(rows)

    def predict(self, X: object) -> np.ndarray:
        """The predicted class label per sample."""
        rows = self._kernel_rows(X)
        return self.classes_[self.svc_.predict(rows)]

    @available_if(_has_probability)
    def predict_proba(self, X: object) -> np.ndarray:
        """Class probabilities (only with ``probability=True``), columns in ``classes_`` order."""
        rows = self._kernel_rows(X, support_only=False)
        return self.calibrator_.predict_proba(rows)
