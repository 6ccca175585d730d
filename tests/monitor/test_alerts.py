"""Alert rules: evaluated with their sample sizes, POSTed to a webhook, exported for a
real Prometheus (checked and fired with promtool)."""

import json
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from omegaconf import OmegaConf

from mlcycle.monitor import alerts
from tests.conftest import task_params

RULES = OmegaConf.to_container(task_params().monitor.alerts)


def summary(**figures):
    base = {"requests": 500, "missing_fraction": 0.0, "non_null_fraction": 1.0}
    return {"versions": {"v1": {"figures": {**base, **figures}}}}


def test_defaults_cover_every_input_and_output_figure():
    covered = {rule["metric"] for rule in RULES}
    assert covered >= {
        "missing_fraction",
        "undecodable_fraction",
        "out_of_range_fraction",
        "silent_fraction",
        "non_null_fraction",
        "low_confidence_rate",
        "latency_p99_ms",
        "drift_share",
        "prediction_drift",
        "confidence_drift",
    }


def test_a_rule_fires_past_its_threshold_with_enough_requests():
    fired = alerts.evaluate(summary(missing_fraction=0.2), RULES)
    names = {a["alert"] for a in fired}
    assert "missing_inputs" in names
    alert = next(a for a in fired if a["alert"] == "missing_inputs")
    assert alert["severity"] == "critical" and alert["value"] == 0.2 and alert["requests"] == 500
    few = {"versions": {"v1": {"figures": {"requests": 3, "missing_fraction": 1.0}}}}
    assert alerts.evaluate(few, RULES) == []  # below every rule's min_count


def test_a_bad_rule_is_named():
    with pytest.raises(ValueError, match=r"monitor.alerts\[0\].*unknown metric 'nope'"):
        alerts.evaluate(
            summary(),
            [
                {
                    "name": "x",
                    "metric": "nope",
                    "op": ">",
                    "threshold": 1,
                    "min_count": 1,
                    "severity": "critical",
                }
            ],
        )


def test_fired_alerts_are_posted_to_a_webhook():
    received = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        fired = alerts.evaluate(summary(non_null_fraction=0.5), RULES)
        alerts.post(f"http://127.0.0.1:{server.server_port}/hook", fired)
    finally:
        server.shutdown()
    assert received and received[0]["alerts"][0]["alert"] == "null_outputs"


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool (Debian: prometheus) not found"
)
def test_exported_rules_pass_promtool_and_fire_on_matching_series(tmp_path):
    (tmp_path / "rules.yml").write_text(alerts.prometheus_rules(RULES))
    check = subprocess.run(
        ["promtool", "check", "rules", tmp_path / "rules.yml"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    (tmp_path / "test.yml").write_text(
        """
rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'mlcycle_monitor_missing_fraction{model_version="v1"}'
        values: '0.2x5'
      - series: 'mlcycle_monitor_requests{model_version="v1"}'
        values: '500x5'
    alert_rule_test:
      - eval_time: 2m
        alertname: MlcycleMissingInputs
        exp_alerts:
          - exp_labels: {severity: critical, model_version: v1}
            exp_annotations:
              summary: "inputs with missing values (empty body, NaN/inf samples; \\
                rows: cells) > 0.05 (model v1: 0.2)"
"""
    )
    fire = subprocess.run(
        ["promtool", "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert fire.returncode == 0, fire.stdout + fire.stderr
