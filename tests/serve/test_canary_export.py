"""`mlcycle canary export`: the controller's checks as Argo Rollouts and Flagger analysis,
checked by promtool and evaluated by a real Prometheus scraping two `mlcycle serve`
processes (stable and canary, as two Kubernetes deployments), against the verdicts the
controller itself gives on the same traffic."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

from mlcycle.models.package import load_package
from tests.serve.conftest import FAST_CANARY, MLCYCLE, serving, split_files


def export(tmp_path: Path, *overrides: str) -> tuple[list[dict], list[dict]]:
    argo, flagger = tmp_path / "argo.yaml", tmp_path / "flagger.yaml"
    done = subprocess.run(
        [MLCYCLE, "canary", "export", "--argo", argo, "--flagger", flagger, *overrides],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return list(yaml.safe_load_all(argo.read_text())), list(yaml.safe_load_all(flagger.read_text()))


CHECKS = [
    "error-rate",
    "latency-p99-ms",
    "latency-p99-ratio",
    "non-null-fraction",
    "confidence-ratio",
    "agreement",
]


def argo_queries(doc: dict, canary: str, stable: str, window: str) -> dict[str, tuple]:
    out = {}
    for m in doc["spec"]["metrics"]:
        q = m["provider"]["prometheus"]["query"]
        q = q.replace("{{args.canary-version}}", canary).replace("{{args.stable-version}}", stable)
        out[m["name"]] = (q.replace("{{args.window}}", window), m)
    return out


def flagger_queries(docs: list[dict], canary: str, stable: str, window: str) -> dict[str, tuple]:
    templates = {d["metadata"]["name"]: d for d in docs if d["kind"] == "MetricTemplate"}
    (spec,) = [d["spec"] for d in docs if d["kind"] == "Canary"]
    out = {}
    for m in spec["analysis"]["metrics"]:
        q = templates[m["templateRef"]["name"]]["spec"]["query"]
        q = q.replace("{{ variables.canary_version }}", canary)
        q = q.replace("{{ variables.stable_version }}", stable).replace("{{ interval }}", window)
        out[m["name"]] = (q, m)
    return out


def test_the_export_carries_every_check_with_the_controllers_limits(tmp_path):
    argo, flagger = export(tmp_path, "serve.canary.checks.max_error_rate=0.05")
    (template,) = argo
    assert template["apiVersion"] == "argoproj.io/v1alpha1"
    assert template["kind"] == "AnalysisTemplate"
    assert [a["name"] for a in template["spec"]["args"]] == [
        "canary-version",
        "stable-version",
        "window",
    ]
    metrics = {m["name"]: m for m in template["spec"]["metrics"]}
    assert list(metrics) == CHECKS
    error = metrics["error-rate"]
    assert error["successCondition"] == "len(result) > 0 && result[0] <= 0.05"
    assert error["failureLimit"] == 1 and error["inconclusiveLimit"] == 4  # threshold 2, 5
    assert metrics["agreement"]["successCondition"].startswith("len(result) == 0 ||")
    kinds = [d["kind"] for d in flagger]
    assert kinds == ["MetricTemplate"] * len(CHECKS) + ["Canary"]
    assert all(d["apiVersion"] == "flagger.app/v1beta1" for d in flagger)
    analysis = flagger[-1]["spec"]["analysis"]
    assert analysis["stepWeights"] == [5, 10, 25, 50] and analysis["threshold"] == 2
    ranges = {m["name"]: m["thresholdRange"] for m in analysis["metrics"]}
    assert ranges["error-rate"] == {"max": 0.05} and ranges["agreement"] == {"min": 0.8}
    # a typo in an override is named, nothing written
    done = subprocess.run(
        [MLCYCLE, "canary", "export", "--argo", tmp_path / "x.yaml", "serve.canary.nope=1"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "nope" in done.stderr and not (tmp_path / "x.yaml").exists()


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian: prometheus)")
def test_every_exported_query_is_valid_promql(tmp_path):
    argo, flagger = export(tmp_path)
    filled = {
        **{f"argo_{k}": q for k, (q, _) in argo_queries(argo[0], "a", "b", "1m").items()},
        **{f"flagger_{k}": q for k, (q, _) in flagger_queries(flagger, "a", "b", "1m").items()},
    }
    rules = {
        "groups": [
            {
                "name": "mlcycle",
                "rules": [
                    {"record": f"mlcycle:{name.replace('-', '_')}", "expr": q}
                    for name, q in filled.items()
                ],
            }
        ]
    }
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    done = subprocess.run(
        ["promtool", "check", "rules", tmp_path / "rules.yml"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(filled)} rules found" in done.stdout


def argo_verdict(result: list[float], metric: dict) -> str:
    """Argo's verdict of a measurement, for the conditions the export writes."""

    def holds(condition: str) -> bool:
        m = re.fullmatch(
            r"len\(result\) (==|>) 0 (\|\||&&) result\[0\] (<=|>=|<|>) (\S+)", condition
        )
        assert m, condition
        empty_test, joint, op, limit = m.groups()
        first = (len(result) == 0) if empty_test == "==" else (len(result) > 0)
        if joint == "||" and first:
            return True
        if joint == "&&" and not first:
            return False
        value, limit = result[0], float(limit)
        return {"<=": value <= limit, ">=": value >= limit, "<": value < limit, ">": value > limit}[
            op
        ]

    if holds(metric["successCondition"]):
        return "pass"
    return "fail" if holds(metric["failureCondition"]) else "inconclusive"


