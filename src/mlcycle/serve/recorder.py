"""The server's side of the prediction log: a row per request, queued, never blocking."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from mlcycle.monitor import outages
from mlcycle.monitor.kept_inputs import KeptInputs
from mlcycle.monitor.stats import InputStats
from mlcycle.monitor.store import LogWriter, StoreError

log = logging.getLogger("mlcycle.serve")

# The logged input's file ending, from its leading bytes.
ENDINGS = (
    (b"RIFF", ".wav"),
    (b"fLaC", ".flac"),
    (b"OggS", ".ogg"),
    (b"\x89PNG", ".png"),
    (b"\xff\xd8\xff", ".jpg"),
    (b"GIF8", ".gif"),
    (b"BM", ".bmp"),
)


def ending(data: bytes) -> str:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return next((end for magic, end in ENDINGS if data.startswith(magic)), ".bin")


class LazyStats:
    """An input's statistics (mlcycle.monitor.stats), computed when the log's thread
    writes the row rather than on the request path; computed once for all its rows."""

    def __init__(self, decoded: Any, stats: InputStats) -> None:
        self.decoded, self.stats, self.value = decoded, stats, None

    @property
    def nbytes(self) -> int:
        """What it holds in memory until its row is written."""
        return 0 if self.value is not None else self.stats.nbytes(self.decoded)

    def __call__(self) -> dict[str, Any]:
        if self.value is None:
            self.value = self.stats.of(self.decoded)
            self.decoded = None
        return self.value

    @staticmethod
    def compute_all(items: list[Any]) -> None:
        """Compute the statistics among `items` (a batch of rows' stats) together where
        their modality can (InputStats.many, e.g. audio_stats_many: the same figures, far
        fewer GIL-holding calls); what fails here is left to each row's own call, which
        logs it."""
        groups: dict[int, dict[int, LazyStats]] = {}
        for x in items:
            if isinstance(x, LazyStats) and x.value is None and x.stats.many is not None:
                groups.setdefault(id(x.stats), {})[id(x)] = x
        for group in groups.values():
            todo = list(group.values())
            if len(todo) < 2:
                continue
            try:
                values = todo[0].stats.many([x.decoded for x in todo])
            except Exception:
                continue
            for x, value in zip(todo, values):
                x.value, x.decoded = value, None


class NullRecorder:
    """The recorder of a server that logs nothing (no monitor config)."""

    on = False

    def record(self, *args: Any, **fields: Any) -> None:
        pass

    def close(self) -> None:
        pass


class PredictionRecorder:
    """Rows for monitor.store (none when it is null); inputs kept under `inputs_dir`."""

    def __init__(self, cfg: Any, inputs_dir: str, outages_path: str | None = None) -> None:
        self.cfg, self.inputs_dir = cfg, Path(inputs_dir)
        self.outages_path, self.outage = outages_path, None
        kept = None
        if cfg.keep_inputs:
            max_age_s = cfg.keep_inputs_days * 86_400
            kept = KeptInputs(self.inputs_dir.resolve(), cfg.keep_inputs_mb, max_age_s)
        self.writer = None
        if cfg.store:
            try:
                self.writer = LogWriter(
                    cfg.store, cfg.flush_s, kept=kept, prepare=LazyStats.compute_all
                )
            except StoreError as e:
                if cfg.require_store:
                    raise
                # serving matters more than its log: answer, and say so (/metrics, the log)
                log.error("%s: serving WITHOUT a prediction log (monitor.require_store)", e)
                if outages_path:  # for `mlcycle monitor`
                    self.outage = outages.opened(outages_path, cfg.store, str(e))

    @property
    def on(self) -> bool:
        return self.writer is not None

    def record(
        self,
        request_id: str,
        version: str,
        route: str,
        status: int,
        *,
        reason: str | None = None,
        label: str | None = None,
        confidence: float | None = None,
        latency_s: float | None = None,
        stats: LazyStats | dict[str, Any] | None = None,
        body: bytes | None = None,
        score: float | None = None,
        row: str | None = None,
    ) -> None:
        if self.writer is None:
            return
        row = {
            "time": time.time(),
            "request_id": request_id,
            "model_version": version,
            "route": route,
            "status": status,
            "reason": reason,
            "label": label,
            "confidence": confidence,
            "latency_ms": None if latency_s is None else round(latency_s * 1000, 3),
            "stats": stats,  # a dict, or LazyStats for the log's thread
            "score": score,
            "row_values": row,  # a table row's values, as JSON
        }
        if body and self.cfg.keep_inputs:
            row["body"] = body
            row["input_file"] = f"{request_id}{ending(body)}"  # its name in the segment
        self.writer.put(row)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.outage is not None:
            outages.closed(self.outages_path, self.outage)
