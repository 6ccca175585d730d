"""The built-in `keywords` source: Speech Commands-style clips synthesised with eSpeak NG.

A speaker is an English accent x voice variant with its own speaking rate and pitch. Every
clip is a pure function of (seed, speaker, clip index), so the collection is reproducible.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torchaudio

from mlcycle.data import espeak
from mlcycle.data.recording import background, record

UNKNOWN, SILENCE = "_unknown_", "_silence_"


@dataclass(frozen=True)
class Speaker:
    id: str
    accent: str
    variant: str
    rate_wpm: int
    pitch: int

    @property
    def voice(self) -> str:
        return f"{self.accent}+{self.variant}"


@dataclass
class Clip:
    label: str
    word: str
    speaker: Speaker
    samples: np.ndarray
    meta: dict


def make_speakers(cfg, seed: int, variants: list[str]) -> list[Speaker]:
    """`cfg.speakers` speakers, accents in rotation, variant/rate/pitch drawn from the seed."""
    if not cfg.accents:
        raise ValueError("collect.keywords.accents is empty")
    speakers = []
    for i in range(cfg.speakers):
        rng = np.random.default_rng([seed, 1, i])
        speakers.append(
            Speaker(
                id=f"spk{i:04d}",
                accent=cfg.accents[i % len(cfg.accents)],
                variant=variants[int(rng.integers(len(variants)))],
                rate_wpm=int(rng.integers(cfg.rate_wpm[0], cfg.rate_wpm[1] + 1)),
                pitch=int(rng.integers(cfg.pitch[0], cfg.pitch[1] + 1)),
            )
        )
    return speakers


def speaker_script(cfg, speaker_index: int, seed: int) -> list[tuple[str, str]]:
    """What one speaker records: (label, word) pairs."""
    rng = np.random.default_rng([seed, 2, speaker_index])
    script = [(w, w) for w in cfg.words for _ in range(cfg.repeats)]
    unknown = rng.choice(cfg.unknown_words, size=cfg.unknown_per_speaker, replace=False)
    script += [(UNKNOWN, str(w)) for w in unknown]
    script += [(SILENCE, "")] * cfg.silence_per_speaker
    return script


def synthesise(cfg, seed: int, workers: int = 2) -> Iterator[Clip]:
    """Yield every clip of the collection, speaker by speaker.

    Each speaker is spoken in a fresh eSpeak process, so a speaker's clips depend only on
    (seed, speaker index): the same whatever else was synthesised, and unchanged when
    `cfg.speakers` grows.
    """
    if set(cfg.words) & set(cfg.unknown_words):
        raise ValueError(
            f"collect.keywords: {sorted(set(cfg.words) & set(cfg.unknown_words))} "
            "are both keywords and unknown words"
        )
    speakers = make_speakers(cfg, seed, espeak.variants())
    scripts = [speaker_script(cfg, i, seed) for i in range(len(speakers))]
    batches = [
        [(word, spk.voice, spk.rate_wpm, spk.pitch) for label, word in script if label != SILENCE]
        for spk, script in zip(speakers, scripts)
    ]
    length = int(round(cfg.duration_s * cfg.sample_rate))
    resamplers: dict[int, torchaudio.transforms.Resample] = {}
    spoken = espeak.speak_batches(batches, workers)
    for s_index, (speaker, script) in enumerate(zip(speakers, scripts)):
        rate, audio = next(spoken)
        if rate not in resamplers:
            resamplers[rate] = torchaudio.transforms.Resample(rate, cfg.sample_rate)
        speech_iter = iter(audio)
        for c_index, (label, word) in enumerate(script):
            rng = np.random.default_rng([seed, 3, s_index, c_index])
            if label == SILENCE:
                samples, meta = background(length, cfg.sample_rate, rng, (-50.0, -25.0))
            else:
                raw = next(speech_iter)
                with torch.no_grad():
                    speech = resamplers[rate](torch.from_numpy(raw.astype(np.float32) / 32768))
                samples, meta = record(
                    speech.numpy(),
                    cfg.sample_rate,
                    length,
                    rng,
                    gain_db=tuple(cfg.gain_db),
                    snr_db=tuple(cfg.snr_db),
                    reverb_probability=cfg.reverb_probability,
                )
            yield Clip(label, word, speaker, samples, meta)
