"""The label review page's view of a file: a player or the picture, inline."""

from __future__ import annotations

import base64
from pathlib import Path

HOW = (
    "<p>Copy a decision into <code>data/labels/corrections.csv</code> as "
    "<code>path,label</code> (or <code>path,drop</code>), then <code>dvc exp run</code>."
)


class FileReview:
    def __init__(self, mime: str, element: str) -> None:
        """`element`: an HTML element with {src} where the file's data URI goes."""
        self.mime, self.element, self.how = mime, element, HOW

    def media(self, path: str) -> str:
        data = base64.b64encode(Path(path).read_bytes()).decode()
        return self.element.format(src=f"data:{self.mime};base64,{data}")
