"""Splits and preprocessing, checked against independent numpy / scikit-learn computations."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from qdl import QDLError
from qdl.data import Preprocessor, Table, split_indices


def _table(rng, n=60):
    frame = pd.DataFrame({
        "a": rng.normal(3, 2, n),
        "b": rng.normal(-1, 0.5, n),
        "c": rng.normal(0, 1, n),
        "colour": rng.choice(["red", "green", "blue"], n),
        "y": rng.choice(["no", "yes"], n),
    })
    frame.loc[[1, 5], "a"] = np.nan
    return Table(frame, "y", "classification", "test")


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("stratify", [True, False])
def test_split_is_a_seeded_partition(seed, stratify):
    """Train/val/test are disjoint, cover every row, and repeat for the same seed."""
    labels = np.array([0] * 30 + [1] * 70) if stratify else None
    parts = split_indices(labels, 100, 0.2, 0.1, seed)
    joined = np.concatenate(parts)
    assert sorted(joined.tolist()) == list(range(100))
    again = split_indices(labels, 100, 0.2, 0.1, seed)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))
    assert len(parts[2]) == 20 and len(parts[1]) == 10
    if stratify:
        assert (labels[parts[2]] == 0).sum() == 6   # 20 % of each class


def test_split_too_small_is_an_error():
    """Rounding that leaves no training or test rows is an error, not an empty set."""
    with pytest.raises(QDLError, match="too few"):
        split_indices(None, 2, 0.2, 0.1, 0)


def test_standardise_impute_and_one_hot_match_numpy(rng):
    """Standardisation, median imputation and one-hot encoding equal a direct computation."""
    table = _table(rng)
    rows = np.arange(40)
    pre = Preprocessor.fit(table, rows)
    train = table.frame.iloc[rows]
    a = train["a"].fillna(train["a"].median()).to_numpy()
    cols = [a, train["b"].to_numpy(), train["c"].to_numpy()]
    cols += [(train["colour"] == c).to_numpy(float) for c in ("blue", "green", "red")]
    raw = np.stack(cols, 1)
    expected = (raw - raw.mean(0)) / raw.std(0)
    np.testing.assert_allclose(pre.transform(train), expected, atol=1e-12)
    np.testing.assert_array_equal(pre.encode_target(train), (train["y"] == "yes").to_numpy())


def test_pca_matches_scikit_learn(rng):
    """PCA components span the same directions as scikit-learn's (up to sign) on train."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    table = _table(rng, 80)
    frame = table.frame.drop(columns=["colour"]).fillna(0.0)
    table = Table(frame, "y", "classification", "t")
    pre = Preprocessor.fit(table, np.arange(80), pca=2)
    ours = pre.transform(frame)
    ref = PCA(2).fit_transform(StandardScaler().fit_transform(frame[["a", "b", "c"]]))
    for k in range(2):
        assert abs(abs(np.corrcoef(ours[:, k], ref[:, k])[0, 1]) - 1) < 1e-9


def test_angle_scaling_maps_training_rows_to_zero_pi(rng):
    """Angle scaling puts every training feature in [0, π] with both ends reached."""
    table = _table(rng)
    pre = Preprocessor.fit(table, np.arange(50), pca=3, scale="angle")
    x = pre.transform(table.frame.iloc[:50])
    assert x.shape == (50, 3)
    np.testing.assert_allclose(x.min(0), 0, atol=1e-12)
    np.testing.assert_allclose(x.max(0), math.pi, atol=1e-12)


def test_regression_targets_round_trip(rng):
    """Regression targets are standardised on train and decoded back to their units."""
    frame = pd.DataFrame({"x": rng.normal(size=30), "t": rng.normal(5, 3, 30)})
    pre = Preprocessor.fit(Table(frame, "t", "regression", "r"), np.arange(30))
    z = pre.encode_target(frame)
    assert abs(z.mean()) < 1e-12 and abs(z.std() - 1) < 1e-12
    np.testing.assert_allclose(pre.decode_target(z), frame["t"].to_numpy(), atol=1e-12)


