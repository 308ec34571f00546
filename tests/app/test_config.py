"""Run configuration: schema validation with errors naming the key; YAML/TOML/JSON files."""

import json

import pytest

from qdl import QDLError
from qdl.app.config import RunConfig, merge, read_config, validate


@pytest.mark.parametrize("raw, needle", [
    ({"data": {"name": "iris"}, "train": {"epochs": "ten"}}, "train.epochs: .*integer.*'ten'"),
    ({"data": {"name": "iris"}, "train": {"epochs": 0}}, "train.epochs: .*greater than"),
    ({"data": {"name": "iris"}, "model": {"qbits": 4}}, "model.qbits: unknown key .*qubits"),
    ({"data": {"name": "iris"}, "model": {"kind": "cnn"}}, "model.kind: .*'hybrid'"),
    ({"data": {}}, "give exactly one of data.name"),
    ({"data": {"csv": "x.csv"}}, "data.csv needs data.target"),
    ({"data": {"name": "iris", "test_size": 0.6, "val_size": 0.5}}, "below 1"),
    ({"model": {}}, "data: Field required"),
    ([1, 2], "expected a mapping"),
    ({"data": {"name": "iris"}, "train": {"epochs": True}}, "train.epochs: .*not a boolean"),
])
def test_bad_configs_name_the_key(raw, needle):
    """Unknown keys, wrong types and inconsistent sections are one-line errors naming the key."""
    with pytest.raises(QDLError, match=needle) as info:
        validate(raw)
    assert "\n" not in str(info.value)


def test_defaults_fill_missing_sections():
    """A config naming only the dataset gets the documented defaults."""
    cfg = validate({"data": {"name": "wine"}})
    assert (cfg.model.kind, cfg.model.qubits, cfg.train.epochs, cfg.train.seed) == \
        ("hybrid", 4, 30, 0)


@pytest.mark.parametrize("kind, features, expected", [
    ("vqc", 13, 4), ("qcnn", 13, 4), ("hybrid", 13, None), ("vqc", 3, None), ("mlp", 64, None),
])
def test_auto_pca_reduces_only_for_direct_encoding(kind, features, expected):
    """pca=auto keeps one feature per qubit only for models that encode features on wires."""
    cfg = RunConfig.model_validate({"data": {"name": "wine"}, "model": {"kind": kind}})
    assert cfg.resolved_pca(features) == expected


@pytest.mark.parametrize("suffix, text", [
    (".yaml", "data:\n  name: iris\ntrain:\n  epochs: 3\n"),
    (".toml", '[data]\nname = "iris"\n[train]\nepochs = 3\n'),
    (".json", json.dumps({"data": {"name": "iris"}, "train": {"epochs": 3}})),
])
def test_config_files_in_three_formats(tmp_path, suffix, text):
    """YAML, TOML and JSON files give the same validated config."""
    path = tmp_path / f"run{suffix}"
    path.write_text(text)
    cfg = validate(read_config(path))
    assert cfg.data.name == "iris" and cfg.train.epochs == 3


@pytest.mark.parametrize("name, text, needle", [
    ("run.yaml", "data: [unclosed\n", "not valid YAML"),
    ("run.toml", "data = = 1\n", "not valid TOML"),
    ("run.ini", "[data]\n", "end in .yaml"),
])
def test_unreadable_config_files(tmp_path, name, text, needle):
    """Malformed files and unknown formats are errors naming the file."""
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(QDLError, match=needle):
        read_config(path)


def test_missing_config_file():
    """A config path that does not exist says so."""
    with pytest.raises(QDLError, match="no such config file"):
        read_config("/nonexistent/run.yaml")


def test_merge_overrides_only_given_values():
    """Flag overrides replace config values; unset flags (None) leave them alone."""
    base = {"data": {"name": "iris"}, "train": {"epochs": 5, "lr": 0.1}}
    out = merge(base, {"train": {"epochs": 7, "lr": None}, "model": {"qubits": None}})
    assert out == {"data": {"name": "iris"}, "train": {"epochs": 7, "lr": 0.1}}
    assert base["train"]["epochs"] == 5


@pytest.mark.parametrize("name, text", [
    ("run.yaml", "- data\n- model\n"),
    ("run.json", '"just a string"'),
    ("run.json", "[1, 2]"),
])
def test_config_file_that_is_not_a_mapping(tmp_path, name, text):
    """A config file whose top level is a list or a scalar is an error naming the file."""
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(QDLError, match=f"{name}: expected a mapping"):
        read_config(path)


def test_config_path_that_is_a_directory(tmp_path):
    """A directory given as the config file is called a directory, not missing."""
    with pytest.raises(QDLError, match="is a directory"):
        read_config(tmp_path)


@pytest.mark.parametrize("section, key, value", [
    ("train", "lr", float("inf")), ("train", "weight_decay", float("inf")),
    ("data", "test_size", float("nan")), ("train", "lr", float("nan")),
])
def test_infinite_and_nan_numbers_name_the_key(section, key, value):
    """inf/NaN hyperparameters are refused with the key named, before any training."""
    raw = {"data": {"name": "iris"}, section: {key: value}}
    raw["data"] = {**raw["data"], **({key: value} if section == "data" else {})}
    with pytest.raises(QDLError, match=f"{section}.{key}:"):
        validate(raw)


@pytest.mark.parametrize("raw, needle", [
    ({"data": {"name": "iris"}, "model": {"hidden": [4, 0]}},
     r"model.hidden: .*between 1 and 100000 \(got \[4, 0\]\)"),
    ({"data": {"name": "iris", "pca": 0}}, r"data.pca: .*between 1 and 100000 \(got 0\)"),
])
def test_field_checks_name_the_field_and_its_value(raw, needle):
    """A bad single field is reported as section.key with its value, not the whole section."""
    with pytest.raises(QDLError, match=needle):
        validate(raw)


@pytest.mark.parametrize("section, key, value, needle", [
    ("train", "seed", -5, "greater than or equal to 0"),
    ("train", "seed", 2**32, "less than or equal to 4294967295"),
    ("train", "lr", 1e300, "less than or equal to 10"),
    ("train", "lr", 0.0, "greater than or equal to"),
    ("train", "weight_decay", 1e39, "less than or equal to 10"),
    ("train", "epochs", 10**9, "less than or equal to 100000"),
    ("train", "batch_size", 10**20, "less than or equal to 1000000000"),
    ("model", "layers", 10**8, "less than or equal to 1000"),
    ("model", "hidden", [10**11], "between 1 and 100000"),
    ("model", "hidden", [4] * 101, "at most 100 items"),
])
def test_numbers_out_of_range_name_the_key(section, key, value, needle):
    """Values that would crash numpy/torch or hang are refused with the key and the bound."""
    with pytest.raises(QDLError, match=f"{section}.{key}: .*{needle}") as info:
        validate({"data": {"name": "iris"}, section: {key: value}})
    assert len(str(info.value)) < 200

