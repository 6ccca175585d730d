"""Modalities as plug-ins: a kind of data (audio, image, table) is one folder here.

Each folder provides one object per part, as `PART` in a module named after it:

    collect.py     PART(params): the sources' examples into paths.raw
    validate.py    PART(params): checked, split examples into paths.validated, the data
                   metrics and report
    featurizer.py  PART: the Featurizer class (mlcycle.features.featurizer) that turns a
                   decoded input into the network's input, in training and serving
    featurize.py   PART(params, base): the feature store (`base`: train.init_from's
                   package, whose featurizer fine-tuning keeps, or None)
    train.py       PART(train_cfg): the training augmentation (an nn.Module) or None
    review.py      PART(path): how the label review page shows an example (HTML)
    evaluate.py    PART(params, package, stats): metrics/eval.json and the reports
    package.py     PART(params, package, stats, train, val, val_probs): the reference
                   profile production traffic is compared with
    serving.py     PART: mlcycle.modalities.base.Serving (content types, decoding, what
                   the log records)
    monitoring.py  PART: mlcycle.modalities.base.Monitoring (figures of logged inputs,
                   simulated shifts, export of labelled answers)
    params.py      PART: {section of params.yaml: its dataclass}, the modality's own
                   sections, typed as mlcycle.params types the core ones

The stages, the server and the monitor ask `modality(name, part)` and never branch on a
modality's name. A part is a module of its own so that DVC reruns a stage for the code it
runs: a stage's dvc.yaml deps are its import graph, and tests/import_graph.py follows
`modality(..., "<part>")` into that part of every registered folder (changing how tables
are evaluated must not collect audio again). The audio and image folders take most of
their parts from mlcycle.modalities.files, what modalities whose examples are files share.

A new modality: its folder, and its line in REGISTRY.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

REGISTRY = {
    "audio": "mlcycle.modalities.audio",
    "image": "mlcycle.modalities.image",
    "table": "mlcycle.modalities.table",
}
PARTS = (
    "collect",
    "validate",
    "featurizer",
    "featurize",
    "train",
    "review",
    "evaluate",
    "package",
    "serving",
    "monitoring",
    "params",
)


def modality(name: str, part: str) -> Any:
    """The `part` of modality `name`; ValueError naming an unknown modality."""
    if name not in REGISTRY:
        raise ValueError(f"task.modality {name!r} is not a modality; choose from {list(REGISTRY)}")
    if part not in PARTS:
        raise ValueError(f"a modality's parts are {PARTS}, not {part!r}")
    return import_module(f"{REGISTRY[name]}.{part}").PART
