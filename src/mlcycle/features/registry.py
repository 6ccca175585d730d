"""Pick the featurizer of a modality (its `featurizer` part, mlcycle.modalities); rebuild
one from the stats.json it wrote."""

from __future__ import annotations

from dataclasses import asdict

from omegaconf import DictConfig, OmegaConf

from mlcycle.features.featurizer import Featurizer
from mlcycle.modalities import modality as modality_part


def featurizer_of(modality: str) -> type[Featurizer]:
    """The Featurizer class of `modality`; ValueError naming an unknown one."""
    try:
        return modality_part(modality, "featurizer")
    except ValueError as e:
        raise ValueError(f"unknown task.modality: {e}") from None


def build(modality: str, featurize: DictConfig) -> tuple[Featurizer, dict]:
    """The featurizer for `modality` from the featurize params; also its config as a dict."""
    featurizer_type = featurizer_of(modality)
    section = featurize.get(modality)
    if section is None:
        raise ValueError(f"featurize.{modality} is not set for this {modality} task")
    cfg = featurizer_type.config_type(**OmegaConf.to_container(section))
    return featurizer_type(cfg), asdict(cfg)


def from_stats(stats: dict) -> Featurizer:
    """The exact featurizer (config + normalisation) recorded in data/features/stats.json."""
    return featurizer_of(stats["modality"]).from_stats(stats)
