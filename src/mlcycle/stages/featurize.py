"""featurize: validated files -> normalised model inputs per split + data/features/stats.json.

Normalisation statistics come from the training split only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from omegaconf import DictConfig

from mlcycle.atomic import write_json_atomic, write_torch_atomic
from mlcycle.data.tables import SPLITS, ValidatedManifest, read_table
from mlcycle.features.parallel import featurize_paths
from mlcycle.features.registry import build
from mlcycle.stages.runner import StageError, log, run_stage

MANIFEST = Path("data/validated/manifest.csv")
OUT = Path("data/features")


def featurize(params: DictConfig) -> None:
    if not MANIFEST.is_file():
        raise StageError(f"{MANIFEST} not found (run the validate stage first)")
    manifest = read_table(MANIFEST, ValidatedManifest)
    modality = params.task.modality
    try:
        featurizer, cfg = build(modality, params.featurize)
    except ValueError as e:
        raise StageError(str(e)) from None
    labels = list(params.task.labels)
    index = {label: i for i, label in enumerate(labels)}
    feats = {}
    for split in SPLITS:
        rows = manifest[manifest["split"] == split]
        if rows.empty:
            raise StageError(f"split {split!r} is empty: no valid files were assigned to it")
        paths = rows["path"].tolist()
        try:
            x = featurize_paths(
                featurizer, paths, params.featurize.batch_size, params.featurize.workers
            )
        except ValueError as e:
            raise StageError(f"featurize {split}: {e}") from None
        feats[split] = (x, torch.tensor([index[y] for y in rows["label"]]), paths)
    featurizer.fit_stats(feats["train"][0])
    for split, (x, y, paths) in feats.items():
        data = {"x": featurizer.normalise(x).contiguous(), "y": y, "path": paths}
        write_torch_atomic(OUT / f"{split}.pt", data)
        log.info("%s: %d examples, input %s", split, len(y), tuple(x.shape[1:]))
    write_json_atomic(
        OUT / "stats.json",
        {
            "task": params.task.name,
            "modality": modality,
            "labels": labels,
            "input_shape": list(feats["train"][0].shape[1:]),
            modality: cfg,
            **featurizer.stats(),
        },
    )


def main(argv: list[str] | None = None) -> int:
    return run_stage("featurize", featurize, argv)


if __name__ == "__main__":
    sys.exit(main())
