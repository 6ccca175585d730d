"""The Dockerfile and the KServe InferenceService, checked without a container runtime:
what the image copies exists and is not ignored, it runs `mlcycle serve` as a non-root
user on the port it exposes with overrides the config accepts, its health check and the
InferenceService's probes use the Open Inference Protocol's endpoints, and both agree."""

from __future__ import annotations

import fnmatch
import json
import shlex
from pathlib import Path

import yaml

from mlcycle.config import load

ROOT = Path(__file__).resolve().parents[1]


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined."""
    joined = text.replace("\\\n", " ")
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def exec_form(args: str) -> list[str]:
    return json.loads(args) if args.startswith("[") else shlex.split(args)


def final_stage(steps: list[tuple[str, str]]) -> list[tuple[str, str]]:
    starts = [i for i, (word, _) in enumerate(steps) if word == "FROM"]
    return steps[starts[-1] :]


def ignored(path: str, patterns: list[str]) -> bool:
    """.dockerignore's verdict: the last matching pattern wins, `!` re-includes."""
    verdict = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!")
        if fnmatch.fnmatch(path, pattern) or path.startswith(pattern.rstrip("/*") + "/"):
            verdict = not negate
    return verdict


def test_the_image_runs_mlcycle_serve_as_a_non_root_user_with_protocol_health_checks():
    steps = instructions((ROOT / "Dockerfile").read_text())
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for word, args in steps:
        if word == "COPY" and not args.startswith("--from"):
            *sources, _ = args.split()
            for source in sources:
                assert (ROOT / source).exists() or source == "models/package", source
                assert not ignored(source, patterns), f"{source} is in .dockerignore"
    stage = final_stage(steps)
    user = [args for word, args in stage if word == "USER"]
    assert user and user[-1] not in ("0", "root")
    (expose,) = [args for word, args in stage if word == "EXPOSE"]
    (entry,) = [exec_form(args) for word, args in stage if word == "ENTRYPOINT"]
    (cmd,) = [exec_form(args) for word, args in stage if word == "CMD"]
    assert entry[:2] == ["mlcycle", "serve"]
    assert (
        entry[entry.index("--port") + 1] == expose and entry[entry.index("--host") + 1] == "0.0.0.0"
    )
    (health,) = [args for word, args in stage if word == "HEALTHCHECK"]
    assert f"127.0.0.1:{expose}/v2/health/ready" in health
    # the overrides the image passes are ones the config accepts (a typo would stop it)
    overrides = [a for a in cmd if "=" in a]
    params = load(overrides)
    assert all(str(v).startswith("/var/lib/mlcycle") for v in (params.paths.rollout,))
    assert "requirements.lock" in " ".join(args for word, args in steps if word == "RUN")


def test_the_inference_service_runs_the_image_with_the_protocols_probes():
    steps = final_stage(instructions((ROOT / "Dockerfile").read_text()))
    (expose,) = [args for word, args in steps if word == "EXPOSE"]
    user = [args for word, args in steps if word == "USER"][-1]
    (cmd,) = [exec_form(args) for word, args in steps if word == "CMD"]
    service = yaml.safe_load((ROOT / "deploy/kserve/inferenceservice.yaml").read_text())
    assert service["apiVersion"] == "serving.kserve.io/v1beta1"
    assert service["kind"] == "InferenceService"
    predictor = service["spec"]["predictor"]
    (container,) = predictor["containers"]
    assert container["name"] == "kserve-container"  # the name KServe routes to
    assert [p["containerPort"] for p in container["ports"]] == [int(expose)]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert container["args"] == cmd  # the same package folder and writable paths
    assert container["args"][:2] == ["--package", "/mnt/models"]  # where KServe puts it
    assert any(e["name"] == "STORAGE_URI" for e in container["env"])
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True and str(security["runAsUser"]) == user
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/var/lib/mlcycle" in mounts
    assert predictor["containerConcurrency"] == load().serve.max_queue
