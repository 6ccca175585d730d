"""Make a clean utterance sound recorded: placement in the clip, room, level, noise.

All functions take a NumPy Generator so a clip is a pure function of its seed.
"""

from __future__ import annotations

import numpy as np

NOISE_COLOURS = ("white", "pink", "brown")


def db_to_amplitude(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def trim_silence(x: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    """Drop leading and trailing samples quieter than `threshold` of the peak."""
    peak = np.max(np.abs(x)) if x.size else 0.0
    if peak == 0:
        return x[:0]
    loud = np.flatnonzero(np.abs(x) > threshold * peak)
    return x[loud[0] : loud[-1] + 1]


def coloured_noise(n: int, colour: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS noise with a 1/f^k power spectrum (white k=0, pink k=1, brown k=2)."""
    k = {"white": 0.0, "pink": 1.0, "brown": 2.0}[colour]
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n)
    freqs[0] = freqs[1] if n > 1 else 1.0
    noise = np.fft.irfft(spectrum / freqs ** (k / 2.0), n)
    noise -= noise.mean()
    return (noise / max(rms(noise), 1e-12)).astype(np.float32)


def room_reverb(
    x: np.ndarray, sample_rate: int, rt60: float, rng: np.random.Generator
) -> np.ndarray:
    """Convolve with a synthetic room response: noise decaying by 60 dB over `rt60` s."""
    n = int(rt60 * sample_rate)
    t = np.arange(n) / sample_rate
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60) * rng.uniform(0.1, 0.4)
    ir[0] = 1.0
    wet = np.fft.irfft(np.fft.rfft(x, len(x) + n) * np.fft.rfft(ir, len(x) + n))[: len(x)]
    return (wet * (np.max(np.abs(x)) / max(np.max(np.abs(wet)), 1e-12))).astype(np.float32)


def place(speech: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """Put `speech` at a random offset in a clip of `length` samples (cut if longer)."""
    clip = np.zeros(length, dtype=np.float32)
    speech = speech[:length]
    offset = int(rng.integers(0, length - len(speech) + 1))
    clip[offset : offset + len(speech)] = speech
    return clip


def record(
    speech: np.ndarray,
    sample_rate: int,
    length: int,
    rng: np.random.Generator,
    *,
    gain_db: tuple[float, float],
    snr_db: tuple[float, float],
    reverb_probability: float,
) -> tuple[np.ndarray, dict]:
    """Place, reverberate, level and add noise to `speech`; returns (clip, metadata)."""
    speech = trim_silence(speech)
    reverb = round(rng.uniform(0.1, 0.4), 3) if rng.random() < reverb_probability else 0.0
    if reverb and speech.size:
        speech = room_reverb(speech, sample_rate, reverb, rng)
    clip = place(speech, length, rng)
    peak = np.max(np.abs(clip)) if clip.size else 0.0
    gain = rng.uniform(*gain_db)
    if peak > 0:
        clip *= db_to_amplitude(gain) / peak
    snr = rng.uniform(*snr_db)
    colour = NOISE_COLOURS[int(rng.integers(len(NOISE_COLOURS)))]
    level = rms(trim_silence(clip)) / db_to_amplitude(snr)
    clip = clip + coloured_noise(length, colour, rng) * level
    meta = {
        "gain_db": round(gain, 2),
        "snr_db": round(snr, 2),
        "noise": colour,
        "reverb_rt60_s": reverb,
    }
    return np.clip(clip, -1.0, 1.0).astype(np.float32), meta


def background(
    length: int, sample_rate: int, rng: np.random.Generator, level_db: tuple[float, float]
) -> tuple[np.ndarray, dict]:
    """A clip with no speech: coloured noise, sometimes with mains hum."""
    colour = NOISE_COLOURS[int(rng.integers(len(NOISE_COLOURS)))]
    level = rng.uniform(*level_db)
    clip = coloured_noise(length, colour, rng) * db_to_amplitude(level)
    if rng.random() < 0.3:
        t = np.arange(length) / sample_rate
        mains = rng.choice([50.0, 60.0])
        hum = sum(np.sin(2 * np.pi * mains * h * t) / h for h in (1, 2, 3))
        clip = clip + hum.astype(np.float32) * db_to_amplitude(level - 6)
    meta = {
        "gain_db": round(level, 2),
        "snr_db": float("nan"),
        "noise": colour,
        "reverb_rt60_s": 0.0,
    }
    return np.clip(clip, -1.0, 1.0).astype(np.float32), meta
