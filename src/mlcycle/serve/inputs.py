"""What a prediction request may carry, and a clear 4xx for everything else.

`decode` turns the body's bytes into what the package's featurizer takes, refusing
(BadInput: status, reason, detail) empty bodies, undecodable bytes, the other modality,
absurd lengths or rates, non-finite samples and decompression bombs. The checks run before
any model work, so a bad request never costs a batch slot.
"""

from __future__ import annotations

import functools
import io
from typing import Any

import numpy as np
import soundfile as sf

from mlcycle import modalities
from mlcycle.data.audio_io import PCM, AudioDecodeError, read_audio, wav_header
from mlcycle.data.image_io import ImageDecodeError, read_image
from mlcycle.monitor.stats import audio_stats

ANY = "application/octet-stream"
MIN_RATE, MAX_RATE = 1_000, 384_000  # Hz; beyond this a "rate" is a broken header
# Leading bytes that name a format for certain.
AUDIO_MAGIC = (b"RIFF", b"fLaC", b"OggS", b"ID3", b"FORM")
IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")


def is_webp(data: bytes) -> bool:
    return data[:4] == b"RIFF" and data[8:12] == b"WEBP"


def looks_like_audio(data: bytes) -> bool:
    return data.startswith(AUDIO_MAGIC) and not is_webp(data)


def looks_like_image(data: bytes) -> bool:
    return data.startswith(IMAGE_MAGIC) or is_webp(data)


