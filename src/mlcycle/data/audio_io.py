"""Read and write audio with soundfile (torchaudio's own I/O needs FFmpeg)."""

from __future__ import annotations

import io
import struct
import wave
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf

from mlcycle.atomic import atomic_path


class AudioDecodeError(ValueError):
    """The bytes or file are not audio that soundfile can decode."""


def read_pcm16_wav(source: str | Path | BinaryIO) -> tuple[np.ndarray, int] | None:
    """A complete 16-bit PCM WAV through the standard library's `wave`; None for anything else.

    The common case (every built-in clip, most recorders) decodes about 2.5x faster this
    way than through libsndfile's float conversion, to the same numbers: both scale the
    integers by 1/32768 (a test holds them bit-equal).
    """
    try:
        with wave.open(str(source) if isinstance(source, Path) else source) as w:
            if w.getsampwidth() != 2:
                return None
            frames, channels, rate = w.getnframes(), w.getnchannels(), w.getframerate()
            raw = w.readframes(frames)
    except (wave.Error, EOFError, OSError, ValueError, RuntimeError, struct.error):
        return None  # not a WAV wave can read: soundfile decides
    if frames == 0 or len(raw) != frames * channels * 2:
        return None  # empty or cut short: soundfile decides what that is
    pcm = np.frombuffer(raw, dtype="<i2").reshape(frames, channels).T
    return pcm.astype(np.float32, order="C") * np.float32(1 / 32768), rate


def read_audio(source: str | Path | bytes | BinaryIO) -> tuple[np.ndarray, int]:
    """Decode to float32 of shape (channels, samples) in [-1, 1] and the sample rate."""
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    start = None if isinstance(source, str | Path) else source.tell()
    if (decoded := read_pcm16_wav(source)) is not None:
        return decoded
    if start is not None:
        source.seek(start)
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
