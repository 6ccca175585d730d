"""Per-file checks of an audio recording: each failure is a (reason, detail) pair."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlcycle.data.audio_io import read_audio
from mlcycle.data.checks import Invalid, read_nonempty
from mlcycle.data.image_io import IMAGE_SUFFIXES


@dataclass
class AudioFacts:
    sha256: str
    duration_s: float
    sample_rate: int
    channels: int
    rms_dbfs: float


def wav_truncation(data: bytes) -> str | None:
    """Describe a WAV whose header promises more bytes than the file holds, else None."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos = 12
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if chunk == b"data":
            have = len(data) - pos - 8
            if have < size:
                return f"header declares {size} data bytes, file holds {have}"
            return None
        pos += 8 + size + (size & 1)
    return "no data chunk before end of file"


def dbfs(x: np.ndarray) -> float:
    power = float(np.mean(np.square(x, dtype=np.float64))) if x.size else 0.0
    return 10.0 * np.log10(power) if power > 0 else float("-inf")


def expected(row: dict, column: str, configured: int | None) -> int | None:
    """What a row's rate or channel count must be: what its source says it recorded
    (built-in sources do), else what validate.audio configures (null: anything)."""
    value = row.get(column)
    if value is not None and value == value and value != "":  # not missing, not NaN
        return int(float(value))
    return configured


def check_audio(path: Path, checks, row: dict | None = None) -> AudioFacts:
    """Run every check of `checks` (validate.audio) on `path`; raise Invalid on the first.

    `row` is the file's manifest row: a built-in source's row says the rate and channel
    count it recorded, and a file that differs is a defect.
    """
    data = read_nonempty(path)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        raise Invalid("wrong_modality", f"{path.suffix} is an image file; this task reads audio")
    if path.suffix.lower() == ".wav" and (why := wav_truncation(data)):
        raise Invalid("truncated", f"truncated WAV: {why}")
    try:
        samples, sr = read_audio(data)
    except ValueError as e:
        raise Invalid("undecodable", f"cannot decode audio: {e}") from None
    channels, n = samples.shape
    duration = n / sr
    row = row or {}
    rate = expected(row, "expected_sample_rate", checks.sample_rate)
    if rate is not None and sr != rate:
        raise Invalid("sample_rate", f"sample rate {sr} Hz, expected {rate} Hz")
    want = expected(row, "expected_channels", checks.channels)
    if want is not None and channels != want:
        raise Invalid("channels", f"{channels} channels, expected {want}")
    if not checks.min_duration_s <= duration <= checks.max_duration_s:
        raise Invalid(
            "duration",
            f"duration {duration:.3f} s outside "
            f"[{checks.min_duration_s}, {checks.max_duration_s}] s",
        )
    bad = int(np.count_nonzero(~np.isfinite(samples)))
    if bad:  # one such file would make the normalisation statistics, and every feature, NaN
        raise Invalid("non_finite", f"{bad} samples are NaN or infinite")
    level = dbfs(samples)
    if level < checks.silence_dbfs:
        raise Invalid("silent", f"level {level:.1f} dBFS below the {checks.silence_dbfs} floor")
    clipped = float(np.mean(np.abs(samples) >= 0.999))
    if clipped > checks.max_clipped_fraction:
        raise Invalid(
            "clipped",
            f"{clipped:.1%} of samples at full scale (limit {checks.max_clipped_fraction:.1%})",
        )
    digest = hashlib.sha256(np.ascontiguousarray(samples).tobytes()).hexdigest()
    return AudioFacts(digest, round(duration, 4), sr, channels, round(level, 2))
