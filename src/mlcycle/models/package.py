"""The deployable package: <paths.package>/{weights.pt, network.onnx, card.json}.

weights.pt is a plain state dict (loaded with ``weights_only=True``: no code is unpickled);
network.onnx the same network exported for ONNX Runtime (what serving runs; checked against
torch when exported, mlcycle.models.onnx_runtime); card.json holds everything else needed
to rebuild the exact preprocessing and network, plus the evaluation, the gate result and
the provenance of the data.

A package is data: loading one never runs code named in it. Its network is one of the
networks mlcycle ships (checkpoint.NETWORKS, no nested objects), and `card_sha256` covers
the card itself, the weights (`weights_sha256`), the ONNX export (`onnx_sha256`) and the
reference profile, so a package edited by hand after packaging is refused naming the file.
An ONNX file is data too: operators only, run by ONNX Runtime.

A Package is also what evaluate measures (Package.from_checkpoint), so the latency the
gate checks is that of the prediction path serving runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import shutil
import subprocess
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
import yaml

from mlcycle.atomic import write_json_atomic
from mlcycle.features.featurizer import Featurizer
from mlcycle.features.registry import from_stats
from mlcycle.features.store import FeatureStats
from mlcycle.models.checkpoint import NetworkRefused, build_network, load_network
from mlcycle.models.onnx_runtime import ExportMismatch, OnnxNetwork, checked_export

FORMAT = 1
CARD, WEIGHTS, REFERENCE, ONNX = "card.json", "weights.pt", "reference.json", "network.onnx"
RUNTIMES = ("onnx", "torch")
REQUIRED = (
    "format",
    "task",
    "modality",
    "labels",
    "preprocessing",
    "network",
    "weights_sha256",
    "card_sha256",
)


class PackageError(ValueError):
    """A package is missing, incomplete or corrupted; the message names what is wrong."""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def card_hash(card: dict[str, Any]) -> str:
    """The sha256 of the card's content, its own `card_sha256` left out."""
    content = {k: v for k, v in card.items() if k != "card_sha256"}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def seal(folder: str | Path, card: dict[str, Any]) -> dict[str, Any]:
    """`card` with the hashes of the folder's weights, ONNX export and reference and of
    itself: what load_package checks. Whoever changes a package on purpose seals it again;
    an ONNX export of other weights than the folder's is deleted then (torch serves)."""
    folder = Path(folder)
    card = {**card, "weights_sha256": sha256(folder / WEIGHTS)}
    card.pop("onnx_sha256", None)
    if card.get("onnx_of_weights") != card["weights_sha256"]:
        (folder / ONNX).unlink(missing_ok=True)
        card.pop("onnx_of_weights", None)
    if (folder / ONNX).is_file():
        card["onnx_sha256"] = sha256(folder / ONNX)
    if (folder / REFERENCE).is_file():
        card["reference_sha256"] = sha256(folder / REFERENCE)
    return {**card, "card_sha256": card_hash(card)}


