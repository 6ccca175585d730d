"""The built-in speech sources: Speech Commands-style clips from two synthesisers.

`keywords`: eSpeak NG, a speaker an English accent x voice variant with its own speaking
rate and pitch. `pico`: SVOX Pico (mlcycle.data.pico), a speaker one of its voices (each
trained on a real person's recordings) at its own rate and pitch; the voices in
`collect.pico.held_out_voices` are recorded for the held_out split only. Training
speakers' speech goes through collect.augment (mlcycle.data.augment); held-out speakers'
only through the recording simulation, as a user's recordings would arrive. Every clip is
a pure function of (seed, speaker, clip index), so the collection is reproducible.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torchaudio
from omegaconf import OmegaConf

from mlcycle.data import augment, espeak, pico
from mlcycle.data.recording import background, record
from mlcycle.params import Augment, KeywordsSource, PicoSource

UNKNOWN, SILENCE = "_unknown_", "_silence_"


ESPEAK, PICO = "espeak", "pico"
STREAM = {ESPEAK: 0, PICO: 10}  # each engine's speakers draw from their own seeds


@dataclass(frozen=True)
class Speaker:
    id: str
    accent: str  # eSpeak: its accent; Pico: its voice (en-US, ...)
    variant: str  # eSpeak: its voice variant; Pico: "pico"
    rate: int  # eSpeak: words per minute; Pico: percent of the voice's own
    pitch: int  # eSpeak: 0-99; Pico: percent
    engine: str = ESPEAK
    held_out: bool = False  # never trained on: the held_out split

    @property
    def voice(self) -> str:
        return f"{self.accent}+{self.variant}" if self.engine == ESPEAK else self.accent

    def speak(self, word: str, engine: espeak.Espeak | None) -> tuple[np.ndarray, int]:
        """The word as int16 samples and their rate."""
        if self.engine == PICO:
            return pico.synth(word, self.accent, self.rate, self.pitch), pico.SAMPLE_RATE
        assert engine is not None
        return engine.synth(word, self.voice, self.rate, self.pitch), engine.sample_rate


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
                rate=int(rng.integers(cfg.rate_wpm[0], cfg.rate_wpm[1] + 1)),
                pitch=int(rng.integers(cfg.pitch[0], cfg.pitch[1] + 1)),
            )
        )
    return speakers


def make_pico_speakers(cfg: PicoSource, seed: int) -> list[Speaker]:
    """`cfg.speakers` training speakers of cfg.voices and `cfg.held_out_speakers` of
    cfg.held_out_voices, voices in rotation, rate and pitch drawn from the seed."""
    unknown = sorted((set(cfg.voices) | set(cfg.held_out_voices)) - set(pico.VOICES))
    if unknown:
        raise ValueError(f"collect.pico: unknown voice(s) {unknown}; choose from {pico.VOICES}")
    if both := sorted(set(cfg.voices) & set(cfg.held_out_voices)):
        raise ValueError(f"collect.pico: {both} are both training and held-out voices")
    for name, (low, high), limits in (
        ("rate", cfg.rate, pico.RATE_LIMITS),
        ("pitch", cfg.pitch, pico.PITCH_LIMITS),
    ):
        if not limits[0] <= low <= high <= limits[1]:
            raise ValueError(f"collect.pico.{name} {[low, high]} is not within {list(limits)}")
    speakers = []
    for held_out, voices, count in (
        (False, cfg.voices, cfg.speakers),
        (True, cfg.held_out_voices, cfg.held_out_speakers),
    ):
        if count and not voices:
            kind = "held_out_voices" if held_out else "voices"
            raise ValueError(f"collect.pico: {count} speakers but no {kind}")
        for i in range(count):
            rng = np.random.default_rng([seed, STREAM[PICO] + 1, int(held_out), i])
            speakers.append(
                Speaker(
                    id=f"pico{'-held' if held_out else ''}{i:04d}",
                    accent=voices[i % len(voices)],
                    variant="pico",
                    rate=int(rng.integers(cfg.rate[0], cfg.rate[1] + 1)),
                    pitch=int(rng.integers(cfg.pitch[0], cfg.pitch[1] + 1)),
                    engine=PICO,
                    held_out=held_out,
                )
            )
    return speakers


def clips_per_speaker(cfg) -> int:
    """How many clips speaker_script gives each speaker."""
    return len(cfg.words) * cfg.repeats + cfg.unknown_per_speaker + cfg.silence_per_speaker


def speaker_script(cfg, speaker_index: int, seed: int, stream: int = 0) -> list[tuple[str, str]]:
    """What one speaker records: (label, word) pairs."""
    rng = np.random.default_rng([seed, stream + 2, speaker_index])
    script = [(w, w) for w in cfg.words for _ in range(cfg.repeats)]
    unknown = rng.choice(cfg.unknown_words, size=cfg.unknown_per_speaker, replace=False)
    script += [(UNKNOWN, str(w)) for w in unknown]
    script += [(SILENCE, "")] * cfg.silence_per_speaker
    return script


SPEAKERS_PER_PROCESS = 10


Job = tuple[KeywordsSource, Augment | None, int, list[tuple[int, Speaker]]]


def record_speakers(job: Job) -> list[Clip]:
    """Every clip of a block of speakers; runs in a fresh process (espeak.in_fresh_processes)."""
    cfg, augmentation, seed, block = job
    torch.set_num_threads(1)  # a forked child must not use the parent's OpenMP pool
    engine = None
    if any(speaker.engine == ESPEAK for _, speaker in block):
        engine = espeak.Espeak.get()
        engine.reset_random(seed)
    length = int(round(cfg.duration_s * cfg.sample_rate))
    clips = []
    for s_index, speaker in block:
        augments = None if speaker.held_out else augmentation
        clips += record_speaker(cfg, seed, s_index, speaker, engine, length, augments)
    return clips


def record_speaker(
    cfg, seed, s_index, speaker, engine, length, augmentation: Augment | None = None
) -> list[Clip]:
    stream = STREAM[speaker.engine] + (5 if speaker.held_out else 0)
    resamplers: dict[int, torchaudio.transforms.Resample] = {}
    clips = []
    for c_index, (label, word) in enumerate(speaker_script(cfg, s_index, seed, stream)):
        rng = np.random.default_rng([seed, stream + 3, s_index, c_index])
        # the augmentations' own stream: switching one off leaves every other draw alone
        rng_augment = np.random.default_rng([seed, stream + 4, s_index, c_index])
        done: dict = {}
        if label == SILENCE:
            samples, meta = background(length, cfg.sample_rate, rng, (-50.0, -25.0))
        else:
            raw, rate = speaker.speak(word, engine)
            speech = raw.astype(np.float32) / 32768.0
            if rate != cfg.sample_rate:
                # In float64: the convolution's sums are split by the CPU's vector width
                # (AVX-512 and AVX2 kernels round differently), and in float32 that moved
                # the written 16-bit samples of 7 % of the clips from one CPU to another;
                # in float64 the difference is below what the 16 bits can show.
                if rate not in resamplers:
                    resamplers[rate] = torchaudio.transforms.Resample(
                        rate, cfg.sample_rate, dtype=torch.float64
                    )
                with torch.no_grad():
                    wide = resamplers[rate](torch.from_numpy(speech.astype(np.float64)))
                speech = wide.numpy().astype(np.float32)
            if augmentation is not None:
                speech, done = augment.voice(speech, cfg.sample_rate, augmentation, rng_augment)
            samples, meta = record(
                speech,
                cfg.sample_rate,
                length,
                rng,
                gain_db=tuple(cfg.gain_db),
                snr_db=tuple(cfg.snr_db),
                reverb_probability=cfg.reverb_probability,
            )
            if augmentation is not None:
                samples, channel = augment.channel(
                    samples, cfg.sample_rate, augmentation, rng_augment
                )
                done |= channel
        clips.append(Clip(label, word, speaker, samples, {**meta, **done}))
    return clips


def synthesise(
    cfg, seed: int, workers: int = 2, augmentation=None, pico_cfg=None
) -> Iterator[Clip]:
    """Yield every clip of the collection, speaker by speaker: eSpeak's speakers (cfg),
    or Pico's when `pico_cfg` is given.

    Speakers are recorded in fixed blocks of SPEAKERS_PER_PROCESS, each block in a fresh
    process (`workers` at a time), so a speaker's clips depend only on (seed, speaker
    index): the same whatever else ran before, and unchanged when `cfg.speakers` grows.
    """
    if set(cfg.words) & set(cfg.unknown_words):
        raise ValueError(
            f"collect.keywords: {sorted(set(cfg.words) & set(cfg.unknown_words))} "
            "are both keywords and unknown words"
        )
    source = plain(cfg)
    augments = plain(augmentation) if augmentation is not None else None
    if pico_cfg is None:
        speakers = make_speakers(source, seed, espeak.variants())
    else:
        speakers = make_pico_speakers(plain(pico_cfg), seed)
    # each family counts its speakers from 0: their seeds do not move when another grows
    indexed = family_indexed(speakers)
    jobs = [
        (source, augments, seed, indexed[i : i + SPEAKERS_PER_PROCESS])
        for i in range(0, len(indexed), SPEAKERS_PER_PROCESS)
    ]
    for clips in espeak.in_fresh_processes(record_speakers, jobs, workers):
        yield from clips


def family_indexed(speakers: list[Speaker]) -> list[tuple[int, Speaker]]:
    """(index within its own family, speaker): training and held-out speakers each from 0."""
    counts: dict[tuple[str, bool], int] = {}
    out = []
    for speaker in speakers:
        key = (speaker.engine, speaker.held_out)
        out.append((counts.get(key, 0), speaker))
        counts[key] = counts.get(key, 0) + 1
    return out


def plain(cfg):
    return OmegaConf.to_object(cfg) if OmegaConf.is_config(cfg) else cfg
