"""When a server answered without its prediction log, kept beside the rollout state.

A server that cannot reach monitor.store at start serves anyway (monitor.require_store:
false) and writes an entry here; `mlcycle monitor` reads it, so a report over a window the
log never saw says so instead of showing fewer requests than were served. One file per
host (paths.log_outages): replicas on other machines say it on /metrics
(mlcycle_prediction_log_up 0).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

from mlcycle.atomic import write_json_atomic

log = logging.getLogger("mlcycle.monitor")


def read(path: str | Path) -> list[dict[str, Any]]:
    """Every outage on record (none when the file is missing or unreadable)."""
    try:
        entries = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as e:
        log.warning("cannot read the log outages in %s: %s", path, e)
        return []
    return entries if isinstance(entries, list) else []


def opened(path: str | Path, store: str, error: str) -> dict[str, Any]:
    """Record that this server answers without a log from now on; returns the entry."""
    entry = {
        "since": time.time(),
        "until": None,  # still serving without a log
        "store": store,
        "error": error,
        "server": f"{socket.gethostname()}:{os.getpid()}",
    }
    _write(path, [*read(path), entry])
    return entry


def closed(path: str | Path, entry: dict[str, Any]) -> None:
    """The server that opened `entry` stops: the outage ends now."""
    entries = read(path)
    for e in entries:
        if e.get("server") == entry["server"] and e.get("since") == entry["since"]:
            e["until"] = time.time()
    _write(path, entries)


def overlapping(path: str | Path, since: float | None) -> list[dict[str, Any]]:
    """The outages that overlap the window from `since` (None: all of them)."""
    return [e for e in read(path) if since is None or e.get("until") is None or e["until"] >= since]


def describe(entry: dict[str, Any]) -> str:
    """One outage, as `mlcycle monitor` warns of it."""

    def when(t: float) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))

    until = "until now" if entry.get("until") is None else f"until {when(entry['until'])}"
    return (
        f"server {entry.get('server')} served WITHOUT a prediction log from "
        f"{when(entry['since'])} {until} ({entry.get('error')})"
    )


def _write(path: str | Path, entries: list[dict[str, Any]]) -> None:
    try:
        write_json_atomic(path, entries)
    except OSError as e:  # the outage is still on /metrics and in the server's log
        log.error("cannot record the log outage in %s: %s", path, e)
