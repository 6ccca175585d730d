"""The server's Prometheus metrics, named by Prometheus conventions (base units, _total)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from mlcycle.monitor.analysis import FIGURES

# Request latencies from sub-millisecond to seconds; batch sizes up to 64.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
ROUTES = ("stable", "canary", "shadow")


class ServerMetrics:
    """One registry per server (tests start several in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.children: dict[tuple[str, str, str], tuple[Any, Any, Any]] = {}  # answered
        self.requests = Counter(
            "mlcycle_requests",
            "Prediction requests by model version, route and HTTP status code.",
            ["model_version", "route", "code"],
            registry=r,
        )
        self.duration = Histogram(
            "mlcycle_request_duration_seconds",
            "Time from request to answer, by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "mlcycle_batch_size",
            "Inputs per model batch, by model version.",
            ["model_version"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.predictions = Counter(
            "mlcycle_predictions",
            "Answers by model version and predicted class.",
            ["model_version", "label"],
            registry=r,
        )
        self.rejected = Counter(
            "mlcycle_rejected_inputs",
            "Requests refused with a 4xx, by reason.",
            ["reason"],
            registry=r,
        )
        self.model_failures = Counter(
            "mlcycle_model_failures",
            "Batches a model raised on, by model version and route.",
            ["model_version", "route"],
            registry=r,
        )
        # A model's calls as the canary analysis sees them (mlcycle.serve.canary.Outcome),
        # by version: what `mlcycle canary export` queries, so that Argo Rollouts or
        # Flagger judge a canary served by another process the way the controller does.
        self.calls = Counter(
            "mlcycle_model_calls",
            "Model calls by model version, route (stable, canary, shadow) and outcome "
            "(answered, failed: raised, timed out or not a probability vector).",
            ["model_version", "route", "outcome"],
            registry=r,
        )
        self.call_latency = Histogram(
            "mlcycle_model_latency_seconds",
            "Time a model took to answer a call, by model version and route.",
            ["model_version", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.confidence = Histogram(
            "mlcycle_model_confidence",
            "Confidence of the answers, by model version and route.",
            ["model_version", "route"],
            buckets=CONFIDENCE_BUCKETS,
            registry=r,
        )
        self.comparisons = Counter(
            "mlcycle_shadow_comparisons",
            "Mirrored requests whose canary answer was compared with stable's, by canary "
            "version and whether the labels agree.",
            ["model_version", "agrees"],
            registry=r,
        )
        self.outcome_children: dict[tuple[str, str], tuple[Any, ...]] = {}
        self.canary_weight = Gauge(
            "mlcycle_canary_weight_ratio",
            "Share of request keys routed to the canary (0-1).",
            registry=r,
        )
        self.log_up = Gauge(
            "mlcycle_prediction_log_up",
            "1 while requests are logged to monitor.store, 0 when it was unreachable at start.",
            registry=r,
        )
        # `mlcycle monitor`'s figures over the server's own log (monitor.window_s), per
        # model version; `mlcycle monitor --prometheus-rules` writes alert rules over them.
        self.monitor = {
            name: Gauge(f"mlcycle_monitor_{name}", text, ["model_version"], registry=r)
            for name, text in FIGURES.items()
        }

    def answered(self, version: str, route: str, label: str, seconds: float) -> None:
        """A 200: counted by version, route and label, its latency observed. The label
        sets' children are looked up once: prometheus_client's `labels` validates and
        locks at every call (11 us for the three on the event loop, 4 with them kept)."""
        key = (version, route, label)
        children = self.children.get(key)
        if children is None:
            children = self.children[key] = (
                self.requests.labels(version, route, "200"),
                self.duration.labels(route),
                self.predictions.labels(version, label),
            )
        children[0].inc()
        children[1].observe(seconds)
        children[2].inc()

    def known(self, version: str) -> None:
        """Create a model version's call series at 0 when it is loaded: Prometheus's
        rate() and increase() count from a series' first scrape, so a series born at its
        first failure would hide that failure."""
        for route in ROUTES:
            self._outcome_children(version, route)
        for agrees in ("true", "false"):
            self.comparisons.labels(version, agrees)

    def _outcome_children(self, version: str, route: str) -> tuple[Any, ...]:
        key = (version, route)
        children = self.outcome_children.get(key)
        if children is None:
            children = self.outcome_children[key] = (
                self.calls.labels(version, route, "answered"),
                self.calls.labels(version, route, "failed"),
                self.call_latency.labels(version, route),
                self.confidence.labels(version, route),
            )
        return children

    def outcome(self, version: str, outcome: Any) -> None:
        """One model call (a canary.Outcome) of model `version`."""
        answered, failed, latency, confidence = self._outcome_children(version, outcome.route)
        if outcome.failed:
            failed.inc()
            return
        answered.inc()
        latency.observe(outcome.latency_s)
        if outcome.confidence is not None:
            confidence.observe(outcome.confidence)
        if outcome.agrees is not None:
            self.comparisons.labels(version, "true" if outcome.agrees else "false").inc()

    def publish_monitor(self, summary: dict[str, Any]) -> None:
        for version, data in summary["versions"].items():
            for name, value in data["figures"].items():
                if value is not None:
                    self.monitor[name].labels(version).set(value)
