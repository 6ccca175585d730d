"""The shell of every stage: parse overrides, load params, report errors plainly.

Under DVC (which sets DVC_STAGE for the commands it runs) a stage sees only the params
that dvc.yaml declares for it, plus the `paths.*` its definition interpolates: reading
any other key is an error naming it, so no output can silently depend on a parameter
DVC does not track.
"""

from __future__ import annotations

import copy
import logging
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

import yaml
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from mlcycle import threads
from mlcycle.config import ConfigError, load

log = logging.getLogger("mlcycle")
DVC_YAML = Path("dvc.yaml")


class StageError(RuntimeError):
    """A stage cannot go on; the message says what is wrong and where."""


def declared_params(stage: str, dvc_yaml: Path = DVC_YAML) -> list[str]:
    """The params keys dvc.yaml lists for `stage`, plus each `${paths...}` it interpolates."""
    stages = (yaml.safe_load(dvc_yaml.read_text()) or {}).get("stages", {})
    if stage not in stages:
        raise ConfigError(f"{dvc_yaml} has no stage {stage!r}")
    entry = stages[stage]
    keys = []
    for item in entry.get("params", []):
        if isinstance(item, dict):  # {params-file: [keys]}
            keys += [k for ks in item.values() for k in ks]
        else:
            keys.append(item)
    keys += re.findall(r"\$\{(paths(?:\.\w+)+)\}", yaml.safe_dump(entry))
    return sorted(set(keys))


def restrict(cfg: DictConfig, keys: list[str]) -> DictConfig:
    """A read-only copy of `cfg` in which every value outside `keys` (dotted) is missing:
    reading one raises MissingMandatoryValue naming its full key."""
    for key in keys:
        if OmegaConf.select(cfg, key, default=KeyError) is KeyError:
            raise ConfigError(f"dvc.yaml declares param '{key}', which params.yaml lacks")
    kept = copy.deepcopy(cfg)  # keeps the typed (structured) nodes
    for leaf in _leaves(OmegaConf.to_container(kept)):
        if not any(leaf == k or leaf.startswith(k + ".") for k in keys):
            OmegaConf.update(kept, leaf, MISSING)
    OmegaConf.set_readonly(kept, True)
    return kept


def _leaves(node: dict, prefix: str = "") -> list[str]:
    keys = []
    for name, value in node.items():
        if isinstance(value, dict) and value:
            keys += _leaves(value, f"{prefix}{name}.")
        else:
            keys.append(f"{prefix}{name}")
    return keys


def dvc_stage() -> str | None:
    """The dvc.yaml stage DVC is running this process for, if any."""
    stage = os.environ.get("DVC_STAGE")
    return stage.split(":")[-1] if stage and DVC_YAML.is_file() else None


def stage_params(args: list[str]) -> DictConfig:
    """params.yaml with `args` applied; under DVC, only what dvc.yaml declares."""
    params = load(args)
    if stage := dvc_stage():
        params = restrict(params, declared_params(stage))
    return params


def run_stage(
    name: str,
    body: Callable[[DictConfig], None],
    argv: list[str] | None = None,
    *,
    pinned: bool = False,
) -> int:
    """Run `body(params)` with Hydra overrides from argv; print errors without a traceback.

    `pinned`: the stage's result depends on torch's thread count, so it runs on the
    `threads` param's count (which the stage must list in dvc.yaml), not its share of the
    cores (mlcycle.threads)."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(f"[{name}] %(message)s"))
    log.handlers[:] = [handler]  # one stage's prefix at a time, even when run in-process
    log.setLevel(logging.INFO)
    args = sys.argv[1:] if argv is None else argv
    try:
        params = stage_params(args)
        share = threads.pin(params.threads) if pinned else threads.apply()
        if share.shared:
            log.info("%s", share)
        body(params)
    # FeatureStoreError is a FileNotFoundError
    except (ConfigError, StageError, FileNotFoundError, threads.ThreadsError) as e:
        print(f"[{name}] error: {e}", file=sys.stderr)
        return 2
    except MissingMandatoryValue as e:
        if not dvc_stage():
            raise  # a bug, not an undeclared param
        key = getattr(e, "full_key", None) or str(e).splitlines()[0]
        print(
            f"[{name}] error: the stage reads param '{key}', which dvc.yaml does not list "
            f"in stage {dvc_stage()!r}'s params: add it there",
            file=sys.stderr,
        )
        return 2
    return 0