def flagger_verdict(result: list[float], metric: dict) -> str:
    if not result:
        return "fail"  # Flagger fails a check that returns no value
    bounds = metric["thresholdRange"]
    ok = bounds.get("min", float("-inf")) <= result[0] <= bounds.get("max", float("inf"))
    return "pass" if ok else "fail"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prometheus(tmp_path: Path, targets: list[str]):
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {"job_name": "mlcycle", "static_configs": [{"targets": targets}]},
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "prometheus.log", "w"),  # noqa: SIM115
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            up = httpx.get(f"{url}/api/v1/query", params={"query": "up"}, timeout=2).json()
            if len(up["data"]["result"]) == len(targets) and all(
                r["value"][1] == "1" for r in up["data"]["result"]
            ):
                return proc, url
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        time.sleep(0.5)
    proc.terminate()
    raise AssertionError((tmp_path / "prometheus.log").read_text()[-3000:])


def query(url: str, promql: str) -> list[float]:
    answer = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=10).json()
    assert answer["status"] == "success", answer
    return [float(r["value"][1]) for r in answer["data"]["result"]]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus (Debian) not found")
@pytest.mark.parametrize("candidate,verdict", [("good", "pass"), ("nan", "fail")])
def test_prometheus_gives_the_controllers_verdict_on_two_processes(
    digits_dir, digits_packages, tmp_path, candidate, verdict
):
    argo, flagger = export(tmp_path, *FAST_CANARY)
    stable = load_package(digits_packages["stable"]).version
    canary = load_package(digits_packages[candidate]).version
    files = [p.read_bytes() for p in split_files(digits_packages["stable"].parents[1], "test", 80)]
    one = tmp_path / "one"  # the controller: stable and canary in one process
    one.mkdir()
    shutil.copyfile(digits_dir / "params.yaml", one / "params.yaml")
    shutil.copytree(digits_dir / "models/package", one / "models/package")
    roots = Path(digits_packages["nan"]).parent  # where the session's canaries are
    canary_dir = tmp_path / "canary"  # the canary's own deployment
    canary_dir.mkdir()
    shutil.copyfile(digits_dir / "params.yaml", canary_dir / "params.yaml")
    with (
        serving(digits_dir, *FAST_CANARY, token=None) as s,
        serving(canary_dir, "--package", str(digits_packages[candidate]), token=None) as c,
        serving(one, *FAST_CANARY, f"serve.package_roots=[models,'{roots}']") as p,
    ):
        body = {"package": str(digits_packages[candidate]), "force": True}
        assert p.admin("/admin/canary", body).status_code == 200
        assert p.admin("/admin/canary/weight", {"weight": 50}).status_code == 200
        prom, url = prometheus(tmp_path, [x.url.removeprefix("http://") for x in (s, c, p)])
        try:
            time.sleep(2)  # a scrape of every series at 0 before the traffic
            headers = {"Content-Type": "image/png"}
            for server in (s, c, p):
                with server.client() as client:
                    for data in files:
                        client.post("/v1/predict", content=data, headers=headers)
            history = p.models()["rollout"]["history"]
            decisions = [h for h in history if h["event"] == "analysis"]
            assert decisions, history
            controller = decisions[0]
            time.sleep(3)  # two scrapes after the traffic
            checks = {c["check"].replace("_", "-"): c for c in controller["checks"]}
            got = {}
            for engine, queries, judge in (
                ("argo", argo_queries(argo[0], canary, stable, "10m"), argo_verdict),
                ("flagger", flagger_queries(flagger, canary, stable, "10m"), flagger_verdict),
            ):
                for name, (promql, metric) in queries.items():
                    got[engine, name] = judge(query(url, promql), metric)
        finally:
            prom.terminate()
            prom.wait()
    assert controller["verdict"] == verdict, controller
    for engine in ("argo", "flagger"):
        verdicts = {name: v for (e, name), v in got.items() if e == engine}
        assert ("fail" in verdicts.values()) == (verdict == "fail"), (engine, verdicts, checks)
        for name, check in checks.items():
            if check["passed"] is False:  # what failed the interval fails the engine too
                assert verdicts[name] == "fail", (engine, name, verdicts, checks)
            elif check["passed"] is True:
                assert verdicts[name] == "pass", (engine, name, verdicts, checks)
