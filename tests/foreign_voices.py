"""A user's own small recordings, unlike the built-in collection: other voices (eSpeak's
Dutch, German, Swedish, Danish, Norwegian, Polish and Hindi voices speaking the English
words), slower and faster speech, lower and higher pitch, and files as they come: WAV,
FLAC and OGG at 8-48 kHz, mono and stereo, of uneven length."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio

from mlcycle.data import espeak
from mlcycle.data.recording import record

VOICES = ["nl", "de", "sv", "da", "nb", "pl", "hi"]  # none is an accent of the built-in set
VARIANTS = ["m1", "f2", "m3", "f4", "klatt", "m7", "f5"]
RATES = [95, 105, 235, 260]  # the built-in speakers talk at 120-220 words per minute
PITCHES = [10, 18, 82, 92]  # ...with pitch 25-75
FORMATS = [("wav", 8000, 1), ("flac", 22050, 2), ("ogg", 44100, 1), ("wav", 48000, 2)]


def speak(job: tuple[int, list[tuple[int, str]]]) -> list[tuple[str, int, np.ndarray]]:
    """Clips of one block of (index, word); runs in a fresh process (eSpeak's state)."""
    seed, block = job
    torch.set_num_threads(1)
    engine = espeak.Espeak.get()
    engine.reset_random(seed)
    out = []
    for i, word in block:
        rng = np.random.default_rng([seed, i])
        voice = f"{VOICES[i % len(VOICES)]}+{VARIANTS[(i // 7) % len(VARIANTS)]}"
        raw = engine.synth(word, voice, RATES[i % len(RATES)], PITCHES[(i // 4) % 4])
        speech = torch.from_numpy(raw.astype(np.float32) / 32768.0)
        speech = torchaudio.functional.resample(speech, engine.sample_rate, 16000).numpy()
        length = int(16000 * rng.uniform(0.8, 1.6))
        clip, _ = record(
            speech,
            16000,
            length,
            rng,
            gain_db=(-20.0, -3.0),
            snr_db=(10.0, 30.0),
            reverb_probability=0.3,
        )
        out.append((word, i, clip))
    return out


def write_clip(path: Path, clip: np.ndarray, fmt: str, rate: int, channels: int) -> Path:
    x = torchaudio.functional.resample(torch.from_numpy(clip), 16000, rate).numpy()
    if channels == 2:
        x = np.stack([x, 0.8 * x], axis=1)
    path = path.with_suffix(f".{fmt}")
    subtype = {"wav": "PCM_16", "flac": "PCM_16", "ogg": "VORBIS"}[fmt]
    sf.write(path, x, rate, subtype=subtype, format=fmt.upper())
    return path


def foreign_recordings(root: Path, words: list[str], per_word: int, seed: int = 7) -> Path:
    """<root>/<word>/<n>.<wav|flac|ogg>: `per_word` clips of each word; returns root."""
    items = [(w * per_word + k, word) for w, word in enumerate(words) for k in range(per_word)]
    jobs = [(seed, items[i : i + 40]) for i in range(0, len(items), 40)]
    for clips in espeak.in_fresh_processes(speak, jobs, workers=2):
        for word, i, clip in clips:
            fmt, rate, channels = FORMATS[i % len(FORMATS)]
            (root / word).mkdir(parents=True, exist_ok=True)
            write_clip(root / word / f"{i:04d}", clip, fmt, rate, channels)
    return root
