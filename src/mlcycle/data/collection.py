"""Build a collection: every source into one folder, defects injected, manifest.csv.

The folder is built beside its target and renamed into place at the end, so a failed or
interrupted run leaves the previous collection exactly as it was.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from mlcycle.atomic import write_csv_atomic
from mlcycle.data.defects import Defects, choose_defects
from mlcycle.data.sources import SOURCES, check_sources
from mlcycle.data.tables import RAW_MANIFEST, RawManifest

log = logging.getLogger("mlcycle")


def inject_defects(manifest: pd.DataFrame, params: DictConfig, root: Path, defects: Defects) -> int:
    """Spoil collect.defect_fraction of the built-in rows, as real collections are spoilt,
    with the modality's `defects`."""
    built_in = [name for name, source in SOURCES.items() if source.built_in]
    rows = manifest.index[manifest["source"].isin(built_in)]
    rng = np.random.default_rng([params.seed, 99])
    chosen = choose_defects(len(rows), params.collect.defect_fraction, defects.kinds, rng)
    for i, kind in chosen.items():
        row = rows[i]
        defects.inject(root / manifest.at[row, "path"], kind, rng)
        manifest.at[row, "defect"] = kind
    return len(chosen)


def flip_labels(manifest: pd.DataFrame, params: DictConfig) -> int:
    """Give collect.label_noise of the built-in, intact rows another label, as careless
    labelling does; `true_label` keeps the truth (the pipeline never trains on it: it is
    there to measure how well wrong labels are found)."""
    fraction = params.collect.label_noise
    if not fraction:
        return 0
    built_in = [name for name, source in SOURCES.items() if source.built_in]
    manifest["true_label"] = manifest["label"].where(manifest["source"].isin(built_in), "")
    intact = manifest["source"].isin(built_in) & (manifest["defect"] == "")
    if "held_out" in manifest:  # held-out voices measure the model: their labels stay true
        intact &= manifest["held_out"].fillna(0).astype(float) == 0
    rows = manifest.index[intact]
    rng = np.random.default_rng([params.seed, 77])
    chosen = rng.choice(rows, size=min(len(rows), int(round(len(rows) * fraction))), replace=False)
    labels = list(params.task.labels)
    for row in sorted(chosen):
        others = [label for label in labels if label != manifest.at[row, "label"]]
        manifest.at[row, "label"] = others[int(rng.integers(len(others)))]
    return len(chosen)


class CorrectionError(ValueError):
    """A line of the corrections file is wrong; the message names the file and the line."""


def apply_corrections(
    manifest: pd.DataFrame, corrections: Path, labels: list[str], raw: str, root: Path
) -> tuple[pd.DataFrame, int, int]:
    """Relabel or drop rows as a person decided (path,label or path,drop); returns the
    manifest and how many rows were relabelled and dropped. Paths may be as the review
    shows them (under paths.raw) or relative to it."""
    if not corrections.is_file():
        return manifest, 0, 0
    table = pd.read_csv(corrections, dtype=str, keep_default_na=False)
    if missing := {"path", "label"} - set(table.columns):
        raise CorrectionError(f"{corrections}: missing column(s) {sorted(missing)}")
    index = {path: i for i, path in zip(manifest.index, manifest["path"])}
    relabelled, dropped = 0, []
    for line, (path, label) in enumerate(zip(table["path"], table["label"]), start=2):
        rel = path.strip().removeprefix(raw.rstrip("/") + "/")
        if rel not in index:
            raise CorrectionError(f"{corrections} line {line}: no collected file {path!r}")
        label = label.strip()
        if label == "drop":
            dropped.append(index[rel])
            (root / rel).unlink(missing_ok=True)
        elif label in labels:
            relabelled += manifest.at[index[rel], "label"] != label
            manifest.at[index[rel], "label"] = label
        else:
            raise CorrectionError(
                f"{corrections} line {line}: label {label!r} is neither 'drop' nor one of "
                f"task.labels {labels}"
            )
    return manifest.drop(index=dropped).reset_index(drop=True), int(relabelled), len(dropped)


def build_collection(params: DictConfig, out: Path, defects: Defects) -> tuple[pd.DataFrame, int]:
    """Collect collect.sources into `out` (replaced whole), `defects` injected; returns
    (manifest, the number of defects).

    SourceError (a ValueError) names a bad source, folder, file or label.
    """
    check_sources(list(params.collect.sources), params.task.modality, params.task.name)
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        frames = [SOURCES[name].collect(params, staging) for name in params.collect.sources]
        manifest = pd.concat(frames, ignore_index=True)
        manifest["defect"] = ""
        spoilt = inject_defects(manifest, params, staging, defects)
        flipped = flip_labels(manifest, params)
        manifest, relabelled, dropped = apply_corrections(
            manifest,
            Path(params.paths.corrections),
            list(params.task.labels),
            params.paths.raw,
            staging,
        )
        if flipped or relabelled or dropped:
            log.info(
                "labels: %d flipped on purpose (collect.label_noise), %d corrected and %d "
                "dropped by %s",
                flipped,
                relabelled,
                dropped,
                params.paths.corrections,
            )
        manifest = RawManifest.validate(manifest)
        write_csv_atomic(staging / RAW_MANIFEST, manifest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return manifest, spoilt
