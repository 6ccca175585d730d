"""The server logs every request to the prediction log, and `mlcycle monitor` reads it."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time

from mlcycle.monitor.kept_inputs import read_kept
from mlcycle.monitor.store import read_log
from tests.serve.conftest import MLCYCLE, serving, split_files


def post_all(server, bodies):
    answers = []
    with server.client() as client:
        for body, ctype in bodies:
            answers.append(
                client.post("/v1/predict", content=body, headers={"Content-Type": ctype})
            )
    return answers


def wait_rows(url, n, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            log = read_log(url)
            if len(log) >= n:
                return log
        except Exception:
            pass
        time.sleep(0.2)
    raise AssertionError(f"fewer than {n} rows logged in {timeout} s")


def test_every_request_is_logged_with_its_input_statistics(learnt, tmp_path):
    folder = learnt("keywords")
    store = f"sqlite:///{tmp_path}/log.db"
    clips = [p.read_bytes() for p in split_files(folder, "test", 5)]
    bodies = [(c, "audio/wav") for c in clips] + [(b"", "audio/wav"), (b"junk", "audio/wav")]
    with serving(
        folder, f"monitor.store={store}", f"paths.logged_inputs={tmp_path}/inputs", token=None
    ) as server:
        answers = post_all(server, bodies)
        log = wait_rows(store, len(bodies))
    by_id = log.set_index("request_id")
    for answer in answers[:5]:
        row = by_id.loc[answer.json()["request_id"]]
        assert row["status"] == 200 and row["label"] == answer.json()["label"]
        assert row["sample_rate"] == 16000 and row["duration_s"] == 1.0
        assert row["rms_dbfs"] < 0 and 0 <= row["silent_fraction"] <= 1
        assert read_kept(row["input_file"]) in clips  # kept for export
    refused = log[log["status"] >= 400]
    assert sorted(refused["reason"]) == ["empty", "undecodable"]
    assert refused["label"].isna().all() and refused["input_file"].isna().all()


def test_acknowledged_rows_survive_kill_9(learnt, tmp_path):
    folder = learnt("digits")
    store = f"sqlite:///{tmp_path}/log.db"
    png = split_files(folder, "test", 1)[0].read_bytes()
    with serving(folder, f"monitor.store={store}", "monitor.flush_s=0.5", token=None) as server:
        post_all(server, [(png, "image/png")] * 40)
        time.sleep(1.5)  # three flush intervals: all 40 acknowledged
        post_all(server, [(png, "image/png")] * 10)  # these may be lost: within one interval
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait()
    with sqlite3.connect(tmp_path / "log.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        count = conn.execute("SELECT count(*) FROM predictions").fetchone()[0]
    assert 40 <= count <= 50


def test_monitor_on_an_empty_or_missing_log_says_so_and_writes_nothing(learnt, tmp_path):
    folder = learnt("digits")
    missing = subprocess.run(
        [MLCYCLE, "monitor", f"monitor.store=sqlite:///{tmp_path}/none.db"],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and "no prediction log at" in missing.stderr
    assert not (tmp_path / "none.db").exists()


def test_a_model_that_answers_null_shows_in_the_non_null_fraction(
    learnt, digits_packages, tmp_path
):
    """A stable model that fails on every input: 500s, logged without a label."""
    folder = learnt("digits")
    shutil.copyfile(folder / "params.yaml", tmp_path / "params.yaml")
    store = f"sqlite:///{tmp_path}/log.db"
    png = split_files(folder, "test", 1)[0].read_bytes()
    package = str(digits_packages["raising"])
    with serving(tmp_path, "--package", package, f"monitor.store={store}", token=None) as server:
        answers = post_all(server, [(png, "image/png")] * 60)
        wait_rows(store, 60)
    assert {a.status_code for a in answers} == {500}
    done = subprocess.run(
        [
            MLCYCLE,
            "monitor",
            "--package",
            package,
            f"monitor.store={store}",
            f"paths.monitoring.json={tmp_path}/m.json",
            f"paths.monitoring.html={tmp_path}/m.html",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1, done.stdout + done.stderr  # null_outputs is critical
    report = json.loads((tmp_path / "m.json").read_text())
    figures = next(iter(report["versions"].values()))["figures"]
    assert figures["non_null_fraction"] == 0.0 and figures["missing_fraction"] == 0.0
    assert "null_outputs" in {a["alert"] for a in report["alerts"]}
