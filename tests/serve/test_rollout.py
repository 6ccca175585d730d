"""Canary rollouts on a real server: promoted when good, rolled back when broken, resumed
after a restart, inconclusive without traffic."""

import json
import os
import re
import shutil
import signal

import pytest

from mlcycle.models.package import load_package
from mlcycle.monitor.store import read_log
from tests.serve.conftest import FAST_CANARY, serving, split_files


def traffic(server, files, n, first_key=0) -> list[dict]:
    """n PNG requests, each with its own request key; every one must be answered."""
    answers = []
    with server.client() as client:
        for i in range(n):
            r = client.post(
                "/v1/predict",
                content=files[i % len(files)].read_bytes(),
                headers={"Content-Type": "image/png", "X-Request-Key": f"user-{first_key + i}"},
            )
            assert r.status_code == 200, r.text
            answers.append(r.json())
    return answers


def drive(server, files, until, limit=800) -> list[dict]:
    """Send traffic in rounds until `until(rollout)` holds; returns every answer."""
    answers = []
    while len(answers) < limit:
        answers += traffic(server, files, 20, first_key=len(answers))
        if until(server.models()["rollout"]):
            return answers
    raise AssertionError(f"rollout stuck: {server.models()['rollout']}")


def version(path) -> str:
    return load_package(path).version


@pytest.fixture
def files(learnt):
    return split_files(learnt("digits"), "train", 60)


def test_a_good_canary_climbs_every_step_and_is_promoted(digits_dir, digits_packages, files):
    good = version(digits_packages["good"])
    with serving(digits_dir, *FAST_CANARY) as server:
        started = server.admin("/admin/canary", {"package": str(digits_packages["good"])})
        assert started.status_code == 200 and started.json()["canary"]["weight"] == 50
        answers = drive(server, files, lambda r: r["status"] == "promoted")
        models = server.models()
    assert models["stable"]["version"] == good and models["canary"] is None
    served = {a["model_version"] for a in answers if a["route"] == "canary"}
    assert served == {good}
    history = models["rollout"]["history"]
    analyses = [h for h in history if h["event"] == "analysis"]
    assert [h["verdict"] for h in analyses] == ["pass", "pass"]
    assert all(c["passed"] is not False for h in analyses for c in h["checks"])
    assert [h["weight"] for h in history if h["event"] == "step"] == [100]
    assert history[-1]["event"] == "promoted"


@pytest.mark.parametrize("broken", ["random", "raising", "nan"])
def test_a_broken_canary_is_rolled_back_and_stable_answers_everyone(
    digits_dir, digits_packages, files, broken
):
    stable = version(digits_packages["stable"])
    with serving(digits_dir, *FAST_CANARY) as server:
        started = server.admin("/admin/canary", {"package": str(digits_packages[broken])})
        assert started.status_code == 200, started.text
        answers = drive(server, files, lambda r: r["status"] == "rolled_back")
        after = traffic(server, files, 20, first_key=10_000)
        models = server.models()
        with server.client() as client:
            metrics = client.get("/metrics").text
    assert models["canary"] is None and models["rollout"]["weight"] == 0
    analyses = [h for h in models["rollout"]["history"] if h["event"] == "analysis"]
    assert [h["verdict"] for h in analyses] == ["fail", "fail"]
    assert models["rollout"]["history"][-1]["event"] == "rolled_back"
    assert all(a["model_version"] == stable for a in after)
    # no response and no persisted state holds NaN or infinity
    persisted = (digits_dir / "models/serving/rollout.json").read_text()
    for text in (persisted, json.dumps(models), json.dumps(answers)):
        assert "NaN" not in text and "Infinity" not in text
    if broken in ("raising", "nan"):
        # every request the canary failed was answered by stable
        assert all(a["model_version"] == stable for a in answers)
        assert "error_rate" in analyses[0]["failed"]
        # a sample, not just the HELP line a registered counter prints with none
        canary = version(digits_packages[broken])
        failures = re.findall(
            rf'^mlcycle_model_failures_total{{model_version="{canary}",route="\w+"}} (\S+)$',
            metrics,
            re.M,
        )
        assert failures and sum(float(n) for n in failures) >= 1
    else:
        assert {"agreement", "confidence_ratio"} & set(analyses[0]["failed"])
        assert any(a["route"] == "canary" for a in answers)  # it served until caught


def test_an_interval_without_canary_traffic_is_inconclusive(digits_dir, digits_packages):
    """Inconclusive is never a promotion; serve.canary.max_inconclusive of them in a row
    end the rollout, rolled back."""
    import time

    args = (*FAST_CANARY, "serve.canary.interval_s=1", "serve.canary.max_inconclusive=3")
    with serving(digits_dir, *args) as server:
        server.admin("/admin/canary", {"package": str(digits_packages["good"])})
        first = None
        deadline = time.time() + 30
        while time.time() < deadline:
            rollout = server.models()["rollout"]
            if first is None and any(h["event"] == "inconclusive" for h in rollout["history"]):
                first = rollout
            if rollout["status"] != "progressing":
                break
            time.sleep(0.3)
    inconclusive = [h for h in first["history"] if h["event"] == "inconclusive"]
    assert inconclusive[0]["canary_requests"] == 0
    assert first["status"] == "progressing" and first["weight"] == 50  # no promotion
    assert rollout["status"] == "rolled_back", rollout
    events = [h["event"] for h in rollout["history"]]
    assert events[-4:] == ["inconclusive"] * 3 + ["rolled_back"]


