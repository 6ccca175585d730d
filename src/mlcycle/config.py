"""Load params.yaml, apply Hydra overrides from the command line, validate against the schema.

Every stage calls :func:`load`; `python -m mlcycle.config` recomposes params.yaml from conf/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from mlcycle.modalities import REGISTRY, modality
from mlcycle.params import Params

PARAMS_FILE = Path("params.yaml")
CONF_DIR = Path("conf")


class ConfigError(ValueError):
    """A parameter file or override is wrong; the message names the key."""


def apply_overrides(cfg: DictConfig, overrides: list[str]) -> None:
    """Apply Hydra override strings (`a.b=1`, `+a.c=2`, `~a.d`) to `cfg` in place."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as e:
        raise ConfigError(f"bad override: {e}") from None
    for o in parsed:
        key = o.key_or_group
        if o.is_delete():
            parent, _, leaf = key.rpartition(".")
            node = OmegaConf.select(cfg, parent) if parent else cfg
            if node is None or leaf not in node:
                raise ConfigError(f"cannot delete '{key}': no such key")
            del node[leaf]
            continue
        exists = OmegaConf.select(cfg, key, default=KeyError) is not KeyError
        if not exists and not o.is_add():
            raise ConfigError(f"unknown key '{key}' (prefix with + to add a new key)")
        if exists and o.is_add() and not o.is_force_add():
            raise ConfigError(f"key '{key}' already exists; drop the + to override it")
        OmegaConf.update(cfg, key, o.value(), merge=True, force_add=True)


def validate(cfg: DictConfig) -> DictConfig:
    """Merge `cfg` into the typed schema, and each modality's own sections present into
    theirs (mlcycle.modalities.<name>.params); raise ConfigError naming any bad key."""
    try:
        typed = OmegaConf.merge(OmegaConf.structured(Params), cfg)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None) or "?"
        raise ConfigError(f"invalid parameter '{key}': {_first_line(e)}") from None
    for name in REGISTRY:
        for section, schema in modality(name, "params").items():
            node = OmegaConf.select(typed, section)
            if node is None:
                continue
            try:
                merged = OmegaConf.merge(OmegaConf.structured(schema), node)
            except OmegaConfBaseException as e:
                key = f"{section}.{getattr(e, 'full_key', None) or '?'}"
                raise ConfigError(f"invalid parameter '{key}': {_first_line(e)}") from None
            OmegaConf.update(typed, section, merged, merge=False)
    missing = sorted(OmegaConf.missing_keys(typed))
    if missing:
        raise ConfigError(f"missing parameter(s) {', '.join(missing)}: conf/ must set them")
    return typed


def load(overrides: list[str] | None = None, path: Path = PARAMS_FILE) -> DictConfig:
    """Read `path`, apply `overrides`, validate; the stages' single way to get parameters."""
    if not path.exists():
        raise ConfigError(f"{path} not found: run from the project root, or `make params`")
    try:
        cfg = OmegaConf.load(path)
    except Exception as e:  # yaml errors carry the line number in their text
        raise ConfigError(f"cannot parse {path}: {e}") from None
    if not isinstance(cfg, DictConfig):
        raise ConfigError(f"{path} must hold a mapping of sections")
    apply_overrides(cfg, list(overrides or []))
    return validate(cfg)


def compose(
    overrides: list[str] | None = None, conf_dir: Path = CONF_DIR, config_name: str = "config"
) -> str:
    """Compose conf/ with Hydra exactly as `dvc exp run` does; returns the YAML text."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(str(conf_dir.resolve()), version_base=None):
        cfg = hydra_compose(config_name=config_name, overrides=list(overrides or []))
    OmegaConf.resolve(cfg)
    validate(cfg)
    return OmegaConf.to_yaml(cfg)


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Compose conf/ into params.yaml.")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. task=keywords")
    parser.add_argument("--check", action="store_true", help="fail if params.yaml differs")
    parser.add_argument("--config-name", default="config", help="primary config in conf/")
    args = parser.parse_args(argv)
    try:
        text = compose(args.overrides, config_name=args.config_name)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.check:
        if not PARAMS_FILE.exists() or PARAMS_FILE.read_text() != text:
            print("params.yaml differs from conf/: run `make params`", file=sys.stderr)
            return 1
        return 0
    from mlcycle.atomic import write_text_atomic

    write_text_atomic(PARAMS_FILE, text)
    print(f"wrote {PARAMS_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
