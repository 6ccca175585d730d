"""Build a collection: every source into one folder, defects injected, manifest.csv.

The folder is built beside its target and renamed into place at the end, so a failed or
interrupted run leaves the previous collection exactly as it was.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from mlcycle.atomic import write_csv_atomic
from mlcycle.data.defects import choose_defects, defect_kinds, inject_defect
from mlcycle.data.sources import SOURCES, check_sources
from mlcycle.data.tables import RAW_MANIFEST, RawManifest


def inject_defects(manifest: pd.DataFrame, params: DictConfig, root: Path) -> int:
    """Spoil collect.defect_fraction of the built-in rows, as real collections are spoilt."""
    modality = params.task.modality
    built_in = [name for name, source in SOURCES.items() if source.built_in]
    rows = manifest.index[manifest["source"].isin(built_in)]
    rng = np.random.default_rng([params.seed, 99])
    chosen = choose_defects(len(rows), params.collect.defect_fraction, defect_kinds(modality), rng)
    for i, kind in chosen.items():
        row = rows[i]
        inject_defect(root / manifest.at[row, "path"], kind, modality, rng)
        manifest.at[row, "defect"] = kind
    return len(chosen)


def build_collection(params: DictConfig, out: Path) -> tuple[pd.DataFrame, int]:
    """Collect collect.sources into `out` (replaced whole); returns (manifest, defects).

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
        spoilt = inject_defects(manifest, params, staging)
        manifest = RawManifest.validate(manifest)
        write_csv_atomic(staging / RAW_MANIFEST, manifest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return manifest, spoilt
