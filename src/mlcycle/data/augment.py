"""Augmentations against speaker and channel mismatch, applied to synthesised training
speech (never to held-out voices): what keyword-spotting work uses so that a model learns
the words rather than one synthesiser's rendering of them.

Voice (before the recording simulation of mlcycle.data.recording):

* speed perturbation: the clip played 0.85-1.15x faster (tempo and pitch together, as
  Ko et al. 2015 do it for speech recognition);
* vocal-tract-length perturbation (VTLP): the spectrum's frequency axis warped by
  0.85-1.15, piecewise-linear up to the top band (Jaitly & Hinton 2013), formants and
  pitch moved as a longer or shorter vocal tract moves them.

Channel (after it: the microphone and the line):

* equalisation: a random smooth gain curve over frequency (a cheap microphone, a room's
  colour), up to +-`range` dB at eight log-spaced bands;
* telephone: band-limited to 300-3400 Hz at 8 kHz and mu-law companded (G.711);
* codec: through Ogg Vorbis at a random compression level (libsndfile's encoder).

Each is `collect.augment.<name>` with a probability `p` (0 turns it off) and a `range`;
every draw comes from the generator it is given, so a clip is a pure function of its seed.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import soundfile as sf
import soxr

VTLP_TOP_HZ = 4800.0  # the warp is linear in frequency up to here, then meets Nyquist
EQ_BANDS = 8
TELEPHONE_RATE, TELEPHONE_BAND = 8000, (300.0, 3400.0)
MU = 255.0


def speed(x: np.ndarray, rate: int, factor: float) -> np.ndarray:
    """`x` played `factor` times faster (shorter and higher for factor > 1)."""
    if x.size == 0 or factor == 1.0:
        return x
    return soxr.resample(x, rate * factor, rate, quality="HQ").astype(np.float32)


def vtlp(x: np.ndarray, rate: int, alpha: float, n_fft: int = 512) -> np.ndarray:
    """`x` with its frequency axis warped by `alpha` (>1 raises formants: a shorter
    vocal tract), through an STFT whose bins are resampled along frequency."""
    if x.size < n_fft or alpha == 1.0:
        return x
    hop, window = n_fft // 4, np.hanning(n_fft + 1)[:-1].astype(np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(
        np.pad(x, (n_fft // 2, n_fft // 2), mode="reflect"), n_fft
    )[::hop]
    spectrum = np.fft.rfft(frames * window, axis=1)
    freqs = np.fft.rfftfreq(n_fft, 1 / rate)
    nyquist = rate / 2
    # the warp f -> f' (piecewise linear), inverted: which input frequency lands on f'
    top = VTLP_TOP_HZ * min(alpha, 1.0) / alpha
    source = np.where(
        freqs <= top * alpha,
        freqs / alpha,
        top + (freqs - top * alpha) * (nyquist - top) / (nyquist - top * alpha),
    )
    position = np.clip(source / (rate / n_fft), 0, len(freqs) - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, len(freqs) - 1)
    weight = (position - low)[None, :]
    magnitude = np.abs(spectrum)
    warped_magnitude = (1 - weight) * magnitude[:, low] + weight * magnitude[:, high]
    warped = warped_magnitude * np.exp(1j * np.angle(spectrum[:, np.rint(position).astype(int)]))
    out = overlap_add(np.fft.irfft(warped, n_fft, axis=1) * window, hop, len(x) + n_fft)
    norm = overlap_add(np.tile(window**2, (len(frames), 1)), hop, len(x) + n_fft)
    out = out[n_fft // 2 : n_fft // 2 + len(x)] / np.maximum(
        norm[n_fft // 2 : n_fft // 2 + len(x)], 1e-8
    )
    return match_peak(out, x)


def overlap_add(frames: np.ndarray, hop: int, length: int) -> np.ndarray:
    out = np.zeros(length + frames.shape[1], dtype=np.float64)
    for i, frame in enumerate(frames):
        out[i * hop : i * hop + frames.shape[1]] += frame
    return out[:length]


def equalise(x: np.ndarray, rate: int, gains_db: np.ndarray) -> np.ndarray:
    """`x` through a smooth gain curve: `gains_db` at EQ_BANDS log-spaced frequencies from
    100 Hz to Nyquist, interpolated in log frequency."""
    if x.size == 0:
        return x
    spectrum = np.fft.rfft(x)
    freqs = np.maximum(np.fft.rfftfreq(len(x), 1 / rate), 1.0)
    centres = np.geomspace(100.0, rate / 2, len(gains_db))
    curve = np.interp(np.log(freqs), np.log(centres), gains_db)
    return match_peak(np.fft.irfft(spectrum * 10 ** (curve / 20), len(x)), x)


def telephone(x: np.ndarray, rate: int) -> np.ndarray:
    """`x` as a narrowband phone line delivers it: 8 kHz, 300-3400 Hz, mu-law 8 bit."""
    if x.size == 0:
        return x
    narrow = soxr.resample(x, rate, TELEPHONE_RATE, quality="HQ")
    spectrum = np.fft.rfft(narrow)
    freqs = np.fft.rfftfreq(len(narrow), 1 / TELEPHONE_RATE)
    low, high = TELEPHONE_BAND
    spectrum[(freqs < low) | (freqs > high)] = 0
    narrow = np.clip(np.fft.irfft(spectrum, len(narrow)), -1.0, 1.0)
    companded = np.sign(narrow) * np.log1p(MU * np.abs(narrow)) / np.log1p(MU)
    quantised = np.round(companded * 127) / 127
    expanded = np.sign(quantised) * ((1 + MU) ** np.abs(quantised) - 1) / MU
    wide = soxr.resample(expanded.astype(np.float32), TELEPHONE_RATE, rate, quality="HQ")
    return fit(wide, len(x))


def codec(x: np.ndarray, rate: int, level: float) -> np.ndarray:
    """`x` encoded with Ogg Vorbis at compression `level` (0-1, 1 the lowest bitrate) and
    decoded again."""
    if x.size == 0:
        return x
    buffer = io.BytesIO()
    sf.write(
        buffer,
        np.clip(x, -1, 1),
        rate,
        format="OGG",
        subtype="VORBIS",
        compression_level=float(level),
    )
    buffer.seek(0)
    decoded, _ = sf.read(buffer, dtype="float32")
    return fit(decoded, len(x))


def fit(x: np.ndarray, length: int) -> np.ndarray:
    """`x` cut or zero-padded to `length` samples (a resampler's round trip can differ
    by one)."""
    x = np.asarray(x, dtype=np.float32)
    return x[:length] if len(x) >= length else np.pad(x, (0, length - len(x)))


def match_peak(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """`y` scaled to `x`'s peak (the level is the recording simulation's job)."""
    peak = np.max(np.abs(y)) if y.size else 0.0
    target = np.max(np.abs(x)) if x.size else 0.0
    return (y * (target / peak if peak > 0 else 1.0)).astype(np.float32)


def drawn(spec: Any, rng: np.random.Generator) -> float | None:
    """A value from `spec.range` with probability `spec.p`, else None (always two draws,
    so that switching one augmentation off leaves the others' draws as they were)."""
    happens, value = rng.random(), rng.uniform(*spec.range)
    return float(value) if happens < spec.p else None


def voice(x: np.ndarray, rate: int, cfg: Any, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Speed and VTLP on clean speech, per `cfg` (collect.augment); with what was done."""
    factor, alpha = drawn(cfg.speed, rng), drawn(cfg.vtlp, rng)
    if factor is not None:
        x = speed(x, rate, factor)
    if alpha is not None:
        x = vtlp(x, rate, alpha)
    return x, {"speed": round(factor or 1.0, 3), "vtlp": round(alpha or 1.0, 3)}


def channel(
    x: np.ndarray, rate: int, cfg: Any, rng: np.random.Generator
) -> tuple[np.ndarray, dict]:
    """Equalisation, then a phone line or a codec (not both), on the recorded clip."""
    eq = drawn(cfg.eq, rng)
    gains = rng.uniform(-1.0, 1.0, EQ_BANDS)
    phone = drawn(cfg.telephone, rng) is not None
    level = drawn(cfg.codec, rng)
    if eq is not None:
        x = equalise(x, rate, gains * eq)
    if phone:
        x = telephone(x, rate)
    elif level is not None:
        x = codec(x, rate, level)
    meta = {
        "eq_db": round(eq or 0.0, 2),
        "channel": "telephone" if phone else "vorbis" if level is not None else "clean",
    }
    return np.clip(x, -1.0, 1.0).astype(np.float32), meta
