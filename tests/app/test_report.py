"""Efficiency report: job lists, resumable results, summaries, Ray equals local."""

import json
import os
import statistics
import sys

import pytest

from qdl import QDLError
from qdl.app import report
from qdl.cli import main


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Small models: one torch thread (see tests/conftest.py)."""


def test_jobs_skip_classifier_only_models_on_regression():
    """vqc is not run on regression datasets; every other combination is, per seed."""
    jobs = report.jobs_for(["iris", "chembl-pic50"], ["vqc", "logistic"], 3, 2, None)
    pairs = {(j.dataset, j.model) for j in jobs}
    assert pairs == {("iris", "vqc"), ("iris", "logistic"), ("chembl-pic50", "logistic")}
    assert len(jobs) == 9


@pytest.mark.parametrize("args, needle", [
    ((["iris"], ["cnn"], 1, 1, None), "unknown report model"),
    ((["mnist"], ["vqc"], 1, 1, None), "unknown dataset"),
    ((["iris"], ["vqc"], 0, 1, None), "--seeds"),
])
def test_bad_job_lists_are_errors(args, needle):
    """Unknown models or datasets and zero seeds are clear errors."""
    with pytest.raises(QDLError, match=needle):
        report.jobs_for(*args)


def test_matched_mlp_has_about_the_hybrid_parameter_count():
    """mlp-matched's parameter count is within half a hidden unit of the hybrid model's."""
    hybrid = report.run_job(report.Job("wine", "hybrid", 0, epochs=1))
    mlp = report.run_job(report.Job("wine", "mlp-matched", 0, epochs=1))
    unit = 13 + 1 + 3   # parameters one hidden unit adds: 13 inputs, a bias, 3 outputs
    assert abs(mlp["parameters"]["total"] - hybrid["parameters"]["total"]) <= unit / 2


def test_report_resumes_from_its_results_file(tmp_path):
    """A rerun computes only the jobs missing from results.jsonl."""
    jobs = report.jobs_for(["xor"], ["logistic"], 3, 1, None)
    ran = []

    def counting(fn, todo):
        for job in todo:
            ran.append(job.key)
            yield fn(job)

    first = report.run_report(tmp_path, jobs[:2], counting)
    again = report.run_report(tmp_path, jobs, counting)
    assert ran == [j.key for j in jobs[:2]] + [jobs[2].key]
    assert again[:2] == first
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 3


def test_summary_statistics():
    """Rows hold the mean and sample standard deviation of the seeds' scores."""
    results = [{"dataset": "d", "model": "m", "metric": "accuracy", "score": s, "seconds": 1.0,
                "parameters": {"quantum": 2, "classical": 3, "total": 5}}
               for s in (0.5, 0.7, 0.9)]
    (row,) = report.summarize(results)
    assert row["mean"] == pytest.approx(0.7)
    assert row["std"] == pytest.approx(statistics.stdev([0.5, 0.7, 0.9]))
    assert "**0.700 ± 0.200**" in report.markdown([row], "test")


def test_cli_report_writes_table_and_plot(tmp_path, capsys):
    """`qdl report efficiency` on a tiny grid writes the markdown table and a PNG."""
    out = tmp_path / "rep"
    assert main(["report", "efficiency", "--datasets", "xor", "--models", "logistic,hybrid",
                 "--seeds", "2", "--epochs", "1", "-o", str(out), "-q"]) == 0
    table = (out / "efficiency.md").read_text()
    assert "| xor | logistic |" in table and "| xor | hybrid |" in table
    assert (out / "efficiency.png").read_bytes()[:4] == b"\x89PNG"
    assert len((out / "results.jsonl").read_text().splitlines()) == 4


MARKER_DIR = ""   # set by the test; shipped to the Ray workers with _die_once


def _die_once(job):
    """Kill this worker process the first time a seed-1 job runs; run it when retried."""
    marker = os.path.join(MARKER_DIR, job.key.replace("/", "_"))
    if job.seed == 1 and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return report.run_job(job)


def test_ray_results_equal_local_and_survive_a_killed_worker(ray_local, tmp_path):
    """Jobs on Ray give the local results; a worker killed mid-job is retried."""
    global MARKER_DIR
    MARKER_DIR = str(tmp_path)
    # Workers cannot import this test module by name: ship _die_once (and MARKER_DIR) by value.
    ray_local.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    jobs = report.jobs_for(["moons"], ["hybrid"], 2, 1, None)
    local = [report.run_job(j) for j in jobs]
    remote = list(report.ray_executor("local")(_die_once, jobs))
    assert len(remote) == len(jobs)
    by_key = {r["key"]: r for r in remote}
    for expected in local:
        got = by_key[expected["key"]]
        assert got["score"] == expected["score"]
        assert got["parameters"] == expected["parameters"]
    assert len(os.listdir(tmp_path)) == 1   # the seed-1 job died once


def test_report_resumes_after_a_kill_mid_write(tmp_path):
    """A results.jsonl whose last line was cut by a kill loses only that job, which reruns."""
    jobs = report.jobs_for(["xor"], ["logistic"], 3, 1, None)
    first = report.run_report(tmp_path, jobs[:2])
    path = tmp_path / "results.jsonl"
    lines = path.read_text().splitlines()
    path.write_text(lines[0] + "\n" + lines[1][:40])   # the kill came while writing job 2
    again = report.run_report(tmp_path, jobs)
    assert again[0] == first[0]
    assert {k: v for k, v in again[1].items() if k != "seconds"} == \
        {k: v for k, v in first[1].items() if k != "seconds"}   # rerun, same result
    kept = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(r["key"] for r in kept) == sorted(j.key for j in jobs)


def test_report_output_that_is_a_file_is_an_error(tmp_path):
    """-o naming an existing file is a QDLError, not an OSError."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(QDLError, match="cannot create the report directory"):
        report.run_report(tmp_path / "file", report.jobs_for(["xor"], ["logistic"], 1, 1, None))
