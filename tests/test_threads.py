"""A stage's share of the cores: counted from the mlcycle stages running, or set by hand."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest
import torch

from mlcycle import threads
from mlcycle.stages import runner


def fake_stage() -> subprocess.Popen:
    """A process whose command line is a stage's (`python -m mlcycle.stages.train ...`)."""
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "-m", "mlcycle.stages.train"]
    )


@pytest.fixture
def neighbours():
    """Three more stages running (beside any this machine runs already: returns their
    number)."""
    already = threads.running_stages() - 1
    procs = [fake_stage() for _ in range(3)]
    time.sleep(0.3)
    yield already + 3
    for proc in procs:
        proc.kill()
        proc.wait()


def test_a_stage_alone_takes_every_core(monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.setattr(threads, "cpu_cores", lambda: 8)
    monkeypatch.setattr(threads, "running_stages", lambda: 1)
    assert threads.share() == threads.Share(8, 8, 1)
    assert not threads.share().shared


def test_stages_running_beside_it_divide_the_cores(neighbours, monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.setattr(threads, "cpu_cores", lambda: 8)
    got = threads.share()
    # itself and the three others, and whatever stages other tests run at the same time
    assert got.stages >= 4 and got == threads.Share(max(1, 8 // got.stages), 8, got.stages)
    if got.stages == 4:
        assert str(got) == "2 torch threads: 8 cores shared by 4 running mlcycle stages"
    monkeypatch.setattr(threads, "cpu_cores", lambda: 2)
    assert threads.share().threads == 1  # never none


def test_only_stage_command_lines_count():
    assert threads.is_stage(["python", "-m", "mlcycle.stages.featurize", "seed=1"])
    assert not threads.is_stage(["python", "-m", "mlcycle.serve"])
    assert not threads.is_stage(["python", "-m", "pytest", "tests/stages"])


def test_mlcycle_threads_sets_the_count_and_a_bad_value_is_named(monkeypatch, capsys):
    monkeypatch.setenv(threads.ENV, "3")
    before = torch.get_num_threads()
    try:
        assert threads.apply().threads == 3 and torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
    monkeypatch.setenv(threads.ENV, "many")
    assert runner.run_stage("train", lambda params: None, []) == 2
    assert "MLCYCLE_THREADS must be a positive integer, got 'many'" in capsys.readouterr().err


def test_a_stage_logs_its_share_when_it_has_fewer_than_all_cores(
    small_workdir, neighbours, monkeypatch, caplog
):
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.setattr(threads, "cpu_cores", lambda: 4)
    before = torch.get_num_threads()
    try:
        with caplog.at_level("INFO", logger="mlcycle"):
            assert runner.run_stage("train", lambda params: None, []) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    shared = r"1 torch thread: 4 cores shared by (\d+) running mlcycle stages"
    found = re.search(shared, caplog.text)
    assert found and int(found.group(1)) >= 4, caplog.text


def test_a_pinned_stage_runs_on_the_threads_param_whatever_runs_beside_it(
    small_workdir, neighbours, monkeypatch, caplog
):
    monkeypatch.setenv(threads.ENV, "1")  # the share's override never moves a pinned count
    before = torch.get_num_threads()
    seen = []
    try:
        with caplog.at_level("INFO", logger="mlcycle"):
            body = lambda params: seen.append(torch.get_num_threads())  # noqa: E731
            assert runner.run_stage("train", body, ["threads=3"], pinned=True) == 0
    finally:
        torch.set_num_threads(before)
    assert seen == [3]
    assert "3 torch threads (param threads: results depend on it)" in caplog.text
    found = re.search(r"beside (\d+) other running mlcycle stages", caplog.text)
    assert found and int(found.group(1)) >= 3, caplog.text


def test_a_bad_threads_param_is_named(small_workdir, capsys):
    assert runner.run_stage("train", lambda params: None, ["threads=0"], pinned=True) == 2
    assert "param threads must be a positive integer, got 0" in capsys.readouterr().err


def test_a_stage_holds_its_kernels_to_avx2_unless_told_otherwise():
    from mlcycle import STAGE_KERNELS, hold_stage_kernels

    env: dict[str, str] = {}
    hold_stage_kernels(["python", "-m", "mlcycle.stages.train", "seed=1"], env)
    assert env == STAGE_KERNELS and env["ATEN_CPU_CAPABILITY"] == "avx2"
    env = {"ATEN_CPU_CAPABILITY": "avx512"}  # the user's choice wins
    hold_stage_kernels(["python", "-m", "mlcycle.stages.train"], env)
    assert env["ATEN_CPU_CAPABILITY"] == "avx512" and env["DNNL_MAX_CPU_ISA"] == "AVX2"
    env = {}
    hold_stage_kernels(["mlcycle", "serve"], env)  # serving keeps the CPU's own kernels
    assert env == {}
