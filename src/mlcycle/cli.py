"""The `mlcycle` command: run a pipeline stage, compose the params, serve a package, drive
a canary rollout."""

from __future__ import annotations

import argparse
import importlib
import sys

# The pipeline's stages in order, each a module mlcycle.stages.<name> with main(argv).
STAGES = ("collect", "validate", "featurize", "train", "review", "evaluate", "gate", "package")


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

    if args.action == "export":
        return canary_export(args)

    if args.action == "start" and not args.package:
        print("error: canary start needs the package folder", file=sys.stderr)
        return 2
    if args.action == "weight" and args.weight is None:
        print("error: canary weight needs a weight 0-100", file=sys.stderr)
        return 2
    if args.assign and args.action != "promote":
        print("error: --assign goes with canary promote", file=sys.stderr)
        return 2
    return admin(
        args.action, args.url, args.package, args.force, args.weight, args.assign, args.registry
    )


def canary_export(args: argparse.Namespace) -> int:
    """Write serve.canary's checks as an Argo Rollouts AnalysisTemplate and/or Flagger
    MetricTemplates + Canary (mlcycle.serve.canary_export)."""
    from mlcycle.serve import canary_export

    if not (args.argo or args.flagger):
        print("error: canary export needs --argo FILE and/or --flagger FILE", file=sys.stderr)
        return 2
    overrides = [*([args.value] if args.value else []), *args.overrides]
    params = load_params(overrides)
    if params is None:
        return 2
    for path, build in ((args.argo, canary_export.argo), (args.flagger, canary_export.flagger)):
        if path:
            canary_export.write(build(params.serve.canary, args.prometheus_url), path)
            print(f"wrote {path}")
    return 0


def load_params(overrides: list[str]):
    from mlcycle.config import ConfigError, load

    try:
        return load(overrides)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return None


def monitor(args: argparse.Namespace) -> int:
    from mlcycle.monitor.command import export, labels, monitor

    params = load_params(args.overrides)
    if params is None:
        return 2
    if args.command == "monitor export":
        return export(params, args.labels, args.sample, args.out, args.format)
    if args.command == "monitor labels":
        return labels(
            params, args.file, args.package, args.window, args.unlabelled_as, args.webhook
        )
    return monitor(
        params,
        args.package,
        args.window,
        args.last,
        args.model_version,
        args.webhook,
        args.prometheus_rules,
    )