@dataclass
class Package:
    card: dict[str, Any]
    net: torch.nn.Module
    featurizer: Featurizer
    # What production traffic is compared with (mlcycle.monitor.reference), if packaged.
    reference: dict[str, Any] | None = None
    # The network under ONNX Runtime, when loaded with runtime="onnx" or exported by
    # use_onnx; None: the torch network runs.
    runtime: OnnxNetwork | None = None

    @property
    def labels(self) -> list[str]:
        return self.card["labels"]

    @cached_property
    def version(self) -> str:
        """What identifies the model: its weights, preprocessing and network (12 hex)."""
        what = {k: self.card.get(k) for k in ("weights_sha256", "preprocessing", "network")}
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:12]

    @property
    def decision(self) -> dict[str, Any] | None:
        """{positive, threshold}: a score of the positive label at or above the threshold
        is an alert (the threshold evaluate chose on val); None for other tasks."""
        return self.card.get("decision")

    def predict_proba(self, inputs: list[Any]) -> torch.Tensor:
        """Class probabilities for encoded inputs (paths or bytes of audio / images)."""
        return self.predict_decoded([self.featurizer.decode(x) for x in inputs])

    @torch.no_grad()
    def predict_decoded(self, decoded: list[Any]) -> torch.Tensor:
        """Class probabilities for inputs already decoded by `featurizer.decode` (serving
        decodes, and refuses bad input, before it batches)."""
        features = self.featurizer(decoded)
        network = self.runtime if self.runtime is not None else self.net
        return network(features).softmax(-1)

    def use_onnx(self, example: torch.Tensor) -> bool:
        """Run the network under ONNX Runtime from now on, exported here for inputs shaped
        like `example` (model inputs, any batch size) and checked against torch on it;
        `save` writes the export into the package. False, said in the log, where the
        export does not give torch's probabilities: the torch network runs then."""
        try:
            self.runtime = checked_export(self.net, example)
        except ExportMismatch as e:
            logging.getLogger("mlcycle").warning("%s: the torch network runs instead", e)
            return False
        return True

    @classmethod
    def from_checkpoint(cls, checkpoint: str | Path, stats: FeatureStats) -> Package:
        """The package a training run makes: its network and the featurizer of `stats`.

        CheckpointError names a missing or damaged checkpoint.
        """
        net, hp = load_network(checkpoint)
        if list(hp["labels"]) != list(stats.labels):
            raise PackageError(
                f"{checkpoint} was trained on labels {hp['labels']}, "
                f"the features have {stats.labels}: run train again"
            )
        card = {
            "task": stats.task,
            "modality": stats.modality,
            "labels": list(stats.labels),
            "preprocessing": stats.to_dict(),
            "network": {k: hp[k] for k in ("model", "n_classes", "in_channels")},
        }
        if hp.get("inputs"):  # what the featurizer tells the network (a table's widths)
            card["network"]["inputs"] = hp["inputs"]
        if hp.get("fine_tuned_from"):
            card["fine_tuned_from"] = hp["fine_tuned_from"]
        return cls(card, net, from_stats(card["preprocessing"]))

    def save(self, out: str | Path) -> None:
        """Write weights + card into `out`, atomically as a whole folder."""
        out = Path(out)
        staging = out.with_name(out.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        torch.save(self.net.state_dict(), staging / WEIGHTS)
        card = {"format": FORMAT, **self.card}
        if self.runtime is not None:
            (staging / ONNX).write_bytes(self.runtime.model)
            card["onnx_of_weights"] = sha256(staging / WEIGHTS)
        if self.reference is not None:
            write_json_atomic(staging / REFERENCE, self.reference)
        write_json_atomic(staging / CARD, seal(staging, card))
        shutil.rmtree(out, ignore_errors=True)
        staging.rename(out)


def git_revision() -> str:
    """The commit the working tree is at, or "unknown" outside git."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
    except OSError:
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def data_hashes(data: list[str], lock: Path = Path("dvc.lock")) -> dict[str, str]:
    """The DVC hashes (md5) of the `data` outputs, as dvc.lock records them.

    DVC writes each stage's lock entry as soon as the stage has run, so when `dvc repro`
    reaches package the entries of the data stages describe the data this model saw.
    """
    if not lock.is_file():
        return {}
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    return {
        out["path"]: out.get("md5", "")
        for stage in stages.values()
        for out in stage.get("outs", [])
        if out["path"] in data
    }


def load_package(folder: str | Path, runtime: str = "onnx") -> Package:
    """Rebuild preprocessing + network from a package; PackageError names any problem.
    runtime="onnx" runs the network with the package's ONNX export where it has one
    (torch otherwise); "torch" always runs the torch network."""
    if runtime not in RUNTIMES:
        raise PackageError(f"unknown runtime {runtime!r}: one of {RUNTIMES}")
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
    if card_hash(card) != card["card_sha256"]:
        raise PackageError(
            f"{card_path} was changed after packaging: its content does not match its "
            "card_sha256 (repackage it, or seal it again with mlcycle.models.package.seal)"
        )
    if sha256(weights_path) != card["weights_sha256"]:
        raise PackageError(f"{weights_path} is corrupted: its sha256 does not match card.json")
    reference_path, onnx_path = folder / REFERENCE, folder / ONNX
    if reference_path.is_file() and sha256(reference_path) != card.get("reference_sha256"):
        raise PackageError(f"{reference_path} does not match the reference_sha256 of card.json")
    if onnx_path.is_file() != ("onnx_sha256" in card) or (
        onnx_path.is_file() and sha256(onnx_path) != card["onnx_sha256"]
    ):
        raise PackageError(f"{onnx_path} does not match the onnx_sha256 of card.json")
    try:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
        net = build_network(card["network"])
        net.load_state_dict(state)
        featurizer = from_stats(card["preprocessing"])
    except NetworkRefused as e:
        raise PackageError(f"{card_path}: {e}") from None
    except (RuntimeError, KeyError, TypeError, ValueError, pickle.UnpicklingError) as e:
        raise PackageError(f"cannot rebuild the model from {folder}: {e}") from None
    reference = None
    if reference_path.is_file():
        try:
            reference = json.loads(reference_path.read_text())
        except json.JSONDecodeError as e:
            raise PackageError(f"{reference_path} is not valid JSON: {e}") from None
    onnx = None
    if runtime == "onnx" and onnx_path.is_file():
        onnx = OnnxNetwork(onnx_path.read_bytes())
    return Package(card, net.eval(), featurizer, reference, onnx)
