"""Load a trained network from a Lightning checkpoint without unpickling code objects."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from hydra.utils import instantiate
from torch import nn


class CheckpointError(ValueError):
    """The checkpoint is missing, corrupt or does not match its network config."""


# The networks a checkpoint or package may name: loading one builds only these, with plain
# values for arguments (never a nested `_target_`), so a card edited by hand cannot make
# Hydra import and call anything else. A network of your own: add its `_target_` here.
NETWORKS = (
    "mlcycle.models.dscnn.DSCNN",
    "mlcycle.models.cnn.SmallCNN",
    "mlcycle.models.resnet.TinyResNet",
    "mlcycle.models.bcresnet.BCResNet",
    "mlcycle.models.tabular.TabularMLP",
)
PLAIN = (str, int, float, bool, type(None))


class NetworkRefused(ValueError):
    """A network config names code that is not one of NETWORKS, or nests objects."""


def build_network(spec: dict) -> nn.Module:
    """The network that `spec` describes: {"model": {_target_...}, "n_classes", "in_channels"}
    and, where the featurizer gives them, "inputs" (e.g. a table's category cardinalities).

    NetworkRefused unless `_target_` is one of NETWORKS and every other value is plain
    (numbers, strings, booleans, or lists of them)."""
    model = spec.get("model")
    if not isinstance(model, dict) or model.get("_target_") not in NETWORKS:
        target = model.get("_target_") if isinstance(model, dict) else model
        raise NetworkRefused(f"network {target!r} is not one of mlcycle's networks {NETWORKS}")
    inputs = spec.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise NetworkRefused(f"network inputs must be a mapping, got {inputs!r}")
    for key, value in [*model.items(), *inputs.items()]:
        values = value if isinstance(value, list) else [value]
        if key != "_target_" and (
            key.startswith("_") or not all(isinstance(v, PLAIN) for v in values)
        ):
            raise NetworkRefused(f"network argument {key!r} must be a plain value, got {value!r}")
    for key in ("n_classes", "in_channels"):
        if not isinstance(spec.get(key), int):
            raise NetworkRefused(f"network {key} must be an integer, got {spec.get(key)!r}")
    return instantiate(
        model,
        n_classes=spec["n_classes"],
        in_channels=spec["in_channels"],
        **inputs,
        _convert_="all",
        _recursive_=False,
    )


def head(net: nn.Module) -> nn.Linear:
    """The classifier: the network's last linear layer."""
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(net).__name__} has no linear classifier layer to fine-tune")
    return linears[-1]


def load_network(path: str | Path) -> tuple[nn.Module, dict]:
    """Rebuild the network from the config stored in the checkpoint; returns (net, hparams)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path} (run the train stage first)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        hp = ckpt["hyper_parameters"]
        net = build_network(hp)
        state = {
            k.removeprefix("net."): v for k, v in ckpt["state_dict"].items() if k.startswith("net.")
        }
        net.load_state_dict(state)
    except (KeyError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as e:
        raise CheckpointError(f"cannot load {path}: {type(e).__name__}: {e}") from None
    return net.eval(), hp
