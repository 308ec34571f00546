"""qdl.sklearn: scikit-learn's estimator checks, accuracy on standard data sets, API use.

scikit-learn is an optional extra (``qdl[ml]``); without it this module is skipped except
for the checks, run in subprocesses, that ``import qdl`` does not need it and that the
estimators then fail with a clear QDLError.
"""

import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import qdl


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Small tensors: one torch thread (fixture in tests/conftest.py)."""


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120)


def test_import_qdl_does_not_import_sklearn():
    """``import qdl`` and ``import qdl.models`` leave scikit-learn unimported."""
    result = _run("""
        import sys, qdl, qdl.models
        assert "sklearn" not in sys.modules, "qdl imported sklearn"
    """)
    assert result.returncode == 0, result.stderr


def test_missing_sklearn_gives_clear_error():
    """Without scikit-learn, qdl.sklearn imports but every estimator raises QDLError."""
    result = _run("""
        import sys
        sys.modules["sklearn"] = None  # makes `import sklearn...` fail
        import qdl
        from qdl.sklearn import QNNClassifier, QNNRegressor, QSVC
        for cls in (QNNClassifier, QNNRegressor, QSVC):
            try:
                cls()
            except qdl.QDLError as exc:
                assert "pip install 'qdl[ml]'" in str(exc), exc
            else:
                raise AssertionError(f"{cls.__name__}() did not raise")
        print("ok")
    """)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr


sklearn = pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_breast_cancer, make_moons  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.model_selection import (  # noqa: E402
    GridSearchCV,
    cross_val_score,
    train_test_split,
)
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from qdl.sklearn import QSVC, QNNClassifier, QNNRegressor  # noqa: E402

# Small, fast configurations; full-batch Adam still passes the accuracy checks
# (check_classifiers_train: > 0.83 on blobs; check_regressors_train: R² > 0.5).
FAST = {"n_qubits": 2, "layers": 1, "epochs": 30, "batch_size": None, "learning_rate": 0.1,
        "random_state": 0}


# Every applicable check runs and passes; none is marked as an expected failure. scikit-learn
# itself skips, with its own reason shown by pytest, the checks that do not apply here:
# - check_classifier_data_not_an_array / check_regressor_data_not_an_array with pandas
#   objects: skipped when pandas is not installed (the numpy variants run);
# - check_array_api_input: skipped unless SCIPY_ARRAY_API=1; the estimators convert input to
#   numpy and do not claim array-API support.
# No sample_weight is accepted, so the sample-weight checks are not applicable.
@parametrize_with_checks([QSVC(), QNNClassifier(**FAST), QNNRegressor(**FAST)])
def test_sklearn_estimator_checks(estimator, check):
    """scikit-learn's estimator checks (check_estimator), one test per check."""
    check(estimator)


def test_qnn_classifier_two_moons():
    """QNNClassifier reaches >= 0.95 test accuracy on two moons (noise 0.1, 200 / 100)."""
    x, y = make_moons(300, noise=0.1, random_state=0)
    clf = QNNClassifier(n_qubits=2, layers=1, hidden_sizes=(8,), epochs=60, random_state=0)
    clf.fit(x[:200], y[:200])
    assert clf.score(x[200:], y[200:]) >= 0.95
    proba = clf.predict_proba(x[200:])
    np.testing.assert_allclose(proba.sum(1), 1.0)
    assert np.array_equal(clf.classes_[proba.argmax(1)], clf.predict(x[200:]))


def test_qsvc_breast_cancer_with_grid_search():
    """StandardScaler → PCA(8) → QSVC (8-qubit ZZ map), tuned by GridSearchCV: >= 0.9."""
    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0,
                                                        stratify=y)
    pipe = make_pipeline(StandardScaler(), PCA(8, random_state=0), QSVC())
    grid = GridSearchCV(pipe, {"qsvc__bandwidth": [0.05, 0.1, 0.2], "qsvc__C": [1.0, 10.0]},
                        cv=3)
    grid.fit(x_train, y_train)
    assert grid.best_estimator_[-1].kernel_.circuit.n_qubits == 8
    assert grid.score(x_test, y_test) >= 0.9


