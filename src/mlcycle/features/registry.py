"""Pick the featurizer of a modality; rebuild one from the stats.json it wrote."""

from __future__ import annotations

from dataclasses import asdict

from omegaconf import DictConfig, OmegaConf

from mlcycle.features.audio import AudioFeaturizer
from mlcycle.features.featurizer import Featurizer
from mlcycle.features.image import ImageFeaturizer
from mlcycle.modalities.table.featurizer import TableFeaturizer

FEATURIZERS = {f.modality: f for f in (AudioFeaturizer, ImageFeaturizer, TableFeaturizer)}


def build(modality: str, featurize: DictConfig) -> tuple[Featurizer, dict]:
    """The featurizer for `modality` from the featurize params; also its config as a dict."""
    if modality not in FEATURIZERS:
        raise ValueError(f"unknown task.modality {modality!r}; choose from {sorted(FEATURIZERS)}")
    section = featurize.get(modality)
    if section is None:
        raise ValueError(f"featurize.{modality} is not set for this {modality} task")
    featurizer_type = FEATURIZERS[modality]
    cfg = featurizer_type.config_type(**OmegaConf.to_container(section))
    return featurizer_type(cfg), asdict(cfg)


def from_stats(stats: dict) -> Featurizer:
    """The exact featurizer (config + normalisation) recorded in data/features/stats.json."""
    return FEATURIZERS[stats["modality"]].from_stats(stats)
