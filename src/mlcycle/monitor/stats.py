"""Input statistics of one audio clip or image: what the server logs for every request
and what the reference profile holds for the training split (the same code for both).
Each file modality names its own as an InputStats (mlcycle.modalities.<name>.stats)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

SILENT_DBFS = -60.0  # a frame quieter than this counts as silent
FRAME = 400  # samples per frame for the silent fraction (25 ms at 16 kHz)
CLIPPED = 0.999  # |sample| at or above this is clipped
TOGETHER = 32  # clips per computation in audio_stats_many (more spill out of cache)


@dataclass(frozen=True)
class InputStats:
    """A file modality's input statistics: `of(decoded)` (a featurizer's decode's output)
    -> {name: value}; `many(decoded list)`, the same figures computed together, where
    the modality has a faster way; `nbytes(decoded)`, what one holds in memory until its
    log row is written. Numeric ones are compared with KS / Wasserstein / PSI,
    categorical ones with chi-square / Jensen-Shannon."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    of: Callable[[Any], dict[str, Any]]
    nbytes: Callable[[Any], int]
    many: Callable[[list[Any]], list[dict[str, Any]]] | None = None


# every statistic the prediction log has a column for (any file modality's)
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
    """(channels, n) float audio -> duration, rate, channels, level, clipping, silence.
    The server computes these for every request: sums in float64 over one float64 copy of
    the mono signal, no copy of finite float32 samples (45 us for a 1 s clip)."""
    channels, n = samples.shape
    finite = np.isfinite(samples)
    bad = int(samples.size - np.count_nonzero(finite))
    x = np.where(finite, samples, 0.0) if bad else samples
    mono = x.mean(axis=0, dtype=np.float64) if channels > 1 else x[0].astype(np.float64)
    square = mono * mono
    power = float(square.mean()) if n else 0.0
    if n >= FRAME:
        frame_power = square[: n // FRAME * FRAME].reshape(-1, FRAME).mean(axis=1)
    else:
        frame_power = np.array([power])
    frame_db = 10 * np.log10(np.maximum(frame_power, 1e-20))
    clipped = np.count_nonzero(np.abs(x) >= CLIPPED) / x.size if x.size else 0.0
    return {
        "duration_s": round(n / rate, 4) if rate else None,
        "sample_rate": int(rate),
        "channels": int(channels),
        "rms_dbfs": round(10 * np.log10(power), 2) if power > 0 else -120.0,
        "clipped_fraction": round(float(clipped), 5),
        "silent_fraction": round(float(np.mean(frame_db < SILENT_DBFS)) if n else 1.0, 4),
        "non_finite": bad,
    }


def audio_stats_many(clips: list[tuple[np.ndarray, int]]) -> list[dict[str, Any]]:
    """audio_stats of each (samples, rate), the same figures, computed together for the
    clips a server mostly gets (finite mono float32 of one length and rate): a dozen
    numpy calls for all of them instead of a dozen each (the prediction log's thread
    takes the GIL from the event loop for every call). Other clips go one by one."""
    out: list[dict[str, Any] | None] = [None] * len(clips)
    groups: dict[tuple[int, int], list[int]] = {}  # by (length, rate)
    for i, (samples, rate) in enumerate(clips):
        if samples.ndim == 2 and samples.shape[0] == 1 and samples.dtype == np.float32:
            n = samples.shape[1]
            if n >= FRAME and rate:
                groups.setdefault((n, int(rate)), []).append(i)
                continue
        out[i] = audio_stats(samples, rate)
    chunks = [
        (n, rate, members[k : k + TOGETHER])
        for (n, rate), members in groups.items()
        for k in range(0, len(members), TOGETHER)
    ]
    for n, rate, members in chunks:
        x = np.concatenate([clips[i][0] for i in members])  # (clips, n)
        finite = np.isfinite(x).all(axis=1)
        if not finite.all():  # non-finite samples: audio_stats replaces them
            for i in np.asarray(members)[~finite]:
                out[i] = audio_stats(*clips[i])
            members = [i for i, ok in zip(members, finite) if ok]
            x = x[finite]
        square = x.astype(np.float64)
        square *= square
        power = square.mean(axis=1)
        frame_power = square[:, : n // FRAME * FRAME].reshape(len(x), -1, FRAME).mean(axis=2)
        silent = (10 * np.log10(np.maximum(frame_power, 1e-20)) < SILENT_DBFS).mean(axis=1)
        clipped = (np.abs(x) >= CLIPPED).sum(axis=1) / n
        # as audio_stats rounds it: numpy's rounding of numpy's log10
        level = np.round(
            np.where(power > 0, 10 * np.log10(np.where(power > 0, power, 1.0)), -120.0), 2
        )
        duration = round(n / rate, 4)
        for i, db, clip, quiet in zip(members, level.tolist(), clipped.tolist(), silent.tolist()):
            out[i] = {
                "duration_s": duration,
                "sample_rate": rate,
                "channels": 1,
                "rms_dbfs": db,
                "clipped_fraction": round(clip, 5),
                "silent_fraction": round(quiet, 4),
                "non_finite": 0,
            }
    return out  # type: ignore[return-value]


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
