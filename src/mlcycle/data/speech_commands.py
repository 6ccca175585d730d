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
from omegaconf import OmegaConf

from mlcycle.data import espeak
from mlcycle.data.recording import background, record
from mlcycle.params import KeywordsSource

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


def clips_per_speaker(cfg) -> int:
    """How many clips speaker_script gives each speaker."""
    return len(cfg.words) * cfg.repeats + cfg.unknown_per_speaker + cfg.silence_per_speaker


def speaker_script(cfg, speaker_index: int, seed: int) -> list[tuple[str, str]]:
    """What one speaker records: (label, word) pairs."""
    rng = np.random.default_rng([seed, 2, speaker_index])
    script = [(w, w) for w in cfg.words for _ in range(cfg.repeats)]
    unknown = rng.choice(cfg.unknown_words, size=cfg.unknown_per_speaker, replace=False)
    script += [(UNKNOWN, str(w)) for w in unknown]
    script += [(SILENCE, "")] * cfg.silence_per_speaker
    return script


SPEAKERS_PER_PROCESS = 10


def record_speakers(job: tuple[KeywordsSource, int, list[tuple[int, Speaker]]]) -> list[Clip]:
    """Every clip of a block of speakers; runs in a fresh process (espeak.in_fresh_processes)."""
    cfg, seed, block = job
    torch.set_num_threads(1)  # a forked child must not use the parent's OpenMP pool
    engine = espeak.Espeak.get()
    engine.reset_random(seed)
    resample = torchaudio.transforms.Resample(engine.sample_rate, cfg.sample_rate)
    length = int(round(cfg.duration_s * cfg.sample_rate))
    clips = []
    for s_index, speaker in block:
        clips += record_speaker(cfg, seed, s_index, speaker, engine, resample, length)
    return clips


def record_speaker(cfg, seed, s_index, speaker, engine, resample, length) -> list[Clip]:
    clips = []
    for c_index, (label, word) in enumerate(speaker_script(cfg, s_index, seed)):
        rng = np.random.default_rng([seed, 3, s_index, c_index])
        if label == SILENCE:
            samples, meta = background(length, cfg.sample_rate, rng, (-50.0, -25.0))
        else:
            raw = engine.synth(word, speaker.voice, speaker.rate_wpm, speaker.pitch)
            with torch.no_grad():
                speech = resample(torch.from_numpy(raw.astype(np.float32) / 32768.0))
            samples, meta = record(
                speech.numpy(),
                cfg.sample_rate,
                length,
                rng,
                gain_db=tuple(cfg.gain_db),
                snr_db=tuple(cfg.snr_db),
                reverb_probability=cfg.reverb_probability,
            )
        clips.append(Clip(label, word, speaker, samples, meta))
    return clips


def synthesise(cfg, seed: int, workers: int = 2) -> Iterator[Clip]:
    """Yield every clip of the collection, speaker by speaker.

    Speakers are recorded in fixed blocks of SPEAKERS_PER_PROCESS, each block in a fresh
    process (`workers` at a time), so a speaker's clips depend only on (seed, speaker
    index): the same whatever else ran before, and unchanged when `cfg.speakers` grows.
    """
    if set(cfg.words) & set(cfg.unknown_words):
        raise ValueError(
            f"collect.keywords: {sorted(set(cfg.words) & set(cfg.unknown_words))} "
            "are both keywords and unknown words"
        )
    source = OmegaConf.to_object(cfg) if OmegaConf.is_config(cfg) else cfg
    speakers = make_speakers(source, seed, espeak.variants())
    indexed = list(enumerate(speakers))
    jobs = [
        (source, seed, indexed[i : i + SPEAKERS_PER_PROCESS])
        for i in range(0, len(indexed), SPEAKERS_PER_PROCESS)
    ]
    for clips in espeak.in_fresh_processes(record_speakers, jobs, workers):
        yield from clips
