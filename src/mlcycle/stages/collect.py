"""collect: gather raw files into data/raw/<label>/ and write data/raw/manifest.csv.

The whole folder is built beside the target and renamed into place at the end, so an
interrupted run never leaves a partial collection where a complete one was.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from mlcycle.atomic import write_csv_atomic
from mlcycle.data import speech_commands
from mlcycle.data.audio_io import write_wav
from mlcycle.data.defects import AUDIO_DEFECTS, choose_defects, inject_audio_defect
from mlcycle.data.schemas import RawManifest
from mlcycle.stages._main import StageError, log, run_stage


def collect_keywords(params: DictConfig, root: Path) -> pd.DataFrame:
    cfg = params.collect.keywords
    if cfg is None:
        raise StageError("collect.source is 'keywords' but collect.keywords is not set")
    rows = []
    for clip in speech_commands.synthesise(cfg, params.seed):
        spk = clip.speaker
        rel = Path(clip.label) / f"{spk.id}_{clip.word or 'noise'}_{len(rows):05d}.wav"
        write_wav(root / rel, clip.samples, cfg.sample_rate)
        rows.append(
            {
                "path": rel.as_posix(),
                "label": clip.label,
                "group": spk.id,
                "source": "keywords",
                "speaker": spk.id,
                "accent": spk.accent,
                "variant": spk.variant,
                "word": clip.word,
                "rate_wpm": spk.rate_wpm,
                "pitch": spk.pitch,
                **clip.meta,
            }
        )
    return pd.DataFrame(rows)


SOURCES = {"keywords": collect_keywords}


def collect(params: DictConfig) -> None:
    out = Path(params.collect.out_dir)
    source = params.collect.source
    if source not in SOURCES:
        raise StageError(f"unknown collect.source {source!r}; choose from {sorted(SOURCES)}")
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    manifest = SOURCES[source](params, staging)
    if manifest.empty:
        raise StageError(f"source {source!r} collected no files")
    rng = np.random.default_rng([params.seed, 99])
    defects = choose_defects(len(manifest), params.collect.defect_fraction, AUDIO_DEFECTS, rng)
    manifest["defect"] = ""
    for i, kind in defects.items():
        inject_audio_defect(staging / manifest.at[i, "path"], kind, rng)
        manifest.at[i, "defect"] = kind
    manifest = RawManifest.validate(manifest)
    write_csv_atomic(staging / "manifest.csv", manifest)
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    counts = manifest["label"].value_counts().to_dict()
    log.info(
        "collected %d files into %s (%d defective on purpose): %s",
        len(manifest),
        out,
        len(defects),
        counts,
    )


def main(argv: list[str] | None = None) -> int:
    return run_stage("collect", collect, argv)


if __name__ == "__main__":
    sys.exit(main())