class BadInput(ValueError):
    """A request the model cannot answer; `status` is its HTTP code, `reason` a short code."""

    def __init__(
        self, status: int, reason: str, detail: str, stats: dict[str, Any] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.reason, self.detail = status, reason, detail
        self.stats = stats  # what could be measured of the input (NaN counts, ...)


def check_content_type(content_type: str | None, modality: str) -> None:
    """415 unless the Content-Type suits the model's modality (its serving part's types;
    application/octet-stream always: the bytes decide)."""
    serving = modalities.modality(modality, "serving")
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == ANY or kind.startswith(serving.content_types):
        return
    how = "as the file's bytes in" if serving.multipart else "as"
    raise BadInput(
        415,
        "content_type",
        f"Content-Type {kind or '(none)'!r} is not {modality}: send it {how} "
        f"{serving.content_help} (or application/octet-stream)"
        + (", or as multipart field 'file'" if serving.multipart else ""),
    )


@functools.cache
def _sniffers(names: tuple[str, ...]) -> list[tuple[str, Any]]:
    return [(name, modalities.modality(name, "serving").looks_like) for name in names]


def looks_like(data: bytes) -> str | None:
    """The registered modality whose files the leading bytes name for certain, else None
    (each modality's serving part asked once per registry, not once per request)."""
    for name, looks in _sniffers(tuple(modalities.REGISTRY)):
        if looks(data):
            return name
    return None


def decode(data: bytes, modality: str, limits: Any, max_pixels: int | None = None) -> Any:
    """The decoded input for the featurizer of a file `modality` (its serving part's
    decode_file: ((channels, samples), rate) for audio, a PIL image for images), or
    BadInput: empty, another modality's bytes, or what the part refuses."""
    if not data:
        raise BadInput(400, "empty", f"the request body is empty: send a {modality} file")
    sniffed = looks_like(data)
    if sniffed is not None and sniffed != modality:
        raise BadInput(
            415,
            "wrong_modality",
            f"the body is {sniffed} but this model takes {modality}",
        )
    return modalities.modality(modality, "serving").decode_file(data, limits, max_pixels)


class Rows(list):
    """Several inputs of one request, each decoded (answered as a list, in its order):
    a table's JSON list of rows (mlcycle.modalities.table.serving)."""


def check_header(data: bytes, limits: Any) -> None:
    """Refuse audio from its header, before a sample is decoded: the rate, the length and
    the decoded size (frames x channels x 4 bytes). A 10 MB FLAC or OGG body can hold
    hours, or 384 kHz x 8 channels that decode to hundreds of MB."""
    header = header_of(data)
    if header is None:
        return  # read_audio names what is wrong
    rate, frames, channels = header
    check_rate(rate)
    check_length(frames, rate, limits)
    decoded_mb = frames * channels * 4 / 1e6
    if decoded_mb > limits.max_decoded_mb:
        raise BadInput(
            413,
            "too_large",
            f"audio of {channels} channels x {frames} frames would decode to "
            f"{decoded_mb:.0f} MB, over serve.max_decoded_mb={limits.max_decoded_mb}",
        )


def header_of(data: bytes) -> tuple[int, int, int] | None:
    """(rate, frames, channels) from the header alone: read with struct for PCM WAV (a
    fraction of libsndfile's probe, which cost 13 % of the server's CPU), else
    libsndfile's; None when neither can read one."""
    wav = wav_header(data)
    if wav is not None and wav.format_tag == PCM and wav.channels and wav.bits and wav.rate:
        return wav.rate, wav.frames, wav.channels
    try:  # float or other WAV, FLAC, OGG, ...
        info = sf.info(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return None
    return info.samplerate, info.frames, info.channels


def check_rate(rate: int) -> None:
    if not MIN_RATE <= rate <= MAX_RATE:
        raise BadInput(
            422, "sample_rate", f"sample rate {rate} Hz is outside {MIN_RATE}-{MAX_RATE} Hz"
        )


def check_length(frames: int, rate: int, limits: Any) -> None:
    if frames / rate > limits.max_audio_s:
        raise BadInput(
            422,
            "too_long",
            f"audio of {frames / rate:.1f} s is longer than serve.max_audio_s={limits.max_audio_s}",
        )


def decode_audio(data: bytes, limits: Any) -> tuple[np.ndarray, int]:
    check_header(data, limits)
    try:
        samples, rate = read_audio(data)
    except AudioDecodeError as e:
        raise BadInput(422, "undecodable", f"cannot decode audio: {e}") from None
    check_rate(rate)
    if samples.shape[1] == 0:
        raise BadInput(422, "empty", "the audio holds no samples")
    check_length(samples.shape[1], rate, limits)  # the header may have lied
    bad = int(np.count_nonzero(~np.isfinite(samples)))
    if bad:
        stats = audio_stats(samples, rate)
        raise BadInput(422, "non_finite", f"{bad} samples are NaN or infinite", stats)
    return samples, rate


def decode_image(data: bytes, max_pixels: int | None) -> Any:
    try:
        return read_image(data, max_pixels=max_pixels)
    except ImageDecodeError as e:
        if "exceeds" in str(e) or "bomb" in str(e):
            raise BadInput(413, "too_many_pixels", f"image refused: {e}") from None
        raise BadInput(422, "undecodable", f"cannot decode image: {e}") from None


def decode_samples(tensor: Any, package: Any, limits: Any) -> list[tuple[np.ndarray, int]]:
    """An FP32 tensor of decoded audio, [samples] or [clips, samples], mono, at the
    package's rate or at `parameters.sample_rate`: the same checks as a file's."""
    rate = tensor.parameters.get("sample_rate", package.featurizer.cfg.sample_rate)
    if not isinstance(rate, int) or isinstance(rate, bool):
        raise BadInput(
            400, "bad_tensor", f"parameters.sample_rate must be an integer, not {rate!r}"
        )
    check_rate(rate)
    if len(tensor.shape) not in (1, 2):
        raise BadInput(
            400,
            "bad_tensor",
            f"audio samples are [samples] or [clips, samples], not {tensor.shape}",
        )
    clips = tensor.array().reshape(-1, tensor.shape[-1]) if tensor.shape[-1] else None
    if clips is None or clips.shape[0] == 0:
        raise BadInput(422, "empty", "the audio holds no samples")
    check_length(clips.shape[1], rate, limits)
    out = []
    for clip in clips:
        bad = int(np.count_nonzero(~np.isfinite(clip)))
        if bad:
            stats = audio_stats(clip[None], rate)
            raise BadInput(422, "non_finite", f"{bad} samples are NaN or infinite", stats)
        out.append((np.ascontiguousarray(clip[None], dtype=np.float32), rate))
    return out


def decode_pixels(tensor: Any, package: Any, limits: Any) -> list[Any]:
    """A UINT8 tensor of images, [images, height, width] or [images, height, width,
    channels] (1, 3 or 4), within the package's pixel budget."""
    from PIL import Image

    shape = tensor.shape
    if len(shape) not in (3, 4) or (len(shape) == 4 and shape[3] not in (1, 3, 4)):
        raise BadInput(
            400, "bad_tensor", f"images are [n, height, width(, 1|3|4)] UINT8, not {shape}"
        )
    max_pixels = getattr(package.featurizer.cfg, "max_pixels", None)
    if max_pixels is not None and shape[1] * shape[2] > max_pixels:
        raise BadInput(413, "too_many_pixels", f"{shape[1]}x{shape[2]} pixels exceeds {max_pixels}")
    if 0 in shape:
        raise BadInput(422, "empty", "the tensor holds no pixels")
    images = tensor.array()
    if len(shape) == 4 and shape[3] == 1:
        images = images[..., 0]
    # Pillow names the mode from the array: L (2-D), RGB or RGBA (3 or 4 channels)
    return [Image.fromarray(np.ascontiguousarray(im)) for im in images]
