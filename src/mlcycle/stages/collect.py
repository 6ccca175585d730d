"""collect: gather raw files into data/raw/<label>/ and write data/raw/manifest.csv.

Sources (collect.sources, any combination): the built-in `keywords` (audio) or `digits`
(images), and the user's own `folder` or `manifest`. The whole folder is built beside the
target and renamed into place at the end: a failed or interrupted run leaves the previous
collection exactly as it was.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from mlcycle.atomic import write_csv_atomic
from mlcycle.data import digits, speech_commands
from mlcycle.data.audio_io import write_wav
from mlcycle.data.defects import choose_defects, defect_kinds, inject_defect
from mlcycle.data.tables import RawManifest
from mlcycle.data.user_sources import SourceError, collect_folder, collect_manifest
from mlcycle.stages.runner import StageError, log, run_stage

BUILT_IN = {"keywords": "audio", "digits": "image"}


def collect_keywords(params: DictConfig, root: Path) -> pd.DataFrame:
    cfg = params.collect.keywords
    if cfg is None:
        raise StageError("collect.sources has 'keywords' but collect.keywords is not set")
    rows = []
    for clip in speech_commands.synthesise(cfg, params.seed, params.collect.workers):
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


def collect_digits(params: DictConfig, root: Path) -> pd.DataFrame:
    cfg = params.collect.digits
    if cfg is None:
        raise StageError("collect.sources has 'digits' but collect.digits is not set")
    rows = []
    for label, image, meta in digits.digits(cfg, params.seed):
        rel = Path(label) / f"digit_{meta['index']:04d}.png"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        image.save(root / rel, format="PNG")
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


def collect_source(name: str, params: DictConfig, root: Path) -> pd.DataFrame:
    labels = params.task.labels
    if name == "keywords":
        return collect_keywords(params, root)
    if name == "digits":
        return collect_digits(params, root)
    if name == "folder":
        return collect_folder(params.collect.folder.root, labels, root)
    if name == "manifest":
        return collect_manifest(params.collect.manifest.csv, labels, root)
    raise StageError(
        f"unknown source {name!r} in collect.sources; "
        "choose from ['keywords', 'digits', 'folder', 'manifest']"
    )


def inject_defects(manifest: pd.DataFrame, params: DictConfig, root: Path) -> int:
    """Spoil collect.defect_fraction of the built-in rows, as real collections are spoilt."""
    modality = params.task.modality
    built_in = manifest.index[manifest["source"].isin(list(BUILT_IN))]
    rng = np.random.default_rng([params.seed, 99])
    chosen = choose_defects(
        len(built_in), params.collect.defect_fraction, defect_kinds(modality), rng
    )
    for i, kind in chosen.items():
        row = built_in[i]
        inject_defect(root / manifest.at[row, "path"], kind, modality, rng)
        manifest.at[row, "defect"] = kind
    return len(chosen)


def collect(params: DictConfig) -> None:
    out = Path(params.collect.out_dir)
    for name in params.collect.sources:
        if BUILT_IN.get(name, params.task.modality) != params.task.modality:
            raise StageError(
                f"source {name!r} is {BUILT_IN[name]} but task "
                f"{params.task.name!r} is {params.task.modality}"
            )
    if not params.collect.sources:
        raise StageError("collect.sources is empty")
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        frames = [collect_source(name, params, staging) for name in params.collect.sources]
        manifest = pd.concat(frames, ignore_index=True)
        manifest["defect"] = ""
        spoilt = inject_defects(manifest, params, staging)
        manifest = RawManifest.validate(manifest)
        write_csv_atomic(staging / "manifest.csv", manifest)
    except SourceError as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise StageError(str(e)) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    log.info(
        "collected %d files into %s from %s (%d defective on purpose): %s",
        len(manifest),
        out,
        list(params.collect.sources),
        spoilt,
        manifest["label"].value_counts().sort_index().to_dict(),
    )


def main(argv: list[str] | None = None) -> int:
    return run_stage("collect", collect, argv)


if __name__ == "__main__":
    sys.exit(main())