def test_a_manual_promote_survives_a_later_canarys_rollback_and_restarts(
    digits_dir, digits_packages
):
    good, first = version(digits_packages["good"]), version(digits_packages["stable"])
    with serving(digits_dir, *FAST_CANARY) as server:
        assert server.admin("/admin/canary", {"package": str(digits_packages["good"])}).is_success
        promoted = server.admin("/admin/canary/promote")
        assert promoted.status_code == 200 and promoted.json()["stable"]["version"] == good
        # the first stable model, now a canary beside the promoted one, then rolled back
        again = server.admin("/admin/canary", {"package": str(digits_packages["stable"])})
        assert again.status_code == 200 and again.json()["canary"]["version"] == first
        assert server.admin("/admin/canary/rollback").status_code == 200
    with serving(digits_dir, *FAST_CANARY) as server:  # restarted: not --package's model
        models = server.models()
    assert models["stable"]["version"] == good and models["canary"] is None
    assert models["rollout"]["status"] == "rolled_back"


def test_a_restarted_server_resumes_the_rollout(digits_dir, digits_packages, files):
    good = version(digits_packages["good"])
    with serving(digits_dir, *FAST_CANARY) as server:
        started = server.admin("/admin/canary", {"package": str(digits_packages["good"])})
        assert started.status_code == 200, started.text
        drive(server, files, lambda r: r["weight"] == 100)  # one step passed
        os.kill(server.proc.pid, signal.SIGKILL)  # no goodbye
        server.proc.wait()
    with serving(digits_dir, *FAST_CANARY) as server:
        models = server.models()
        assert models["rollout"]["status"] == "progressing" and models["rollout"]["weight"] == 100
        assert models["canary"]["version"] == good
        drive(server, files, lambda r: r["status"] == "promoted")
    with serving(digits_dir, *FAST_CANARY) as server:  # and the promotion sticks
        assert server.models()["stable"]["version"] == good


def test_a_failed_save_of_the_rollout_never_fails_a_prediction(digits_dir, digits_packages, files):
    with serving(digits_dir, *FAST_CANARY) as server:
        started = server.admin("/admin/canary", {"package": str(digits_packages["good"])})
        assert started.status_code == 200, started.text
        # the rollout's folder becomes a file: every later save of rollout.json fails
        serving_dir = digits_dir / "models/serving"
        shutil.move(serving_dir, digits_dir / "serving-moved")
        serving_dir.write_text("not a folder")
        answers = traffic(server, files, 120)  # every request answered (traffic asserts 200)
        models = server.models()
        later = traffic(server, files, 20, first_key=5_000)  # the ticker and server live on
    assert len(answers) == 120 and len(later) == 20
    assert "cannot save the rollout state to" in (models["rollout"]["save_error"] or "")


def test_a_canary_slower_than_its_deadline_has_failed_and_stable_answers(
    digits_dir, digits_packages, files
):
    """A deadline no model meets (0.1 ms) makes a good canary a hung one, as clients see it."""
    stable = version(digits_packages["stable"])
    with serving(digits_dir, *FAST_CANARY, "serve.canary.timeout_s=0.0001") as server:
        started = server.admin("/admin/canary", {"package": str(digits_packages["good"])})
        assert started.status_code == 200, started.text
        answers = drive(server, files, lambda r: r["status"] == "rolled_back")
        models = server.models()
    assert all(a["model_version"] == stable for a in answers)  # traffic: every one a 200
    analyses = [h for h in models["rollout"]["history"] if h["event"] == "analysis"]
    assert analyses and all("error_rate" in h["failed"] for h in analyses)


def test_routing_is_sticky_per_key_and_mirrored_requests_are_logged_as_shadow(
    digits_dir, digits_packages, files, tmp_path
):
    store = f"sqlite:///{tmp_path}/log.db"
    hold = ("serve.canary.interval_requests=100000", "serve.canary.interval_s=3600")
    good, stable = version(digits_packages["good"]), version(digits_packages["stable"])
    with serving(digits_dir, *FAST_CANARY, *hold, f"monitor.store={store}") as server:
        assert server.admin("/admin/canary", {"package": str(digits_packages["good"])}).is_success
        assert server.admin("/admin/canary/weight", {"weight": 50}).is_success
        first = traffic(server, files, 40)
        again = traffic(server, files, 40)  # the same 40 keys
    routes = [(a["route"], a["model_version"]) for a in first]
    assert routes == [(a["route"], a["model_version"]) for a in again]  # sticky
    assert {("stable", stable), ("canary", good)} == set(routes)
    log = read_log(store)
    shadow = log[log["route"] == "shadow"]
    answered_by_stable = {a["request_id"] for a in first + again if a["route"] == "stable"}
    assert len(shadow) > 0 and set(shadow["request_id"]) <= answered_by_stable
    assert (shadow["model_version"] == good).all() and (shadow["status"] == 200).all()
    assert not set(shadow["request_id"]) & {
        a["request_id"] for a in first + again if a["route"] == "canary"
    }
