"""Dataset registry: every loader offline, shapes as listed, CSV loading and its errors."""

import socket

import numpy as np
import pytest

from qdl import QDLError
from qdl.data import DATASETS, load_csv, load_dataset, read_csv


@pytest.fixture
def no_network(monkeypatch):
    """Creating any socket fails loudly (as does resolving or connecting)."""
    def refuse(*args, **kwargs):
        raise OSError("network disabled by the test")

    class NoSocket(socket.socket):
        def __init__(self, *args, **kwargs):
            refuse()

    monkeypatch.setattr(socket, "socket", NoSocket)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.mark.parametrize("name", list(DATASETS))
def test_loader_works_offline_and_matches_registry(name, no_network):
    """Each dataset loads with networking disabled and has the rows/classes the registry lists."""
    info = DATASETS[name]
    if not info.available():
        pytest.skip(f"{name} needs qdl[{info.extra}]")
    table = load_dataset(name)
    frame = table.frame
    assert table.task == info.task
    assert len(table.features) == info.features
    # RDKit rejects a couple of SMILES in B3DB; the registry lists the rows that remain.
    assert len(frame) == info.samples
    target = frame[table.target]
    assert not target.isna().any()
    if info.task == "classification":
        assert target.nunique() == info.classes
    else:
        assert np.isfinite(target.to_numpy(dtype=float)).all()
    if table.smiles is not None:  # molecule datasets: one SMILES per row, in row order
        from rdkit import Chem
        from rdkit.Chem import Descriptors

        assert len(table.smiles) == len(frame)
        for i in (0, len(frame) // 2, len(frame) - 1):
            mol = Chem.MolFromSmiles(table.smiles[i])
            assert frame["MolWt"][i] == pytest.approx(Descriptors.MolWt(mol))


def test_image_dataset_declares_its_shape():
    """digits carries its 8×8 image shape, and the pixels are row-major in the columns."""
    from sklearn.datasets import load_digits

    table = load_dataset("digits")
    assert table.image_shape == (8, 8)
    images = load_digits().images
    np.testing.assert_array_equal(table.frame[table.features].to_numpy()[5].reshape(8, 8),
                                  images[5])


def test_generated_datasets_are_fixed_and_balanced():
    """Generated sets are identical on every load and roughly balanced."""
    for name in ("moons", "circles", "xor"):
        a, b = load_dataset(name).frame, load_dataset(name, seed=7).frame
        assert a.equals(b)
        share = (a["label"] == 1).mean()
        assert 0.4 < share < 0.6


def test_xor_labels_follow_the_quadrants():
    """xor's label is 1 exactly when the two coordinates have opposite signs."""
    frame = load_dataset("xor").frame
    expected = (frame["x0"] > 0) != (frame["x1"] > 0)
    assert (frame["label"] == expected.astype(int)).all()


def test_unknown_dataset_names_the_choices():
    """An unknown name lists the registry and the CSV alternative."""
    with pytest.raises(QDLError, match=r"unknown dataset 'irs'.*iris.*--data FILE"):
        load_dataset("irs")


def test_csv_guesses_the_task(tmp_path):
    """Text or few-integer targets mean classification; real-valued targets regression."""
    path = tmp_path / "d.csv"
    path.write_text("a,b,y,z,w\n" + "\n".join(f"{i},{i*2},{i%2},{i*0.37},c{i%3}"
                                               for i in range(30)))
    assert load_csv(path, "y").task == "classification"
    assert load_csv(path, "z").task == "regression"
    assert load_csv(path, "w").task == "classification"
    assert load_csv(path, "z", task="classification").task == "classification"


@pytest.mark.parametrize("content, target, needle", [
    (None, "y", "no such file"),
    (b"\xff\xfe\x00garbage\x00\xff", "y", "cannot read"),
    (b"a,b\n1,2\n3,4\n", "y", "no column 'y'; columns are a, b"),
    (b"a,y\n1,\n3,4\n", "y", "is empty or NaN in data row 1 "),
])
def test_csv_errors_are_clear(tmp_path, content, target, needle):
    """Missing, unreadable, target-less and incomplete CSV files raise QDLError."""
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(QDLError, match=needle):
        load_csv(path, target)


@pytest.mark.parametrize("sep", [";", "\t"])
def test_csv_with_semicolons_or_tabs_reads_like_commas(tmp_path, sep):
    """Semicolon- and tab-separated files (European Excel exports) give the same table."""
    rows = [("1.5", "2", "a"), ("3.5", "4", "b"), ("5.5", "6", "a")]
    comma, other = tmp_path / "c.csv", tmp_path / "o.csv"
    comma.write_text("x,z,y\n" + "\n".join(",".join(r) for r in rows) + "\n")
    other.write_text(f"x{sep}z{sep}y\n" + "\n".join(sep.join(r) for r in rows) + "\n")
    expected, table = load_csv(comma, "y"), load_csv(other, "y")
    assert list(table.frame.columns) == ["x", "z", "y"]
    assert table.frame.equals(expected.frame) and table.task == expected.task


@pytest.mark.parametrize("content, needle", [
    ("", "is empty"),
    ("\n\n", "is empty"),
])
def test_empty_csv_says_it_is_empty(tmp_path, content, needle):
    """An empty file is called empty, not a parser message."""
    path = tmp_path / "empty.csv"
    path.write_text(content)
    with pytest.raises(QDLError, match=needle):
        load_csv(path, "y")


def test_csv_path_that_is_a_directory(tmp_path):
    """A directory given as the CSV file is called a directory, not missing."""
    with pytest.raises(QDLError, match="is a directory, not a CSV file"):
        load_csv(tmp_path, "y")


def test_semicolon_csv_with_decimal_commas_reads_numbers(tmp_path):
    """In a semicolon-separated file, ``1,5`` is the number 1.5, not the text '1,5'."""
    path = tmp_path / "eu.csv"
    path.write_text("x;name;y\n1,5;a b;0\n-2,25;c,d;1\n3;e;0\n")
    frame = load_csv(path, "y").frame
    assert frame["x"].tolist() == [1.5, -2.25, 3.0]
    assert frame["name"].tolist() == ["a b", "c,d", "e"]


def test_no_network_fixture_blocks_sockets(no_network):
    """The offline fixture really refuses to create a socket."""
    with pytest.raises(OSError, match="network disabled"):
        socket.socket()


@pytest.mark.parametrize("cell, column", [("inf", "a"), ("-Infinity", "a")])
def test_infinite_cells_name_the_data_row_and_column(tmp_path, cell, column):
    """An inf in row 61 is reported as data row 61 of that column, before any training."""
    rows = [f"{i},{i % 2}" for i in range(80)]
    rows[60] = f"{cell},1"
    path = tmp_path / "d.csv"
    path.write_text("a,y\n" + "\n".join(rows) + "\n")
    with pytest.raises(QDLError, match=f"column '{column}' holds -?inf in data row 61 "):
        read_csv(path)