def simulate(args: argparse.Namespace) -> int:

    from mlcycle.modalities import modality

    params = load_params(args.overrides)
    if params is None:
        return 2
    try:
        part = modality(params.task.modality, "monitoring")
        shifts = part.parse_shifts(args.shift)
        results = part.simulate(
            args.url,
            params,
            args.split,
            args.count,
            args.concurrency,
            args.seconds,
            shifts,
            args.seed,
        )
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.labels_out:
        from mlcycle.atomic import write_csv_atomic

        answered = results[results["status"] == 200]
        write_csv_atomic(
            args.labels_out,
            answered.rename(columns={"true_label": "label"})[["request_id", "label"]],
        )
    codes = results["status"].value_counts().sort_index().to_dict()
    right = (results["predicted"] == results["true_label"]).mean() if len(results) else 0.0
    print(f"sent {len(results)} requests: status {codes}, {right:.1%} answered right")
    return 0


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
    p.add_argument("action", choices=["start", "status", "promote", "rollback", "weight", "export"])
    p.add_argument(
        "value",
        nargs="?",
        help="start: the package folder or a registry reference (keywords@prod); weight: 0-100",
    )
    p.add_argument("--force", action="store_true", help="start even if its gate failed")
    p.add_argument("--url", default="http://127.0.0.1:8000", help="the server")
    p.add_argument(
        "--assign",
        metavar="STAGE",
        help="promote: then move this registry stage (a GTO tag) to the promoted version",
    )
    p.add_argument("--registry", default=".", help="promote --assign: the registry's git repo")
    p.add_argument("--argo", help="export: write an Argo Rollouts AnalysisTemplate here")
    p.add_argument("--flagger", help="export: write Flagger MetricTemplates and a Canary here")
    p.add_argument(
        "--prometheus-url",
        default="http://prometheus.monitoring:9090",
        help="export: the Prometheus the engine queries",
    )
    p.add_argument("overrides", nargs="*", help="export: Hydra overrides, e.g. serve.canary...")
    p.set_defaults(func=canary)
    p = sub.add_parser(
        "monitor",
        help="input, output and drift figures of the prediction log; alerts; report",
        description="Read the prediction log (monitor.store), compare with the package's "
        "reference profile, evaluate monitor.alerts, write reports/monitoring.json and .html. "
        "Exit 1 when a critical alert fires. `monitor export` writes logged inputs as a "
        "collect source (--labels request_id,label CSV) or a sample to label (--sample N).",
    )
    p.add_argument("--package", help="the package whose reference profile to compare with")
    p.add_argument("--window", type=float, help="seconds back from now (monitor.window_s)")
    p.add_argument("--last", type=int, help="the last N logged requests instead of a window")
    p.add_argument("--model-version", help="only this model version")
    p.add_argument("--webhook", help="POST fired alerts (JSON) to this URL")
    p.add_argument("--prometheus-rules", help="also write monitor.alerts as Prometheus rules here")
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. monitor.store=...")
    p.set_defaults(func=monitor)
    p = sub.add_parser(
        "monitor export",
        help="logged inputs as a collect source (with a person's labels), or a sample to label",
        description="`mlcycle monitor export --labels L.csv --out FOLDER`: the inputs L.csv "
        "(request_id,label) names, as a folder (or manifest) source for collect; "
        "`--sample N --out FOLDER`: FOLDER/to_label.csv, the N least confident inputs.",
    )
    labels = p.add_mutually_exclusive_group(required=True)
    labels.add_argument("--labels", help="CSV of request_id,label a person supplied")
    labels.add_argument("--sample", type=int, help="write N inputs to label (to_label.csv)")
    p.add_argument("--out", required=True, help="the folder to write (a table task: a .csv file)")
    p.add_argument("--format", choices=["folder", "manifest"], default="folder")
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. monitor.store=...")
    p.set_defaults(func=monitor)
    p = sub.add_parser(
        "monitor labels",
        help="labels that arrived late, joined to the answers: realised vs estimated figures",
        description="`mlcycle monitor labels FILE`: FILE (CSV or Parquet) of request_id,label "
        "(or the table's id column,label, e.g. transaction_id,label) joined to the answers "
        "of the prediction log; realised accuracy, precision and recall per window and model "
        "version, beside the precision and recall CBPE estimated from the scores; "
        "monitor.labels.alerts evaluated per window; paths.monitoring.labels written. "
        "Exit 1 when a critical alert fires, 2 when the labels cannot be used.",
    )
    p.add_argument("file", help="CSV or Parquet of request_id,label (or <id column>,label)")
    p.add_argument(
        "--package",
        action="append",
        help="package whose labels, threshold and CBPE to use (default: paths.package); "
        "repeat it for a canary's, to estimate its answers too",
    )
    p.add_argument("--window", help="window of time, e.g. 1D, 6h (monitor.labels.window)")
    p.add_argument(
        "--unlabelled-as",
        help="label of the answers FILE does not name, e.g. legit for a chargeback file "
        "(monitor.labels.unlabelled_as)",
    )
    p.add_argument("--webhook", help="POST fired alerts (JSON) to this URL")
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. monitor.store=...")
    p.set_defaults(func=monitor)
    p = sub.add_parser(
        "simulate",
        help="replay held-out data against a running server, optionally shifted",
        description="Send validated files of a split to a server on loopback; shifts: "
        "noise:<SNR dB>, gain:<dB>, pitch:<factor> (audio), dark:<factor>, rotate:<degrees> "
        "(images), empty:<share>, damaged:<share>; table tasks send one JSON row a request "
        "(valid rows of the split) and take strategy:<name> (transactions whose attackers all "
        "switched to <name>, e.g. bust_out, a strategy the default model never saw).",
    )
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--split", default="test")
    p.add_argument("--count", type=int, default=200, help="requests to send (at most)")
    p.add_argument("--seconds", type=float, default=60.0, help="stop sending after this long")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--shift", action="append", default=[], help="e.g. --shift noise:5")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--labels-out", help="CSV of request_id,label (the true labels) to write")
    p.add_argument("overrides", nargs="*", help="Hydra overrides")
    p.set_defaults(func=simulate)
    return top


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["monitor"] and argv[1:2] in (["export"], ["labels"]):  # subcommands
        argv = [f"monitor {argv[1]}", *argv[2:]]
    top = parser()
    # overrides after options (`monitor labels FILE --window 1D monitor.store=...`): argparse
    # hands positionals out before it reaches the options, so it leaves these over
    args, extra = top.parse_known_args(argv)
    if extra and (not hasattr(args, "overrides") or any(e.startswith("-") for e in extra)):
        top.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
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
