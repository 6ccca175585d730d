"""Serving images: the image's bytes in the body (or multipart field 'file'), refused
beyond the package's pixel budget before it is decoded."""

from mlcycle.modalities.files.serving import FileServing
from mlcycle.modalities.image.stats import STATS
from mlcycle.serve.inputs import decode_image, decode_pixels, looks_like_image

PART = FileServing(
    "image",
    ("image/",),
    "image/png, image/jpeg",
    lambda data, limits, max_pixels: decode_image(data, max_pixels),
    looks_like_image,
    STATS,
    decode_pixels,
    {"name": "pixels", "datatype": "UINT8", "shape": [-1, -1, -1, -1]},
)
