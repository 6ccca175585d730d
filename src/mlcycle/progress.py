"""Progress bars for the long stages: tqdm on a terminal, nothing in logs and CI."""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm


def progress(total: int, desc: str, unit: str, stream: TextIO | None = None) -> tqdm:
    """A bar over `total` `unit`s, shown only when `stream` (stderr) is a terminal.

    It disappears when done (leave=False), so the stage's one summary line stands alone.
    """
    stream = stream or sys.stderr
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        file=stream,
        disable=not stream.isatty(),
        leave=False,
        dynamic_ncols=True,
    )
