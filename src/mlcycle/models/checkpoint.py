"""Load a trained network from a Lightning checkpoint without unpickling code objects."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from hydra.utils import instantiate
from torch import nn


class CheckpointError(ValueError):
    """The checkpoint is missing, corrupt or does not match its network config."""


def build_network(spec: dict) -> nn.Module:
    """The network that `spec` describes: {"model": {_target_...}, "n_classes", "in_channels"}."""
    return instantiate(
        spec["model"],
        n_classes=spec["n_classes"],
        in_channels=spec["in_channels"],
        _convert_="all",
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
