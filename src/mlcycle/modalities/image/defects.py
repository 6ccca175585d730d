"""Images' defects, as real collections of images contain them (collect injects them so
that validation is tested)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGE_DEFECTS = ("empty", "truncated", "not_image", "tiny", "wrong_mode")


def inject_image_defect(path: Path, kind: str, rng: np.random.Generator) -> None:
    """Turn the image at `path` into a file with defect `kind` (one of IMAGE_DEFECTS)."""
    from PIL import Image

    data = path.read_bytes()
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(data[: int(len(data) * rng.uniform(0.3, 0.7))])
    elif kind == "not_image":
        path.write_bytes(b"<html><body>404 Not Found</body></html>\n")
    elif kind == "tiny":
        with Image.open(path) as im:
            im.resize((2, 2)).save(path, format="PNG")
    elif kind == "wrong_mode":
        with Image.open(path) as im:
            wide = np.asarray(im.convert("L"), dtype=np.uint16) * 257
        Image.fromarray(wide).save(path, format="PNG")  # 16-bit grayscale, mode I;16
    else:
        raise ValueError(f"unknown defect kind {kind!r}; choose from {IMAGE_DEFECTS}")
