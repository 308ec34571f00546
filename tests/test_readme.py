"""The README's examples run as written."""

import re
from pathlib import Path

import pytest

from qdl.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def test_quickstart_runs():
    """Every python block in the README executes without error."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})


def test_main_command_runs(capsys, monkeypatch):
    """The README's `qdl run` command succeeds from the repository root."""
    line = re.search(r"^qdl run .*$", README.read_text(), re.M).group(0)
    monkeypatch.chdir(README.parent)
    args = [a.strip('"') for a in re.findall(r'"[^"]*"|\S+', line)[1:]]
    assert main(args) == 0
    assert "<X0 X1> =" in capsys.readouterr().out


def test_train_command_runs(tmp_path, monkeypatch, capsys, one_torch_thread):
    """The README's first `qdl train` line runs (shortened to one epoch)."""
    line = re.search(r"^qdl train (\S+\.yaml)\s", README.read_text(), re.M).group(1)
    monkeypatch.chdir(README.parent)
    assert main(["train", line, "--epochs", "1", "-o", str(tmp_path / "run"), "-q"]) == 0
    assert "test: loss" in capsys.readouterr().out


@pytest.mark.parametrize("path", ["examples/bell_param.qasm", ".ci/run", "examples/train.yaml",
                                  "docs/noise.md", "docs/diagnostics.md"])
def test_referenced_files_exist(path):
    """Files the README names are in the repository."""
    assert (README.parent / path).exists()


def _tests_block():
    section = README.read_text().split("## Tests", 1)[1]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def test_install_then_test_commands_match_ci_and_bring_pytest():
    """README's install and test commands run in sequence: the same as .ci/run does.

    The dev extra must bring pytest (else the test command fails right after the install),
    and the test command must be .ci/run's own.
    """
    tomllib = pytest.importorskip("tomllib")

    lines = [ln.split("#")[0].strip() for ln in _tests_block().splitlines()]
    install, test = [ln for ln in lines if ln]
    ci = (README.parent / ".ci" / "run").read_text()
    assert install == 'pip install -e ".[dev]"'
    assert re.search(r'^python -m pip install (-q )?-e "\.\[dev\]"$', ci, re.M)
    assert test == "python -m pytest" and re.search(r"^python -m pytest$", ci, re.M)
    extras = tomllib.loads((README.parent / "pyproject.toml").read_text())[
        "project"]["optional-dependencies"]
    assert any(dep.startswith("pytest") for dep in extras["dev"])
    assert "qdl[all]" in extras["dev"][0]


def test_readme_and_docs_do_not_point_outside_the_repository():
    """A clone has no ../shared: nothing users read may point there."""
    for path in [README, *sorted((README.parent / "docs").glob("*.md"))]:
        assert "../shared" not in path.read_text(), path
