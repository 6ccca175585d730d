"""Read and write audio with soundfile (torchaudio's own I/O needs FFmpeg)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf

from mlcycle.atomic import atomic_path


class AudioDecodeError(ValueError):
    """The bytes or file are not audio that soundfile can decode."""


def read_audio(source: str | Path | bytes | BinaryIO) -> tuple[np.ndarray, int]:
    """Decode to float32 of shape (channels, samples) in [-1, 1] and the sample rate."""
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    try:
        data, sr = sf.read(source, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise AudioDecodeError(str(e)) from None
    return np.ascontiguousarray(data.T), int(sr)


def write_wav(
    path: str | Path, samples: np.ndarray, sample_rate: int, subtype: str = "PCM_16"
) -> None:
    """Write (samples,) or (channels, samples) float audio as WAV, atomically."""
    data = samples.T if samples.ndim == 2 else samples
    with atomic_path(path, suffix=".wav") as tmp:
        sf.write(tmp, data, sample_rate, subtype=subtype, format="WAV")
