"""The `mlcycle` command: run a pipeline stage, compose the params, serve a package, drive
a canary rollout."""

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


def serve(args: argparse.Namespace) -> int:
    from mlcycle.serve.server import serve as run_server

    return run_server(args.package, args.host, args.port, args.overrides)


def canary(args: argparse.Namespace) -> int:
    from mlcycle.serve.client import canary as admin

    if args.action == "start" and not args.package:
        print("error: canary start needs the package folder", file=sys.stderr)
        return 2
    if args.action == "weight" and args.weight is None:
        print("error: canary weight needs a weight 0-100", file=sys.stderr)
        return 2
    return admin(args.action, args.url, args.package, args.force, args.weight)


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
    p = sub.add_parser(
        "serve",
        help="serve a package over HTTP (predict, health, models, metrics, canary)",
        description="Serve a package with FastAPI under uvicorn; settings in the serve "
        "section of params.yaml. The admin API (canary) is on when MLCYCLE_ADMIN_TOKEN is set.",
    )
    p.add_argument("--package", help="package folder (default: paths.package)")
    p.add_argument("--host", help="address to listen on (default: serve.host)")
    p.add_argument("--port", type=int, help="port (default: serve.port)")
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. serve.max_batch_size=64")
    p.set_defaults(func=serve)
    p = sub.add_parser(
        "canary",
        help="start, watch, promote or roll back a canary on a running server",
        description="Talk to a running server's admin API (token from MLCYCLE_ADMIN_TOKEN).",
    )
    p.add_argument("action", choices=["start", "status", "promote", "rollback", "weight"])
    p.add_argument("value", nargs="?", help="start: the package folder; weight: 0-100")
    p.add_argument("--force", action="store_true", help="start even if its gate failed")
    p.add_argument("--url", default="http://127.0.0.1:8000", help="the server")
    p.set_defaults(func=canary)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "canary":
        args.package = args.value if args.action == "start" else None
        args.weight = None
        if args.action == "weight" and args.value is not None:
            if not args.value.isdigit():
                print(f"error: weight must be a number 0-100, got {args.value!r}", file=sys.stderr)
                return 2
            args.weight = int(args.value)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