def test_state_round_trip_gives_the_same_transform(rng):
    """A preprocessor rebuilt from its saved state transforms identically."""
    table = _table(rng)
    pre = Preprocessor.fit(table, np.arange(40), pca=2)
    again = Preprocessor.from_state(pre.state())
    np.testing.assert_array_equal(again.transform(table.frame), pre.transform(table.frame))


def test_missing_columns_and_unseen_classes_are_errors(rng):
    """Transforming a frame without a training column, or with a new class, raises."""
    table = _table(rng)
    pre = Preprocessor.fit(table, np.arange(40))
    with pytest.raises(QDLError, match="lacks feature column"):
        pre.transform(table.frame.drop(columns=["b"]))
    other = table.frame.assign(y="maybe")
    with pytest.raises(QDLError, match="not seen in training"):
        pre.encode_target(other)


def test_single_class_training_rows_are_an_error():
    """A classification target with one class in training cannot be learned."""
    frame = pd.DataFrame({"x": [1.0, 2, 3], "y": ["a", "a", "a"]})
    with pytest.raises(QDLError, match="one class"):
        Preprocessor.fit(Table(frame, "y", "classification", "t"), np.arange(3))


def test_integer_labels_written_as_floats_are_the_same_classes(tmp_path):
    """Labels 0/1 read back as 0.0/1.0 (a spreadsheet round trip) are classes '0' and '1'."""
    from qdl.data import load_csv

    path = tmp_path / "ints.csv"
    path.write_text("x,y\n" + "\n".join(f"{i},{i % 2}" for i in range(10)) + "\n")
    pre = Preprocessor.fit(load_csv(path, "y"), np.arange(10))
    floats = pd.DataFrame({"x": [0.0, 1.0, 2.0], "y": [0.0, 1.0, 0.0]})
    np.testing.assert_array_equal(pre.encode_target(floats), [0, 1, 0])
    path.write_text("x,y\n" + "\n".join(f"{i},{i % 2}.0" for i in range(10)) + "\n")
    assert load_csv(path, "y").frame["y"].tolist() == [str(i % 2) for i in range(10)]


def test_stratified_split_with_no_test_rows_names_the_fix():
    """Two rows per class round to no test rows: the error says why and what to change."""
    with pytest.raises(QDLError, match=r"no test rows \(rounded per class.*data.test_size"):
        split_indices(np.repeat(np.arange(4), 2), 8, 0.2, 0.1, 0)


def _fitted() -> Preprocessor:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "c": ["x", "y", "x", "y"],
                          "t": ["no", "yes", "no", "yes"]})
    return Preprocessor.fit(Table(frame, "t", "classification", "demo"), np.arange(4))


@pytest.mark.parametrize("edit, needle", [
    ({"colour": 1}, "unknown field 'colour'"),
    ({"mean": "zero"}, "malformed 'mean'"),
    ({"mean": [0.0]}, "mean/std do not have the 3 encoded columns"),
    ({"classes": None}, "classes do not match the task 'classification'"),
    ({"features": ["a"]}, "features do not match the medians and categories"),
    ({"scale": "log"}, "malformed 'scale'"),
])
def test_saved_state_is_checked_field_by_field(edit, needle):
    """A foreign or damaged preprocessing state is a QDLError naming the field."""
    with pytest.raises(QDLError, match=needle):
        Preprocessor.from_state({**_fitted().state(), **edit})


def test_saved_state_lacking_a_required_field():
    """The fields without a default must be present."""
    state = _fitted().state()
    del state["target"]
    with pytest.raises(QDLError, match="lacks the field 'target'"):
        Preprocessor.from_state(state)


def test_values_too_large_to_standardise_name_the_column():
    """Values whose variance overflows are refused by column name, without numpy warnings."""
    frame = pd.DataFrame({"a": [1e300, -1e300, 1.0, 2.0], "t": [0.0, 1.0, 2.0, 3.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(QDLError, match="feature column 'a' holds values too large"):
            Preprocessor.fit(Table(frame, "t", "regression", "demo"), np.arange(4))