def test_cross_val_score_in_pipeline():
    """QNNClassifier and QSVC work in a Pipeline under cross_val_score."""
    x, y = make_moons(90, noise=0.1, random_state=1)
    for est in (QSVC(bandwidth=0.5, C=10.0), QNNClassifier(**FAST)):
        scores = cross_val_score(make_pipeline(StandardScaler(), est), x, y, cv=3)
        assert scores.shape == (3,) and scores.mean() > 0.8, (est, scores)


def test_qnn_regressor_fits_sine():
    """QNNRegressor fits sin(2x) + 1 with R² >= 0.95; the target is standardised inside."""
    x = np.linspace(-1.5, 1.5, 80)[:, None]
    y = np.sin(2 * x[:, 0]) + 1
    reg = QNNRegressor(n_qubits=2, layers=1, hidden_sizes=(8,), epochs=100, random_state=0)
    assert reg.fit(x, y).score(x, y) >= 0.95
    assert reg.predict(x).shape == (80,)


def test_random_state_makes_fit_reproducible():
    """Same random_state → identical predictions; another one → different weights."""
    x, y = make_moons(60, noise=0.1, random_state=0)
    a = QNNClassifier(**FAST).fit(x, y).predict_proba(x)
    b = QNNClassifier(**FAST).fit(x, y).predict_proba(x)
    c = QNNClassifier(**{**FAST, "random_state": 1}).fit(x, y).predict_proba(x)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)
    before = torch.random.get_rng_state()
    QNNClassifier(**FAST).fit(x, y)
    assert torch.equal(before, torch.random.get_rng_state())  # global torch RNG untouched


def test_get_set_params_and_clone():
    """Hyperparameters are stored unchanged, settable and cloneable."""
    clf = QNNClassifier(hidden_sizes=(8, 4), ansatz="basic")
    params = clf.get_params()
    assert params["hidden_sizes"] == (8, 4) and params["ansatz"] == "basic"
    clf.set_params(layers=3, learning_rate=0.01)
    assert clone(clf).get_params() == {**params, "layers": 3, "learning_rate": 0.01}
    assert QSVC(bandwidth=0.3).set_params(C=5.0).get_params()["C"] == 5.0


def test_qsvc_probability_and_decision_function():
    """predict_proba exists only with probability=True and gives normalised rows."""
    x, y = make_moons(60, noise=0.1, random_state=0)
    assert not hasattr(QSVC().fit(x, y), "predict_proba")
    clf = QSVC(bandwidth=0.5, C=10.0, probability=True, random_state=0).fit(x, y)
    proba = clf.predict_proba(x)
    assert proba.shape == (60, 2)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    assert clf.decision_function(x).shape == (60,)
    assert clf.score(x, y) > 0.9


def test_qsvc_multiclass_strings():
    """Three string classes: predictions are the original labels."""
    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
    x = np.concatenate([c + 0.2 * rng.normal(size=(15, 2)) for c in centers])
    y = np.repeat(["a", "b", "c"], 15)
    clf = QSVC(bandwidth=0.5, C=10.0).fit(x, y)
    assert set(clf.predict(x)) == {"a", "b", "c"} and clf.score(x, y) > 0.9


@pytest.mark.parametrize("est", [QNNClassifier(**FAST), QNNRegressor(**FAST), QSVC()],
                         ids=["QNNClassifier", "QNNRegressor", "QSVC"])
def test_bad_input_raises_qdl_error(est):
    """Wrong feature count at predict and NaN at fit raise QDLError (a ValueError)."""
    x, y = make_moons(30, noise=0.1, random_state=0)
    if isinstance(est, QNNRegressor):
        y = y.astype(float)
    est.fit(x, y)
    with pytest.raises(qdl.QDLError, match=r"X has 3 features, but .* is expecting 2"):
        est.predict(np.zeros((4, 3)))
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(qdl.QDLError, match="NaN"):
        clone(est).fit(bad, y)


