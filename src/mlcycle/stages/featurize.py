"""featurize: validated files -> normalised model inputs per split + data/features/stats.json.

Normalisation statistics come from the training split only.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from mlcycle.atomic import write_json_atomic, write_with
from mlcycle.data.audio_io import read_audio
from mlcycle.data.schemas import SPLITS, ValidatedManifest, read_table
from mlcycle.features.audio import AudioConfig, AudioFeaturizer
from mlcycle.stages._main import StageError, log, run_stage

MANIFEST = Path("data/validated/manifest.csv")
OUT = Path("data/features")


def audio_features(featurizer: AudioFeaturizer, paths: list[str], batch_size: int):
    chunks = []
    for i in range(0, len(paths), batch_size):
        chunks.append(featurizer.raw_features([read_audio(p) for p in paths[i : i + batch_size]]))
    return torch.cat(chunks) if chunks else torch.empty(0)


def featurize(params: DictConfig) -> None:
    if not MANIFEST.is_file():
        raise StageError(f"{MANIFEST} not found (run the validate stage first)")
    manifest = read_table(MANIFEST, ValidatedManifest)
    if params.featurize.audio is None:
        raise StageError("featurize.audio is not set for this audio task")
    cfg = AudioConfig(**OmegaConf.to_object(params.featurize.audio).__dict__)
    featurizer = AudioFeaturizer(cfg)
    labels = list(params.task.labels)
    index = {label: i for i, label in enumerate(labels)}
    feats = {}
    for split in SPLITS:
        rows = manifest[manifest["split"] == split]
        if rows.empty:
            raise StageError(f"split {split!r} is empty: no valid files were assigned to it")
        feats[split] = (
            audio_features(featurizer, rows["path"].tolist(), params.featurize.batch_size),
            torch.tensor([index[x] for x in rows["label"]]),
            rows["path"].tolist(),
        )
    featurizer.fit_stats(feats["train"][0])
    for split, (x, y, paths) in feats.items():
        data = {"x": featurizer.normalise(x).contiguous(), "y": y, "path": paths}
        write_with(OUT / f"{split}.pt", lambda p, d=data: torch.save(d, p))
        log.info("%s: %d examples, input %s", split, len(y), tuple(x.shape[1:]))
    write_json_atomic(
        OUT / "stats.json",
        {
            "task": params.task.name,
            "modality": "audio",
            "labels": labels,
            "input_shape": list(feats["train"][0].shape[1:]),
            "audio": asdict(cfg),
            **featurizer.stats(),
        },
    )


def main(argv: list[str] | None = None) -> int:
    return run_stage("featurize", featurize, argv)


if __name__ == "__main__":
    sys.exit(main())
