"""The rollout state machine, driven by hand with a fake clock."""

import json

import pytest
from omegaconf import OmegaConf

from mlcycle.serve.canary import (
    IDLE,
    PROGRESSING,
    PROMOTED,
    ROLLED_BACK,
    CanaryController,
    Outcome,
)
from tests.conftest import task_params

MODEL = {"path": "models/next", "version": "abc123", "forced": False}


class Clock:
    now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def cfg():
    canary = task_params().serve.canary
    return OmegaConf.merge(
        canary,
        {
            "steps": [10, 50, 100],
            "interval_requests": 20,
            "min_requests": 10,
            "interval_s": 60,
            "failure_threshold": 2,
            "checks": {"min_mirrored": 5},
        },
    )


@pytest.fixture
def controller(cfg, tmp_path):
    clock = Clock()
    c = CanaryController(cfg, tmp_path / "rollout.json", clock=clock)
    c.clock_ = clock
    return c


def traffic(c, n, *, failed=False, label="a", confidence=0.9, agree=True, latency=0.01):
    for _ in range(n):
        c.record(Outcome("stable", False, latency, "a", 0.9))
        c.record(Outcome("canary", failed, latency, None if failed else label, confidence))
        c.record(Outcome("shadow", False, latency, label, confidence, agrees=agree))


def test_a_healthy_canary_climbs_every_step_then_is_promoted(controller):
    controller.start(MODEL)
    assert controller.status == PROGRESSING and controller.weight == 10
    for expected in (50, 100):
        traffic(controller, 20)
        decision = controller.analyse()
        assert decision["verdict"] == "pass" and controller.weight == expected
    traffic(controller, 20)
    controller.analyse()
    assert controller.status == PROMOTED and controller.state["stable"] == MODEL
    events = [h["event"] for h in controller.state["history"]]
    assert events == ["started", "analysis", "step", "analysis", "step", "analysis", "promoted"]


def test_an_erroring_canary_is_rolled_back_at_the_threshold(controller):
    controller.start(MODEL)
    traffic(controller, 20, failed=True)
    first = controller.analyse()
    assert first["verdict"] == "fail" and "error_rate" in first["failed"]
    assert controller.status == PROGRESSING and controller.weight == 10  # one failure
    traffic(controller, 20, failed=True)
    controller.analyse()
    assert controller.status == ROLLED_BACK and controller.weight == 0


def test_a_canary_that_disagrees_with_stable_fails_its_checks(controller):
    controller.start(MODEL)
    traffic(controller, 20, label="b", confidence=0.3, agree=False)
    decision = controller.analyse()
    assert set(decision["failed"]) == {"confidence_ratio", "agreement"}
    by_name = {c["check"]: c for c in decision["checks"]}
    assert by_name["agreement"]["value"] == 0.0 and by_name["confidence_ratio"]["value"] < 0.4


def test_an_interval_without_traffic_is_inconclusive_never_a_promotion(controller):
    controller.start(MODEL)
    assert controller.analyse() is None  # neither enough requests nor time yet
    controller.clock_.now += 61
    traffic(controller, 3)
    decision = controller.analyse()
    assert decision["verdict"] == "inconclusive" and decision["canary_requests"] == 3
    assert controller.weight == 10 and controller.status == PROGRESSING


def test_state_survives_a_restart(controller, cfg, tmp_path):
    controller.start(MODEL)
    traffic(controller, 20)
    controller.analyse()
    saved = json.loads((tmp_path / "rollout.json").read_text())
    assert saved["status"] == PROGRESSING and saved["weight"] == 50
    again = CanaryController(cfg, tmp_path / "rollout.json")
    assert again.load() and again.weight == 50 and again.state["canary"] == MODEL


def test_commands_without_a_canary_are_refused(controller):
    assert controller.status == IDLE
    for command in (controller.promote, controller.rollback):
        with pytest.raises(RuntimeError, match="no canary"):
            command()
    controller.start(MODEL)
    with pytest.raises(RuntimeError, match="still rolling out"):
        controller.start(MODEL)
    with pytest.raises(ValueError, match="0-100"):
        controller.set_weight(120)


def test_steps_must_be_rising_weights(cfg, tmp_path):
    for steps in ([], [50, 10], [0, 50], [50, 150]):
        with pytest.raises(ValueError, match="serve.canary.steps"):
            CanaryController(OmegaConf.merge(cfg, {"steps": steps}), tmp_path / "r.json")


def test_a_weight_set_by_hand_never_falls_at_the_next_pass(controller):
    controller.start(MODEL)  # steps 10, 50, 100
    controller.set_weight(70)
    traffic(controller, 20)
    assert controller.analyse()["verdict"] == "pass"
    assert controller.weight == 100  # the next step above 70, not step 2's 50
    traffic(controller, 20)
    controller.analyse()
    assert controller.status == PROMOTED


def test_too_many_inconclusive_intervals_in_a_row_roll_the_canary_back(controller, cfg):
    controller.start(MODEL)
    for i in range(cfg.max_inconclusive):
        assert controller.status == PROGRESSING, i
        controller.clock_.now += 61  # an interval's time passes with too little traffic
        traffic(controller, 3)
        assert controller.analyse()["verdict"] == "inconclusive"
    assert controller.status == ROLLED_BACK
    assert "inconclusive intervals in a row" in controller.state["history"][-1]["reason"]


def test_a_conclusive_interval_resets_the_inconclusive_count(controller, cfg):
    controller.start(MODEL)
    for _ in range(cfg.max_inconclusive - 1):
        controller.clock_.now += 61
        traffic(controller, 3)
        controller.analyse()
    traffic(controller, 20)
    assert controller.analyse()["verdict"] == "pass"
    controller.clock_.now += 61
    traffic(controller, 3)
    controller.analyse()
    assert controller.status == PROGRESSING  # one inconclusive since the pass
