"""review: the training and validation examples whose label is likely wrong.

Writes <paths.label_review>/label_review.csv (every example, likeliest wrong first) and
index.html (the top review.top, to listen to or look at). A person's decisions go into
paths.corrections, which collect applies.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from mlcycle.atomic import write_csv_atomic, write_text_atomic
from mlcycle.features.store import load_split, load_stats
from mlcycle.models.checkpoint import CheckpointError, load_network
from mlcycle.models.label_review import embed, out_of_sample_probs, review_page, review_table
from mlcycle.stages.runner import StageError, log, run_stage


def review(params: DictConfig) -> None:
    paths, cfg = params.paths, params.review
    start = time.perf_counter()
    stats = load_stats(paths.features)
    try:
        net, _ = load_network(paths.checkpoint)
    except CheckpointError as e:
        raise StageError(str(e)) from None
    splits = {name: load_split(paths.features, name) for name in ("train", "val")}
    features = np.concatenate([embed(net, s.batches()) for s in splits.values()])
    given = np.concatenate([s.y.numpy() for s in splits.values()])
    probs = out_of_sample_probs(features, given, cfg.folds, params.seed)
    table = review_table(
        [p for s in splits.values() for p in s.paths],
        [name for name, s in splits.items() for _ in range(len(s))],
        given,
        probs,
        list(stats.labels),
    )
    out = Path(paths.label_review)
    write_csv_atomic(out / "label_review.csv", table)
    write_text_atomic(out / "index.html", review_page(table, stats.modality, cfg.top))
    log.info(
        "%d of %d labels are likely wrong; the top %d are in %s (%.0f s)",
        int(table["likely_wrong"].sum()),
        len(table),
        cfg.top,
        out / "index.html",
        time.perf_counter() - start,
    )


def main(argv: list[str] | None = None) -> int:
    return run_stage("review", review, argv, pinned=True)


if __name__ == "__main__":
    sys.exit(main())
