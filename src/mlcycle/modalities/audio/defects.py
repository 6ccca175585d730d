"""Audio's defects, as real collections of clips contain them (collect injects them so
that validation is tested)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlcycle.data.audio_io import read_audio, write_wav

AUDIO_DEFECTS = ("empty", "truncated", "silent", "clipped", "wrong_rate", "stereo")


def inject_audio_defect(path: Path, kind: str, rng: np.random.Generator) -> None:
    """Turn the WAV at `path` into a file with defect `kind` (one of AUDIO_DEFECTS)."""
    samples, sr = read_audio(path)
    mono = samples[0]
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * rng.uniform(0.2, 0.6))])
    elif kind == "silent":
        write_wav(path, np.zeros_like(mono), sr)
    elif kind == "clipped":
        peak = max(float(np.max(np.abs(mono))), 1e-6)
        write_wav(path, np.clip(mono * (8.0 / peak), -1.0, 1.0), sr)
    elif kind == "wrong_rate":
        half = mono[::2]  # what a device left at 8 kHz would have delivered
        write_wav(path, half, sr // 2)
    elif kind == "stereo":
        write_wav(path, np.stack([mono, mono * 0.8]), sr)
    else:
        raise ValueError(f"unknown defect kind {kind!r}; choose from {AUDIO_DEFECTS}")
