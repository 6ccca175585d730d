"""What every per-file check shares: the Invalid verdict and reading a file's bytes."""

from __future__ import annotations

from pathlib import Path


class Invalid(Exception):
    """A file failed a check; `reason` is a short code, the message the detail."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def read_nonempty(path: Path) -> bytes:
    """The file's bytes; Invalid("missing") or Invalid("empty") when there are none."""
    if not path.is_file():
        raise Invalid("missing", f"file not found: {path}")
    data = path.read_bytes()
    if not data:
        raise Invalid("empty", "file is 0 bytes")
    return data
