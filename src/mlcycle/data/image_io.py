"""Read images with Pillow: verify the file, then decode it fully."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import BinaryIO

from PIL import Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")


class ImageDecodeError(ValueError):
    """The bytes or file are not an image that Pillow can decode."""


def read_image(source: str | Path | bytes | BinaryIO, max_pixels: int | None = None) -> Image.Image:
    """Decode an image fully; refuse one over `max_pixels` before decoding its pixels."""
    data = source if isinstance(source, bytes) else None
    if data is None:
        data = Path(source).read_bytes() if isinstance(source, (str, Path)) else source.read()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                w, h = probe.size
                if max_pixels is not None and w * h > max_pixels:
                    raise ImageDecodeError(f"{w}x{h} = {w * h} pixels exceeds {max_pixels}")
                probe.verify()  # checks structure and checksums without decoding
            image = Image.open(io.BytesIO(data))
            image.load()
    except ImageDecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageDecodeError(f"decompression bomb: {e}") from None
    except (OSError, SyntaxError, ValueError) as e:  # Pillow's ways of saying "not an image"
        raise ImageDecodeError(str(e) or type(e).__name__) from None
    return image
