"""Atomic file writes: write a temporary file beside the target, then rename over it.

A stage killed half-way never leaves a half-written manifest, metric or checkpoint.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_path(target: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto `target` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=suffix)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file normal permissions
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_with(target: str | Path, writer: Callable[[Path], Any], suffix: str = "") -> None:
    """Call `writer(tmp_path)` and atomically move the result to `target`."""
    with atomic_path(target, suffix=suffix or Path(target).suffix) as tmp:
        writer(tmp)


def write_torch_atomic(target: str | Path, obj: Any) -> None:
    """torch.save `obj` atomically, byte-for-byte the same for the same `obj`.

    torch.save names the archive's inner folder after a path it is given, which would
    be the random temporary name and change DVC's hash of identical contents; given an
    open file it uses a fixed name.
    """
    import torch

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            torch.save(obj, f)

    write_with(target, save)


def write_text_atomic(target: str | Path, text: str) -> None:
    write_with(target, lambda p: p.write_text(text, encoding="utf-8"))


def write_json_atomic(target: str | Path, obj: Any) -> None:
    write_text_atomic(target, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_csv_atomic(target: str | Path, frame: Any) -> None:
    """Write a pandas DataFrame as CSV without its index."""
    write_with(target, lambda p: frame.to_csv(p, index=False))
