"""The built-in `digits` source: scikit-learn's 1,797 real handwritten digits as PNG files.

Each 8x8 scan is written the way a real image collection arrives: varied sizes, grayscale
or RGB with tinted ink and paper, dark ink on light paper.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import numpy as np
from PIL import Image


def render(pixels: np.ndarray, size: int, mode: str, rng: np.random.Generator) -> Image.Image:
    """An 8x8 array of 0-16 ink values -> a `size` x `size` image of `mode` (L or RGB)."""
    ink = pixels.astype(np.float32) / 16.0
    gray = Image.fromarray((255 * (1.0 - ink)).astype(np.uint8), "L")
    gray = gray.resize((size, size), Image.Resampling.BICUBIC)
    if mode == "L":
        return gray
    paper = rng.integers(200, 256, size=3)
    pen = rng.integers(0, 90, size=3)
    t = np.asarray(gray, dtype=np.float32)[..., None] / 255.0
    rgb = pen + (paper - pen) * t
    return Image.fromarray(rgb.clip(0, 255).astype(np.uint8), "RGB")


def digits(cfg, seed: int) -> Iterator[tuple[str, Image.Image, dict]]:
    """Yield (label, image, metadata) for every digit scikit-learn ships."""
    from sklearn.datasets import load_digits

    data = load_digits()
    limit = cfg.limit or len(data.target)
    # plain lists: numpy probing an OmegaConf ListConfig for __array__ & co. raised and
    # formatted six exceptions per image, a third of the whole collection's time
    sizes, modes = list(cfg.sizes), list(cfg.modes)
    for i, (pixels, target) in enumerate(zip(data.images[:limit], data.target[:limit])):
        rng = np.random.default_rng([seed, 5, i])
        size = int(rng.choice(sizes))
        mode = str(rng.choice(modes))
        group = hashlib.sha256(pixels.astype(np.uint8).tobytes()).hexdigest()[:16]
        yield str(target), render(pixels, size, mode, rng), {"index": i, "group": group}
