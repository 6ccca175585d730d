"""Input statistics of one audio clip or image: what the server logs for every request
and what the reference profile holds for the training split (the same code for both)."""

from __future__ import annotations

from typing import Any

import numpy as np

SILENT_DBFS = -60.0  # a frame quieter than this counts as silent
FRAME = 400  # samples per frame for the silent fraction (25 ms at 16 kHz)
CLIPPED = 0.999  # |sample| at or above this is clipped

# The statistics per modality: numeric ones are compared with KS / Wasserstein / PSI,
# categorical ones with chi-square / Jensen-Shannon.
NUMERIC = {
    "audio": ["duration_s", "rms_dbfs", "clipped_fraction", "silent_fraction"],
    "image": ["width", "height", "brightness", "contrast"],
}
CATEGORICAL = {"audio": ["sample_rate", "channels"], "image": ["mode"]}
COLUMNS = sorted(
    {
        "duration_s",
        "sample_rate",
        "channels",
        "rms_dbfs",
        "clipped_fraction",
        "silent_fraction",
        "non_finite",
        "width",
        "height",
        "mode",
        "brightness",
        "contrast",
    }
)


def audio_stats(samples: np.ndarray, rate: int) -> dict[str, Any]:
    """(channels, n) float audio -> duration, rate, channels, level, clipping, silence."""
    channels, n = samples.shape
    finite = np.isfinite(samples)
    bad = int(samples.size - np.count_nonzero(finite))
    x = np.where(finite, samples, 0.0).astype(np.float64)
    mono = x.mean(axis=0) if channels > 1 else x[0]
    power = float(np.mean(mono**2)) if n else 0.0
    frames = mono[: n // FRAME * FRAME].reshape(-1, FRAME) if n >= FRAME else mono[None, :]
    frame_db = 10 * np.log10(np.maximum(np.mean(frames**2, axis=1), 1e-20))
    return {
        "duration_s": round(n / rate, 4) if rate else None,
        "sample_rate": int(rate),
        "channels": int(channels),
        "rms_dbfs": round(10 * np.log10(power), 2) if power > 0 else -120.0,
        "clipped_fraction": round(float(np.mean(np.abs(x) >= CLIPPED)) if x.size else 0.0, 5),
        "silent_fraction": round(float(np.mean(frame_db < SILENT_DBFS)) if n else 1.0, 4),
        "non_finite": bad,
    }


def image_stats(image: Any) -> dict[str, Any]:
    """A PIL image -> size, mode, mean brightness and contrast (std) of its grayscale."""
    gray = np.asarray(image.convert("L"), dtype=np.float32)
    return {
        "width": image.width,
        "height": image.height,
        "mode": image.mode,
        "brightness": round(float(gray.mean()), 2),
        "contrast": round(float(gray.std()), 2),
    }


def input_stats(decoded: Any, modality: str) -> dict[str, Any]:
    """The statistics of what a featurizer's decode returned."""
    if modality == "audio":
        samples, rate = decoded
        return audio_stats(samples, rate)
    return image_stats(decoded)
