"""How many threads a stage may use.

Two kinds of stage. Where the thread count changes a result — train, review, evaluate and
package, whose convolutions split their sums between threads, so the count decides the
last bits of every gradient and of the trained weights — the count is the `threads`
param, which dvc.lock records (`pin`): beside other stages such a stage runs slower, never
differently. Where it does not (collect, validate, featurize: their outputs are the same
for any count, a test holds featurize to it) a stage takes its share of the cores
(`apply`): `dvc queue start -j N` runs N experiments at once, each stage a `python -m
mlcycle.stages.<name>` process, so it counts the mlcycle stages running on the machine
(itself included) and takes `cores // running` threads (at least one).
`MLCYCLE_THREADS=n` sets that share instead (e.g. where other, non-mlcycle work shares
the machine); it never changes a pinned count.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psutil
import torch

from mlcycle import is_stage

ENV = "MLCYCLE_THREADS"


class ThreadsError(ValueError):
    """MLCYCLE_THREADS, or the `threads` param, is not a positive integer."""


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


@dataclass(frozen=True)
class Pinned:
    threads: int  # the `threads` param
    cores: int
    neighbours: int  # other mlcycle stages running now

    @property
    def shared(self) -> bool:
        """Whether the stage competes for the cores (it runs slower, with the same result)."""
        return self.neighbours > 0 or self.threads > self.cores

    def __str__(self) -> str:
        return (
            f"{self.threads} torch thread{'s' if self.threads > 1 else ''} (param threads: "
            f"results depend on it) on {self.cores} cores, beside {self.neighbours} other "
            "running mlcycle stage" + ("s" if self.neighbours != 1 else "")
        )


def pin(n: int) -> Pinned:
    """Set torch's intra-op threads to `n` (the `threads` param), whatever runs beside."""
    if n < 1:
        raise ThreadsError(f"param threads must be a positive integer, got {n}")
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return Pinned(n, cpu_cores(), running_stages() - 1)
