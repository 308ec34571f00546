"""`qdl diagnose` end to end: markdown and PNG files, configs, one-line errors with exit 2."""

from __future__ import annotations

import sys

import pytest

from qdl.cli import main
from qdl.diagnostics.report import config_from_mapping, load_config
from qdl.errors import QDLError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
QASM = """OPENQASM 3.0;
include "stdgates.inc";
input float[64] x;
input float[64] w0;
input float[64] w1;
qubit[2] q;
ry(w0) q[0];
rx(x) q[0];
cx q[0], q[1];
ry(w1) q[1];
rx(x) q[1];
"""
SMALL = ["--samples", "20", "--fidelity-samples", "50", "--no-progress"]


def _assert_report(outdir, pngs):
    assert (outdir / "report.md").read_text().startswith("# Trainability diagnostics")
    for name in pngs:
        assert (outdir / name).read_bytes()[:8] == PNG_MAGIC, name


def test_qasm_report_with_input(tmp_path, capsys):
    """A QASM file with --input gives variance, fidelity and spectrum plots and a report."""
    source = tmp_path / "model.qasm"
    source.write_text(QASM)
    out = tmp_path / "out"
    # With the rich progress bar (on stderr): stdout carries only the report's path.
    assert main(["diagnose", str(source), "-o", str(out), "--input", "x",
                 *SMALL[:-1]]) == 0
    assert capsys.readouterr().out.strip() == str(out / "report.md")
    _assert_report(out, ["gradient_variance.png", "fidelities.png", "spectrum.png"])
    text = (out / "report.md").read_text()
    assert "-2, -1, 0, 1, 2" in text and "| w0 |" in text and "| x |" not in text


@pytest.mark.parametrize(("suffix", "text"), [
    (".json", '{"template": "hardware_efficient", "qubits": [2, 3], "layers": [1, 2]}'),
    (".toml", 'template = "sim9"\nqubits = [2, 3]\nlayers = 1\n'),
    (".yaml", "template: mcclean\nqubits: [2, 3]\nlayers: [2]\ncircuits: 2\n"),
])
def test_config_reports(tmp_path, suffix, text):
    """JSON, TOML and YAML configs give the variance, expressibility and entanglement plots."""
    source = tmp_path / f"family{suffix}"
    source.write_text(text)
    out = tmp_path / "out"
    assert main(["diagnose", str(source), "-o", str(out), "--seed", "3", *SMALL]) == 0
    _assert_report(out, ["gradient_variance.png", "expressibility.png", "entanglement.png"])
    assert "rate r per qubit" in (out / "report.md").read_text()


@pytest.mark.parametrize(("content", "args", "needle"), [
    (None, [], "no such config file"),
    ('{"template": "hardware_efficient", "qubit": [2]}', [], "unknown config key"),
    ('{"template": "nope", "qubits": [2]}', [], "unknown circuit family"),
    ('{"template": "sim1", "qubits": [2]', [], "not valid JSON"),
    ('{"template": "sim1", "qubits": [2]}', ["--input", "x"], "QASM files only"),
    ('{"template": "sim1", "qubits": [0]}', [], "qubits"),
    (QASM, ["--input", "nope"], "not a parameter"),
    (QASM, ["--samples", "1"], "--samples must be at least 2"),
])
def test_errors_are_one_line_with_exit_2(tmp_path, capsys, content, args, needle):
    """Bad files, configs and options: one `qdl: error:` line on stderr, exit status 2."""
    suffix = ".qasm" if content == QASM else ".json"
    source = tmp_path / f"bad{suffix}"
    if content is not None:
        source.write_text(content)
    assert main(["diagnose", str(source), "-o", str(tmp_path / "o"), "--no-progress",
                 *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("qdl: error:") and "\n" not in err and needle in err


def test_missing_matplotlib_names_the_extra(tmp_path, monkeypatch, capsys):
    """Without matplotlib the report fails with one error line telling how to install it."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    source = tmp_path / "model.qasm"
    source.write_text(QASM)
    assert main(["diagnose", str(source), "-o", str(tmp_path / "o"), *SMALL]) == 2
    assert 'pip install "qdl[app]"' in capsys.readouterr().err


def test_report_without_rich_has_no_progress_bar(tmp_path, monkeypatch):
    """rich is optional: without it the report is written all the same."""
    monkeypatch.setitem(sys.modules, "rich.progress", None)
    source = tmp_path / "family.json"
    source.write_text('{"template": "sim2", "qubits": 2}')
    out = tmp_path / "out"
    assert main(["diagnose", str(source), "-o", str(out), *SMALL[:-1]]) == 0
    _assert_report(out, ["gradient_variance.png"])


def test_config_validation_messages(tmp_path):
    """Config values are checked with messages naming the key."""
    with pytest.raises(QDLError, match="'samples'"):
        config_from_mapping({"template": "sim1", "qubits": 2, "samples": 0})
    with pytest.raises(QDLError, match="needs \"template\" and \"qubits\""):
        config_from_mapping({"template": "sim1"})
    bad = tmp_path / "c.ini"
    bad.write_text("x")
    with pytest.raises(QDLError, match="must end in"):
        load_config(bad)


def test_output_folder_that_is_a_file_is_refused_before_sampling(tmp_path):
    """report_family onto an existing file raises QDLError and leaves the file alone."""
    from qdl.diagnostics.report import DiagnoseConfig, report_family

    taken = tmp_path / "report.md"
    taken.write_text("mine")
    with pytest.raises(QDLError, match="is a file; the output must be a folder"):
        report_family(DiagnoseConfig("hardware_efficient", (2,)), taken, progress=False)
    with pytest.raises(QDLError, match="cannot write into"):
        report_family(DiagnoseConfig("hardware_efficient", (2,)), taken / "sub", progress=False)
    assert taken.read_text() == "mine"
