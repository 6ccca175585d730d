"""Per-file checks of an image: each failure raises Invalid(reason, detail)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlcycle.data.checks import Invalid, read_nonempty
from mlcycle.data.image_io import IMAGE_SUFFIXES, ImageDecodeError, read_image


@dataclass
class ImageFacts:
    sha256: str
    width: int
    height: int
    mode: str
    brightness: float  # mean of the grayscale image, 0-255


def check_image(path: Path, checks, row: dict | None = None) -> ImageFacts:
    """Run every check of `checks` (validate.image) on `path`; raise Invalid on the first."""
    data = read_nonempty(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise Invalid(
            "wrong_modality",
            f"{path.suffix or 'no suffix'} is not an image file type "
            f"this task reads ({', '.join(IMAGE_SUFFIXES)})",
        )
    try:
        image = read_image(data, max_pixels=checks.max_pixels)
    except ImageDecodeError as e:
        reason = "too_large" if "exceeds" in str(e) or "bomb" in str(e) else "undecodable"
        raise Invalid(reason, f"cannot decode image: {e}") from None
    w, h = image.size
    if min(w, h) < checks.min_size or max(w, h) > checks.max_size:
        raise Invalid("size", f"{w}x{h} outside [{checks.min_size}, {checks.max_size}] pixels")
    if image.mode not in checks.modes:
        raise Invalid("mode", f"mode {image.mode} not in {list(checks.modes)}")
    digest = hashlib.sha256(image.tobytes() + f"{image.mode}{w}x{h}".encode()).hexdigest()
    brightness = float(np.asarray(image.convert("L"), dtype=np.float32).mean())
    return ImageFacts(digest, w, h, image.mode, round(brightness, 2))
