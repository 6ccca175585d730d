"""The interfaces of a modality's serving and monitoring parts (mlcycle.modalities; its
stage parts are functions, whose signatures the registry lists). Methods raise
ValueError or FileNotFoundError naming what is wrong (a command turns them into its exit
code 2), the server's decode BadInput."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig


class Serving:
    """What the server needs of a modality (serving.py)."""

    # the Content-Type prefixes a request may carry (application/octet-stream is always
    # accepted: the bytes decide), and how to tell a client that sent another
    content_types: tuple[str, ...] = ()
    content_help: str = ""
    multipart: bool = True  # the input may come as multipart field 'file'

    def decode(self, data: bytes, package: Any, serve: Any) -> Any:
        """The body decoded for the package's featurizer; BadInput if it cannot be."""
        raise NotImplementedError

    def looks_like(self, data: bytes) -> bool:
        """Whether the leading bytes name this modality's files for certain (a body sent
        to another modality's model is then refused as wrong_modality)."""
        return False

    def off_loop(self, data: bytes) -> bool:
        """Whether decoding `data` should leave the event loop (a thread)."""
        return False

    def log_stats(self, decoded: Any) -> Any:
        """What the prediction log records of a decoded input, computed by the log's
        thread (mlcycle.serve.recorder.LazyStats); None: nothing."""
        return None

    def from_tensors(
        self, tensors: list[Any], package: Any, serve: Any
    ) -> list[tuple[Any, bytes | None]]:
        """The inputs of an Open Inference Protocol request (mlcycle.serve.tensors.Tensor),
        each decoded for the featurizer, with the file's bytes where one came (what the
        log keeps); BadInput names a tensor that does not fit."""
        raise NotImplementedError

    def tensor_inputs(self, package: Any) -> list[dict[str, Any]]:
        """The protocol's metadata of the inputs: [{name, datatype, shape}]."""
        raise NotImplementedError


class Monitoring:
    """What `mlcycle monitor`, `simulate` and `monitor export` need (monitoring.py)."""

    def figures(
        self, rows: pd.DataFrame, accepted: pd.DataFrame, reference: dict, cfg: Any
    ) -> dict[str, Any]:
        """Input figures of one model version's logged requests (`accepted`: not refused):
        missing (share), silent (share, or None), inputs (drift per statistic), and
        figures, details, outputs extra to the common ones (mlcycle.monitor.analysis)."""
        raise NotImplementedError

    def plotted(
        self, rows: pd.DataFrame, reference: dict
    ) -> tuple[list[str], list[str], pd.DataFrame]:
        """(numeric names, categorical names, their logged values) for the report's plots."""
        raise NotImplementedError

    def parse_shifts(self, specs: list[str]) -> dict[str, Any]:
        """simulate's --shift values; ValueError naming a bad one."""
        raise NotImplementedError

    def simulate(
        self,
        url: str,
        params: DictConfig,
        split: str,
        count: int,
        concurrency: int,
        seconds: float,
        shifts: dict[str, Any],
        seed: int,
    ) -> pd.DataFrame:
        """Replay (shifted) held-out examples against a server on loopback: one row per
        request (request_id, true_label, status, predicted, error)."""
        raise NotImplementedError

    def export(
        self, params: DictConfig, log: pd.DataFrame, labels_csv: Path, out: Path, fmt: str
    ) -> int:
        """`monitor export --labels`: the labelled answers as a collect source at `out`;
        the number exported."""
        raise NotImplementedError

    def sample(self, params: DictConfig, log: pd.DataFrame, n: int, out: Path) -> int:
        """`monitor export --sample N`: <out>/to_label.csv, `n` answers for a person to
        label (least confident first); the number written."""
        raise NotImplementedError
