"""The latency the gate checks is the model's cost, not the load of the machine it ran on."""

from __future__ import annotations

import io
import multiprocessing as mp
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import soundfile as sf
from omegaconf import OmegaConf

from mlcycle.models.evaluation import latency_ms
from mlcycle.models.package import load_package
from mlcycle.scope import check_targets
from mlcycle.threads import cpu_cores

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "tests/assets/keywords_package"  # the default keywords run's package


def spin(stop) -> None:
    while not stop.is_set():
        pass


@contextmanager
def busy(processes: int):
    """CPU-bound processes on every core, as a parallel sweep without thread sharing."""
    stop = mp.get_context("spawn").Event()
    hogs = [mp.get_context("spawn").Process(target=spin, args=(stop,)) for _ in range(processes)]
    for hog in hogs:
        hog.start()
    try:
        yield
    finally:
        stop.set()
        for hog in hogs:
            hog.join(10)


def clip() -> bytes:
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    sf.write(buffer, (0.1 * rng.standard_normal(16000)).astype(np.float32), 16000, format="WAV")
    return buffer.getvalue()


def gate(latency: dict[str, float], max_ms: float) -> list[str]:
    """The verdicts of the keywords scope's latency targets, with the target set to `max_ms`."""
    targets = OmegaConf.to_container(OmegaConf.load(ROOT / "conf/task/keywords.yaml").scope)
    targets = {k: v for k, v in targets["targets"].items() if k.startswith("latency")}
    assert list(targets) == ["latency_cpu_p95_ms"], "the keywords scope changed"
    metrics = {"latency_cpu_p95_ms": latency["cpu_p95"]}
    return [c["verdict"] for c in check_targets(metrics, {"latency_cpu_p95_ms": {"max": max_ms}})]


def test_cpu_latency_gives_the_same_verdict_alone_and_on_a_busy_machine():
    package = load_package(PACKAGE)
    example = clip()
    alone = latency_ms(package, example, 200)
    with busy(3 * cpu_cores()):
        loaded = latency_ms(package, example, 200)
    # A target above the model's cost with the margin a scope gives it: on the wall time of
    # the busy machine it fails (each request waits for the hogs' time slices); on the CPU
    # time of the calls the scheduler let run through it passes. (The CPU time of every
    # call grew 2.2x on a busy CI runner: a preempted call comes back to cold caches.)
    target = 3 * alone["cpu_p95"]
    assert loaded["p95"] > target, (alone, loaded)
    assert gate(alone, target) == gate(loaded, target) == ["pass"], (alone, loaded)
    for figures in (alone, loaded):
        assert 0 < figures["cpu_p50"] <= figures["cpu_p95"]
        assert 0 < figures["p50"] <= figures["p95"]