@pytest.mark.parametrize(("est", "match"), [
    (QNNClassifier(scaling="robust"), "scaling"),
    (QNNClassifier(dtype="float16"), "dtype"),
    (QNNClassifier(ansatz="qaoa"), "unknown ansatz"),
    (QSVC(feature_map="rbf"), "unknown feature_map"),
    (QSVC(scaling="standard"), "scaling"),
    (QSVC(max_qubits=1), "reduce them first"),
])
def test_bad_hyperparameters_raise_at_fit(est, match):
    """Invalid hyperparameters raise QDLError at fit time (scikit-learn convention)."""
    x, y = make_moons(20, noise=0.1, random_state=0)
    with pytest.raises(qdl.QDLError, match=match):
        est.fit(x, y)


def test_single_class_raises():
    """Fitting a classifier on one class names the problem."""
    for est in (QNNClassifier(**FAST), QSVC()):
        with pytest.raises(qdl.QDLError, match="at least 2 classes"):
            est.fit(np.zeros((5, 2)), np.ones(5))


def _ad_hoc(seed, n_train=20, n_test=5, gap=0.3):
    """Havlíček et al.'s ad hoc data for 2 qubits (as in Qiskit's QSVC tutorial), built with
    numpy: a random parity measurement on the state U_Φ(x) H U_Φ(x) H|00>, labelled by its
    sign with a gap, on a 100 x 100 grid of [0, 2π)²."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(0, 2 * math.pi, 100, endpoint=False)
    x = np.array([(a, b) for a in grid for b in grid])
    z = np.array([1.0, -1.0])
    z1, z2 = np.kron(z, [1, 1]), np.kron([1, 1], z)
    pair = (math.pi - x[:, 0]) * (math.pi - x[:, 1])
    phi = x[:, :1] * z1 + x[:, 1:] * z2 + pair[:, None] * z1 * z2
    h = np.kron(*[np.array([[1, 1], [1, -1]]) / math.sqrt(2)] * 2)
    u = np.exp(1j * phi)                                  # diagonal of U_Φ(x), per sample
    psi = u * ((u * h[:, 0]) @ h.T)                       # U_Φ H U_Φ H |00>
    a = rng.random((4, 4)) + 1j * rng.random((4, 4))
    _, v = np.linalg.eigh(a.conj().T @ a)
    m = v.conj().T @ np.diag(z1 * z2) @ v
    f = np.einsum("bi,ij,bj->b", psi.conj(), m, psi).real
    pos, neg = np.flatnonzero(f > gap), np.flatnonzero(f < -gap)
    p, q = (rng.choice(idx, n_train + n_test, replace=False) for idx in (pos, neg))
    xtr = np.concatenate([x[p[:n_train]], x[q[:n_train]]])
    xte = np.concatenate([x[p[n_train:]], x[q[n_train:]]])
    ytr, yte = np.r_[np.ones(n_train), np.zeros(n_train)], np.r_[np.ones(n_test), np.zeros(n_test)]
    return xtr, ytr, xte, yte


@pytest.mark.parametrize("seed", [0, 2])
def test_qsvc_defaults_solve_the_ad_hoc_benchmark(seed):
    """Default QSVC (alignment-chosen scaling and bandwidth) scores 1.0 on ad hoc data, where
    the former fixed defaults (min-max, bandwidth 0.1, linear) scored 0.3-0.7."""
    xtr, ytr, xte, yte = _ad_hoc(seed)
    model = QSVC().fit(xtr, ytr)
    assert model.score(xte, yte) == 1.0
    assert (model.scaling_, model.bandwidth_) == (None, 1.0)
    assert QSVC(scaling="minmax", bandwidth=0.1, entanglement="linear").fit(
        xtr, ytr).score(xte, yte) <= 0.7


def test_qsvc_explicit_settings_skip_the_search():
    """Given scaling and bandwidth are used as they are (no candidates tried)."""
    xtr, ytr, _, _ = _ad_hoc(0)
    model = QSVC(scaling="minmax", bandwidth=0.3).fit(xtr, ytr)
    assert (model.scaling_, model.bandwidth_, model.alignments_) == ("minmax", 0.3, {})
