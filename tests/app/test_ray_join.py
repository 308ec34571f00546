"""Joining a Ray cluster started with `ray start --head` (token authentication on)."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("ray")

JOIN = """
import sys
from qdl.app.report import ray_executor
from qdl.errors import QDLError


def negate(x):
    return -x


try:
    print(sorted(ray_executor(sys.argv[1])(negate, [-1, -2])))
except QDLError as exc:
    print("qdl: error:", exc)
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("ray") is None and not os.path.exists(
    os.path.join(os.path.dirname(sys.executable), "ray")), reason="no ray command")
def test_join_a_head_started_with_ray_start(tmp_path):
    """With RAY_AUTH_MODE=token (what README says) the report's executor joins and runs jobs."""
    ray = shutil.which("ray") or os.path.join(os.path.dirname(sys.executable), "ray")
    port = _free_port()
    # --block keeps the head in this one process group, so the test stops exactly what it started.
    head = subprocess.Popen([ray, "start", "--head", "--block", f"--port={port}",
                             "--node-ip-address=127.0.0.1", "--num-cpus=1",
                             "--include-dashboard=false", "--disable-usage-stats"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, cwd=tmp_path)
    try:
        env = {**os.environ, "RAY_AUTH_MODE": "token"}
        deadline = time.monotonic() + 60
        while True:
            out = subprocess.run([sys.executable, "-c", JOIN, f"127.0.0.1:{port}"],
                                 capture_output=True, text=True, env=env, timeout=120)
            if "[1, 2]" in out.stdout or time.monotonic() > deadline:
                break
            time.sleep(2)  # the head may still be starting
        assert "[1, 2]" in out.stdout, out.stdout + out.stderr[-2000:]
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        # ray start records the head as the machine's "current cluster"; a later plain
        # ray.init() (the other Ray tests) would try to join that dead head.
        current = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        with contextlib.suppress(OSError):
            if current.read_text().strip().endswith(f":{port}"):
                current.unlink()


def test_a_failed_join_is_one_line_naming_token_authentication(monkeypatch):
    """ray.init failing to connect becomes one QDLError line that names the token setting."""
    from qdl.app import report
    from qdl.errors import QDLError

    class FakeRay:
        @staticmethod
        def init(address, log_to_driver):
            raise ConnectionError(f"Failed to connect to GCS at {address}\n(long details)")

    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    with pytest.raises(QDLError) as info:
        report._join(FakeRay, "127.0.0.1:6390")
    message = str(info.value)
    assert "\n" not in message
    assert "cannot join the Ray cluster at 127.0.0.1:6390" in message
    assert "RAY_AUTH_MODE=token" in message
