"""Defects that real collections contain, injected on purpose so validation is tested.

Each function rewrites a good file in place into one defect kind.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlcycle.data.audio_io import read_audio, write_wav

AUDIO_DEFECTS = ("empty", "truncated", "silent", "clipped", "wrong_rate", "stereo")
IMAGE_DEFECTS = ("empty", "truncated", "not_image", "tiny", "wrong_mode")


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


def inject_image_defect(path: Path, kind: str, rng: np.random.Generator) -> None:
    """Turn the image at `path` into a file with defect `kind` (one of IMAGE_DEFECTS)."""
    from PIL import Image

    data = path.read_bytes()
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(data[: int(len(data) * rng.uniform(0.3, 0.7))])
    elif kind == "not_image":
        path.write_bytes(b"<html><body>404 Not Found</body></html>\n")
    elif kind == "tiny":
        with Image.open(path) as im:
            im.resize((2, 2)).save(path, format="PNG")
    elif kind == "wrong_mode":
        with Image.open(path) as im:
            wide = np.asarray(im.convert("L"), dtype=np.uint16) * 257
        Image.fromarray(wide).save(path, format="PNG")  # 16-bit grayscale, mode I;16
    else:
        raise ValueError(f"unknown defect kind {kind!r}; choose from {IMAGE_DEFECTS}")


def inject_defect(path: Path, kind: str, modality: str, rng: np.random.Generator) -> None:
    (inject_audio_defect if modality == "audio" else inject_image_defect)(path, kind, rng)


def defect_kinds(modality: str) -> tuple[str, ...]:
    return AUDIO_DEFECTS if modality == "audio" else IMAGE_DEFECTS


def choose_defects(
    n: int, fraction: float, kinds: tuple[str, ...], rng: np.random.Generator
) -> dict[int, str]:
    """Pick round(n * fraction) row indices and a defect kind for each, kinds in rotation."""
    count = min(n, int(round(n * fraction)))
    rows = rng.choice(n, size=count, replace=False) if count else []
    return {int(i): kinds[k % len(kinds)] for k, i in enumerate(sorted(rows))}
