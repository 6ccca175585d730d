"""Which labels are likely wrong: confident learning (cleanlab) on out-of-sample
probabilities.

The trained network's penultimate layer embeds every training and validation example;
a logistic regression, cross-validated over `folds` folds (scikit-learn), gives each
example probabilities from a model that never saw it; cleanlab scores how well each given
label agrees with them (self-confidence) and flags the likely label issues. Far cheaper
than training the network once per fold, and the embedding already separates the classes.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

import numpy as np
import pandas as pd
import torch
from cleanlab.filter import find_label_issues
from cleanlab.rank import get_label_quality_scores
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlcycle.modalities import modality as modality_part
from mlcycle.models.checkpoint import head


@torch.no_grad()
def embed(net: torch.nn.Module, batches: Iterable[torch.Tensor]) -> np.ndarray:
    """The input of the network's classifier layer for every example, batch by batch."""
    captured: list[torch.Tensor] = []
    hook = head(net).register_forward_hook(lambda _m, args, _out: captured.append(args[0]))
    try:
        for x in batches:
            net(x)
    finally:
        hook.remove()
    return torch.cat(captured).numpy()


def out_of_sample_probs(features: np.ndarray, labels: np.ndarray, folds: int, seed: int):
    """Class probabilities of each example from a model fitted on the other folds."""
    smallest = int(np.bincount(labels).min())
    folds = max(2, min(folds, smallest))  # every class in every training fold
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return cross_val_predict(model, features, labels, cv=splitter, method="predict_proba")


def review_table(
    paths: list[str],
    splits: list[str],
    given: np.ndarray,
    probs: np.ndarray,
    labels: list[str],
) -> pd.DataFrame:
    """One row per example, the likeliest wrong label first: path, split, given and
    suggested label, label quality score (0: surely wrong, 1: surely right), flagged."""
    scores = get_label_quality_scores(given, probs)
    flagged = find_label_issues(given, probs)
    table = pd.DataFrame(
        {
            "path": paths,
            "split": splits,
            "given_label": [labels[i] for i in given],
            "suggested_label": [labels[i] for i in probs.argmax(1)],
            "score": scores.round(5),
            "likely_wrong": flagged,
        }
    )
    return table.sort_values(["score", "path"], kind="stable").reset_index(drop=True)


def review_page(table: pd.DataFrame, modality: str, top: int) -> str:
    """A self-contained page of the `top` candidates: listen or look, given vs suggested."""
    view = modality_part(modality, "review")
    rows = []
    for rank, r in enumerate(table.head(top).itertuples(), start=1):
        rows.append(
            f"<tr><td>{rank}</td><td>{view.media(r.path)}</td><td>{html.escape(r.given_label)}</td>"
            f"<td><b>{html.escape(r.suggested_label)}</b></td><td>{r.score:.4f}</td>"
            f"<td><code>{html.escape(r.path)}</code></td></tr>"
        )
    how = view.how
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Label review</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2em}td,th{border:1px solid #ccc;"
        "padding:.3em .6em}table{border-collapse:collapse}</style></head><body>"
        f"<h1>Label review: the {min(top, len(table))} likeliest wrong labels</h1>"
        + how
        + "</p><table><tr><th>#</th><th>input</th><th>given</th><th>suggested</th>"
        "<th>score</th><th>path</th></tr>" + "".join(rows) + "</table></body></html>"
    )
