"""How many threads a stage may use: its share of the cores, with other stages beside it.

`dvc queue start -j N` runs N experiments at once, each stage a `python -m
mlcycle.stages.<name>` process. With torch's default (one thread per core) in each, N
processes fight over the same cores and every one of them runs many times slower than
alone. So a stage counts the mlcycle stages running on the machine (itself included)
and takes `cores // running` threads (at least one); training recounts at every epoch,
so a run that outlives its neighbours gets the freed cores back. `MLCYCLE_THREADS=n`
sets the count instead (e.g. where other, non-mlcycle work shares the machine).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psutil
import torch

ENV = "MLCYCLE_THREADS"
STAGE_MODULE = "mlcycle.stages."


class ThreadsError(ValueError):
    """MLCYCLE_THREADS is not a positive integer."""


def cpu_cores() -> int:
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op thread count set to `n` for the block, then restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def is_stage(cmdline: list[str]) -> bool:
    """Whether a command line runs a pipeline stage (`python -m mlcycle.stages.<name>`)."""
    return any(
        a == "-m" and b.startswith(STAGE_MODULE) for a, b in zip(cmdline, cmdline[1:], strict=False)
    )


def running_stages() -> int:
    """The mlcycle stage processes running now on this machine, this one counted."""
    me = os.getpid()
    count = 1
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if proc.info["pid"] != me and is_stage(cmdline):
            count += 1
    return count


@dataclass(frozen=True)
class Share:
    threads: int
    cores: int
    stages: int | None  # None: set by MLCYCLE_THREADS

    @property
    def shared(self) -> bool:
        """Whether the stage has fewer than all the cores, or a count set by hand."""
        return self.stages is None or self.threads < self.cores

    def __str__(self) -> str:
        if self.stages is None:
            return f"{self.threads} torch threads ({ENV}={self.threads})"
        return (
            f"{self.threads} torch thread{'s' if self.threads > 1 else ''}: {self.cores} cores "
            f"shared by {self.stages} running mlcycle stage{'s' if self.stages > 1 else ''}"
        )


def share() -> Share:
    """This stage's share of the cores (or MLCYCLE_THREADS)."""
    cores = cpu_cores()
    if (value := os.environ.get(ENV, "").strip()) != "":
        try:
            n = int(value)
        except ValueError:
            n = 0
        if n < 1:
            raise ThreadsError(f"{ENV} must be a positive integer, got {value!r}")
        return Share(n, cores, None)
    stages = running_stages()
    return Share(max(1, cores // stages), cores, stages)


def apply() -> Share:
    """Set torch's intra-op threads to this stage's share; returns it."""
    got = share()
    if torch.get_num_threads() != got.threads:
        torch.set_num_threads(got.threads)
    return got
