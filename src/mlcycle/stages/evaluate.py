"""evaluate: the trained model on the unseen test split, and on voices never trained on.

Files: metrics/eval.json (accuracy, macro-F1, per-class scores, latency, size, confused
pairs, calibration error, worst slice; and, where a source held voices out, the
held_out_* figures: accuracy with its 95 % interval, macro-F1, per voice), the confusion
and reliability plots, every test prediction with its probabilities, the misclassified
files and the slices report; tables: the fraud figures (mlcycle.modalities.table.evaluate).
The model is measured as a Package, the same prediction path as serving; the modality's
pipeline does the rest (mlcycle.modalities).
"""

from __future__ import annotations

import sys

from omegaconf import DictConfig

from mlcycle.features.store import load_split, load_stats
from mlcycle.modalities import modality
from mlcycle.models.checkpoint import CheckpointError
from mlcycle.models.package import Package, PackageError
from mlcycle.stages.runner import StageError, run_stage


def evaluate(params: DictConfig) -> None:
    paths = params.paths
    stats = load_stats(paths.features)
    try:
        package = Package.from_checkpoint(paths.checkpoint, stats)
    except (CheckpointError, PackageError) as e:
        raise StageError(str(e)) from None
    if params.serve.runtime == "onnx":  # the latency of what serving runs
        package.use_onnx(next(iter(load_split(paths.features, "test").batches()))[:8])
    try:
        modality(stats.modality, "evaluate")(params, package, stats)
    except (ValueError, FileNotFoundError) as e:
        raise StageError(str(e)) from None


def main(argv: list[str] | None = None) -> int:
    return run_stage("evaluate", evaluate, argv, pinned=True)


if __name__ == "__main__":
    sys.exit(main())
