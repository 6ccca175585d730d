"""The sources collect can gather from, by name (collect.sources lists any combination).

Each source writes its files under a destination folder as <label>/<file> and returns one
manifest row per file: path (relative to the folder), label, group (the split key), source
and whatever metadata it knows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from mlcycle.data import digits, speech_commands
from mlcycle.data.audio_io import write_wav
from mlcycle.data.user_sources import SourceError, collect_folder, collect_manifest
from mlcycle.progress import progress


def keywords(params: DictConfig, dest: Path) -> pd.DataFrame:
    """Spoken keywords synthesised with eSpeak NG (collect.keywords, collect.augment)."""
    cfg = params.collect.keywords
    if cfg is None:
        raise SourceError("collect.sources has 'keywords' but collect.keywords is not set")
    total = cfg.speakers * speech_commands.clips_per_speaker(cfg)
    clips = speech_commands.synthesise(
        cfg, params.seed, params.collect.workers, params.collect.augment
    )
    return speech_rows(clips, total, "keywords", cfg.sample_rate, dest)


def pico_keywords(params: DictConfig, dest: Path) -> pd.DataFrame:
    """The same words spoken by SVOX Pico's voices (collect.pico), held-out voices too."""
    cfg, words = params.collect.pico, params.collect.keywords
    if cfg is None or words is None:
        raise SourceError(
            "collect.sources has 'pico' but collect.pico or collect.keywords (the words "
            "and the recording set-up it shares) is not set"
        )
    try:
        speakers = speech_commands.make_pico_speakers(cfg, params.seed)
    except ValueError as e:
        raise SourceError(str(e)) from None
    total = len(speakers) * speech_commands.clips_per_speaker(words)
    clips = speech_commands.synthesise(
        words, params.seed, params.collect.workers, params.collect.augment, pico_cfg=cfg
    )
    return speech_rows(clips, total, "pico", words.sample_rate, dest)


def speech_rows(clips, total: int, source: str, sample_rate: int, dest: Path) -> pd.DataFrame:
    """Write each synthesised clip as a WAV under <label>/; one manifest row each."""
    rows = []
    with progress(total, f"synthesising ({source})", "clip") as bar:
        for clip in clips:
            spk = clip.speaker
            rel = Path(clip.label) / f"{spk.id}_{clip.word or 'noise'}_{len(rows):05d}.wav"
            write_wav(dest / rel, clip.samples, sample_rate)
            rows.append(
                {
                    "path": rel.as_posix(),
                    "label": clip.label,
                    "group": spk.id,
                    "source": source,
                    "speaker": spk.id,
                    "engine": spk.engine,
                    "accent": spk.accent,
                    "variant": spk.variant,
                    "word": clip.word,
                    "rate_wpm": spk.rate if spk.engine == speech_commands.ESPEAK else None,
                    "rate_percent": spk.rate if spk.engine == speech_commands.PICO else None,
                    "pitch": spk.pitch,
                    "held_out": int(spk.held_out),
                    # what the recorder delivers; validate rejects a file that differs
                    "expected_sample_rate": sample_rate,
                    "expected_channels": 1,
                    **clip.meta,
                }
            )
            bar.update()
    return pd.DataFrame(rows)


def handwritten_digits(params: DictConfig, dest: Path) -> pd.DataFrame:
    """scikit-learn's handwritten digits as PNG files (collect.digits)."""
    cfg = params.collect.digits
    if cfg is None:
        raise SourceError("collect.sources has 'digits' but collect.digits is not set")
    rows = []
    for label, image, meta in digits.digits(cfg, params.seed):
        rel = Path(label) / f"digit_{meta['index']:04d}.png"
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        image.save(dest / rel, format="PNG")
        rows.append(
            {
                "path": rel.as_posix(),
                "label": label,
                "group": meta["group"],
                "source": "digits",
                "width": image.width,
                "height": image.height,
                "mode": image.mode,
            }
        )
    return pd.DataFrame(rows)


def folder(params: DictConfig, dest: Path) -> pd.DataFrame:
    """The user's folder of <label>/<file> (collect.folder.root)."""
    return collect_folder(params.collect.folder.root, params.task.labels, dest)


def manifest(params: DictConfig, dest: Path) -> pd.DataFrame:
    """The files a user's CSV lists (collect.manifest.csv)."""
    return collect_manifest(params.collect.manifest.csv, params.task.labels, dest)


@dataclass(frozen=True)
class Source:
    collect: Callable[[DictConfig, Path], pd.DataFrame]
    modality: str | None  # None: whatever the task's modality is
    built_in: bool  # built-in data gets defects injected on purpose


SOURCES = {
    "keywords": Source(keywords, "audio", True),
    "pico": Source(pico_keywords, "audio", True),
    "digits": Source(handwritten_digits, "image", True),
    "folder": Source(folder, None, False),
    "manifest": Source(manifest, None, False),
}


def check_sources(names: list[str], modality: str, task: str) -> None:
    """SourceError unless every name is a known source of the task's modality."""
    if not names:
        raise SourceError("collect.sources is empty")
    for name in names:
        if name not in SOURCES:
            raise SourceError(
                f"unknown source {name!r} in collect.sources; choose from {sorted(SOURCES)}"
            )
        if SOURCES[name].modality not in (None, modality):
            raise SourceError(
                f"source {name!r} is {SOURCES[name].modality} but task {task!r} is {modality}"
            )
