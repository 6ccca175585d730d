"""The models a server holds: a package, its version and its batcher."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mlcycle.modalities import modality
from mlcycle.models.package import Package, load_package
from mlcycle.registry import reference_of
from mlcycle.serve.batching import Batcher
from mlcycle.serve.metrics import ServerMetrics
from mlcycle.threads import cpu_cores

THREADED_BATCH = 4  # batches this large or larger use every core but the event loop's


class ModelFailure(RuntimeError):
    """A model answered with something that is not a probability vector (NaN, inf, ...)."""


def checked(probs: list[float]) -> list[float]:
    """`probs` if it is a finite probability vector; ModelFailure otherwise. Only such an
    answer reaches a client, a log row or the rollout's analysis."""
    # a NaN or an infinity makes the sum NaN or infinite, which fails the first test
    if not (abs(sum(probs) - 1) <= 1e-3 and min(probs) >= 0.0 and max(probs) <= 1.0):
        raise ModelFailure("the model's output is not a finite probability vector")
    return probs


@dataclass
class Deployed:
    package: Package
    path: str
    batcher: Batcher

    @property
    def version(self) -> str:
        return self.package.version

    @property
    def modality(self) -> str:
        return self.package.card["modality"]

    @property
    def serving(self) -> Any:
        """The modality's serving part (mlcycle.modalities): content types, decode."""
        return modality(self.modality, "serving")

    def describe(self) -> dict[str, Any]:
        card = self.package.card
        gate = card.get("gate") or {}
        return {
            "version": self.version,
            "path": self.path,
            "task": card["task"],
            "modality": card["modality"],
            "runtime": "onnx" if self.package.runtime is not None else "torch",
            "labels": self.package.labels,
            "gate_passed": gate.get("passed"),
            "git_revision": card.get("git_revision"),
            "registry": reference_of(self.path),  # name@version where it came from one
            "metrics": {k: card.get("metrics", {}).get(k) for k in ("accuracy", "macro_f1")},
        }


def deploy(path: str | Path, serve: Any, metrics: ServerMetrics) -> Deployed:
    """Load the package at `path` and give it a batcher (started by the caller's loop).

    PackageError names a missing or damaged package.
    """
    package = load_package(path, runtime=serve.runtime)
    version = package.version
    metrics.known(version)

    # a batch gains from more cores, but not from the one the event loop runs on (on 2
    # cores, 1 thread measured 10 % more answers/s at 32 clients than 2, and half the CPU)
    threads = max(1, cpu_cores() - 1)

    def run(decoded: list[Any]) -> list[list[float]]:
        # One input runs fastest on one thread (measured 3x: no thread hand-offs).
        torch.set_num_threads(1 if len(decoded) < THREADED_BATCH else threads)
        return package.predict_decoded(decoded).tolist()

    def observe(size: int) -> None:
        metrics.batch_size.labels(version).observe(size)

    batcher = Batcher(run, serve.max_batch_size, serve.batch_wait_ms, on_batch=observe)
    return Deployed(package, str(path), batcher)


def refusal(stable: Package, candidate: Package) -> str | None:
    """Why `candidate` may not be rolled out beside `stable` (unless forced), or None."""
    if candidate.version == stable.version:
        return f"it is the stable model itself (version {stable.version})"
    gate = candidate.card.get("gate") or {}
    if not gate.get("passed", False):
        failed = [
            f"{c['metric']} {c['measured']} (target {c['target']})"
            for c in gate.get("checks", [])
            if not c.get("passed")
        ]
        return f"its gate failed: {', '.join(failed) or 'no gate result in the card'}"
    if candidate.card["task"] != stable.card["task"]:
        return (
            f"it is a {candidate.card['task']!r} model; this server serves {stable.card['task']!r}"
        )
    if candidate.labels != stable.labels:
        return f"its labels {candidate.labels} differ from the stable model's {stable.labels}"
    return None
