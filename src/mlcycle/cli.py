"""The `mlcycle` command: run a pipeline stage, compose the params; serving and
monitoring add their own subcommands here."""

from __future__ import annotations

import argparse
import importlib
import sys

# The pipeline's stages in order, each a module mlcycle.stages.<name> with main(argv).
STAGES = ("collect", "validate", "featurize", "train", "evaluate", "gate", "package")


def run(args: argparse.Namespace) -> int:
    module = importlib.import_module(f"mlcycle.stages.{args.stage}")
    return module.main(args.overrides)


def params(args: argparse.Namespace) -> int:
    from mlcycle import config

    return config.main([*args.overrides, *(["--check"] if args.check else [])])


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="mlcycle",
        description="A model's production lifecycle as a DVC pipeline of Hydra-configured "
        "stages. `dvc repro` runs the whole pipeline; these commands run its parts.",
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser(
        "run",
        help="run one pipeline stage on params.yaml (what dvc repro runs)",
        description="Run one stage with Hydra overrides, e.g. "
        "`mlcycle run train train.max_epochs=2`. Outputs go where params.yaml's paths say.",
    )
    p.add_argument("stage", choices=STAGES)
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. train.lr=0.01")
    p.set_defaults(func=run)
    p = sub.add_parser(
        "params",
        help="compose conf/ into params.yaml (what dvc exp run does)",
        description="Compose the Hydra tree in conf/ into params.yaml.",
    )
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. task=digits")
    p.add_argument("--check", action="store_true", help="fail if params.yaml differs")
    p.set_defaults(func=params)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
