"""The server's settings as plain attributes.

A request reads a dozen settings (limits, deadlines, the canary's mirror share); through
OmegaConf each read costs microseconds of validation (60 us of a 85 us decode), so the
server reads them from nested namespaces made once at start.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf


def plain(cfg: Any) -> Any:
    """`cfg` (an OmegaConf node, a dict, or already plain) as nested SimpleNamespaces and
    lists, interpolations resolved."""
    if isinstance(cfg, (DictConfig, ListConfig)):
        cfg = OmegaConf.to_container(cfg, resolve=True)
    if isinstance(cfg, dict):
        return SimpleNamespace(**{key: plain(value) for key, value in cfg.items()})
    if isinstance(cfg, list):
        return [plain(value) for value in cfg]
    return cfg
