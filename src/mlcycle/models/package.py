"""The deployable package: models/package/{weights.pt, card.json}.

weights.pt is a plain state dict (loaded with ``weights_only=True``: no code is unpickled);
card.json holds everything else needed to rebuild the exact preprocessing and network, plus
the evaluation, the gate result and the provenance of the data.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mlcycle.atomic import write_json_atomic
from mlcycle.features.featurizer import Featurizer
from mlcycle.features.registry import from_stats
from mlcycle.models.checkpoint import build_network

FORMAT = 1
CARD, WEIGHTS = "card.json", "weights.pt"
REQUIRED = ("format", "task", "modality", "labels", "preprocessing", "network", "weights_sha256")


class PackageError(ValueError):
    """A package is missing, incomplete or corrupted; the message names what is wrong."""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_package(out: Path, net: torch.nn.Module, card: dict[str, Any]) -> None:
    """Write weights + card into `out`, atomically as a whole folder."""
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    torch.save(net.state_dict(), staging / WEIGHTS)
    write_json_atomic(
        staging / CARD, {"format": FORMAT, **card, "weights_sha256": sha256(staging / WEIGHTS)}
    )
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)


@dataclass
class Package:
    card: dict[str, Any]
    net: torch.nn.Module
    featurizer: Featurizer

    @property
    def labels(self) -> list[str]:
        return self.card["labels"]

    @torch.no_grad()
    def predict_proba(self, inputs: list[Any]) -> torch.Tensor:
        """Class probabilities for encoded inputs (paths or bytes of audio / images)."""
        decoded = [self.featurizer.decode(x) for x in inputs]
        return self.net(self.featurizer(decoded)).softmax(-1)


def load_package(folder: str | Path) -> Package:
    """Rebuild preprocessing + network from a package; PackageError names any problem."""
    folder = Path(folder)
    card_path, weights_path = folder / CARD, folder / WEIGHTS
    for path in (card_path, weights_path):
        if not path.is_file():
            raise PackageError(f"incomplete package: {path} is missing")
    try:
        card = json.loads(card_path.read_text())
    except json.JSONDecodeError as e:
        raise PackageError(f"{card_path} is not valid JSON: {e}") from None
    missing = [k for k in REQUIRED if k not in card]
    if missing:
        raise PackageError(f"{card_path} lacks {missing}")
    if card["format"] != FORMAT:
        raise PackageError(f"{card_path}: package format {card['format']}, expected {FORMAT}")
    if sha256(weights_path) != card["weights_sha256"]:
        raise PackageError(f"{weights_path} is corrupted: its sha256 does not match card.json")
    try:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
        net = build_network(card["network"])
        net.load_state_dict(state)
        featurizer = from_stats(card["preprocessing"])
    except (RuntimeError, KeyError, TypeError, ValueError, pickle.UnpicklingError) as e:
        raise PackageError(f"cannot rebuild the model from {folder}: {e}") from None
    return Package(card, net.eval(), featurizer)
