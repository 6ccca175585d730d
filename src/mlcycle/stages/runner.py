"""The shared shell of every stage: parse overrides, load params, report errors plainly."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from omegaconf import DictConfig

from mlcycle.config import ConfigError, load

log = logging.getLogger("mlcycle")


class StageError(RuntimeError):
    """A stage cannot go on; the message says what is wrong and where."""


def run_stage(name: str, body: Callable[[DictConfig], None], argv: list[str] | None = None) -> int:
    """Run `body(params)` with Hydra overrides from argv; print errors without a traceback."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(f"[{name}] %(message)s"))
    log.handlers[:] = [handler]  # one stage's prefix at a time, even when run in-process
    log.setLevel(logging.INFO)
    args = sys.argv[1:] if argv is None else argv
    try:
        body(load(args))
    except (ConfigError, StageError, FileNotFoundError) as e:
        print(f"[{name}] error: {e}", file=sys.stderr)
        return 2
    return 0
