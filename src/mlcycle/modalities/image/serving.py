"""Serving images: the image's bytes in the body (or multipart field 'file')."""

from mlcycle.modalities.files.serving import FileServing

PART = FileServing("image", ("image/",), "image/png, image/jpeg")
