"""Serving audio: the clip's bytes in the body (or multipart field 'file'), refused from
its header where its rate, length or decoded size is out of bounds."""

from mlcycle.modalities.audio.stats import STATS
from mlcycle.modalities.files.serving import FileServing
from mlcycle.serve.inputs import decode_audio, decode_samples, looks_like_audio

PART = FileServing(
    "audio",
    ("audio/",),
    "audio/wav, audio/flac, audio/ogg",
    lambda data, limits, max_pixels: decode_audio(data, limits),
    looks_like_audio,
    STATS,
    decode_samples,
    {"name": "samples", "datatype": "FP32", "shape": [-1, -1]},
)
