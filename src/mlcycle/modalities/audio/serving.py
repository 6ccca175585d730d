"""Serving audio: the clip's bytes in the body (or multipart field 'file')."""

from mlcycle.modalities.files.serving import FileServing

PART = FileServing("audio", ("audio/",), "audio/wav, audio/flac, audio/ogg")
