"""Read and write audio with soundfile (torchaudio's own I/O needs FFmpeg)."""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np
import soundfile as sf

from mlcycle.atomic import atomic_path


class AudioDecodeError(ValueError):
    """The bytes or file are not audio that soundfile can decode."""


PCM = 1  # WAVE_FORMAT_PCM, the only format tag the fast path decodes
MAX_CHUNKS = 64  # chunks walked before "data"; more is no WAV a recorder writes


class WavHeader(NamedTuple):
    """What a RIFF/WAVE header says: its format tag, channels, rate and bits per sample,
    and where its "data" chunk's bytes are (offset, declared size)."""

    format_tag: int
    channels: int
    rate: int
    bits: int
    data_offset: int
    data_size: int

    @property
    def frame_bytes(self) -> int:
        return self.channels * ((self.bits + 7) // 8)

    @property
    def frames(self) -> int:
        return self.data_size // self.frame_bytes if self.frame_bytes else 0


def wav_header(data: bytes) -> WavHeader | None:
    """The header of the WAV in `data`, read with struct: 2 us, where the standard
    library's `wave` took 6 (a server reads one per request); None when `data` is no
    RIFF/WAVE with a "fmt " chunk before its "data" chunk."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos, fmt = 12, None
    for _ in range(MAX_CHUNKS):
        if pos + 8 > len(data):
            return None
        chunk, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        body = pos + 8
        if chunk == b"fmt ":
            if size < 16 or body + 16 > len(data):
                return None
            fmt = struct.unpack_from("<HHI6xH", data, body)  # tag, channels, rate, bits
        elif chunk == b"data":
            if fmt is None:
                return None
            tag, channels, rate, bits = fmt
            return WavHeader(tag, channels, rate, bits, body, size)
        pos = body + size + (size & 1)  # chunks are word-aligned
    return None


def read_pcm16_wav(source: str | Path | BinaryIO | bytes) -> tuple[np.ndarray, int] | None:
    """A complete 16-bit PCM WAV, from its header (wav_header) and one numpy conversion;
    None for anything else.

    The common case (every built-in clip, most recorders) decodes about 2.5x faster this
    way than through libsndfile's float conversion, to the same numbers: both scale the
    integers by 1/32768 (a test holds them bit-equal).
    """
    if isinstance(source, str | Path):
        try:
            data = Path(source).read_bytes()
        except OSError:
            return None  # soundfile names what is wrong with the file
    elif isinstance(source, bytes):
        data = source
    else:
        data = source.read()
    header = wav_header(data)
    if header is None or header.format_tag != PCM or header.bits != 16 or not header.rate:
        return None
    channels, frames = header.channels, header.frames
    end = header.data_offset + frames * channels * 2
    if channels == 0 or frames == 0 or end > len(data):
        return None  # empty or cut short: soundfile decides what that is
    pcm = np.frombuffer(data, dtype="<i2", count=frames * channels, offset=header.data_offset)
    pcm = pcm.reshape(frames, channels).T
    return pcm.astype(np.float32, order="C") * np.float32(1 / 32768), header.rate


def read_audio(source: str | Path | bytes | BinaryIO) -> tuple[np.ndarray, int]:
    """Decode to float32 of shape (channels, samples) in [-1, 1] and the sample rate."""
    start = None if isinstance(source, str | Path | bytes) else source.tell()
    if (decoded := read_pcm16_wav(source)) is not None:
        return decoded
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    elif start is not None:
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
