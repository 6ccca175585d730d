"""`mlcycle canary export`: the controller's checks as canary analysis for the engines
that run rollouts across replicas, Argo Rollouts (an AnalysisTemplate) and Flagger
(MetricTemplates and the Canary's analysis).

Each check of serve.canary.checks (mlcycle.serve.canary.run_checks) becomes one PromQL
query over what every `mlcycle serve` exposes on /metrics, by model version
(mlcycle.serve.metrics: mlcycle_model_calls_total, mlcycle_model_latency_seconds,
mlcycle_model_confidence, mlcycle_shadow_comparisons_total), summed over every replica
that serves the version, whichever process that is. As in the controller:

* error rate and the share answered need serve.canary.min_requests canary calls in the
  window; fewer is no result, which Argo counts as inconclusive (neither its success nor
  its failure condition holds) and Flagger as a failed check;
* latency ratio, confidence ratio and agreement do not fail when they cannot be measured
  (no stable calls, no answers, fewer than checks.min_mirrored mirrored requests): no
  result is a success for Argo, and Flagger's queries fall back to a passing value;
* failure_threshold failed intervals roll back (Argo's failureLimit is one less: it
  fails past it), and so do max_inconclusive inconclusive ones.

Agreement needs mirrored traffic, which only a process serving both models has (the
controller's shadow requests); behind Argo or Flagger each deployment serves one model,
so that check passes unmeasured unless a replica mirrors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

ANALYSIS = "mlcycle-canary"


@dataclass
class Query:
    name: str  # the controller's check
    query: str  # PromQL with $canary, $stable, $window for the engine's variables
    op: str  # "<=" or ">="
    limit: float
    optional: bool  # an unmeasurable figure passes (False: no result, no decision)
    neutral: float = 1.0  # Flagger's value where an optional check has no result


def calls(selector: str, window: str, outcome: str | None = None) -> str:
    extra = f',outcome="{outcome}"' if outcome else ""
    return f'sum(rate(mlcycle_model_calls_total{{{selector},route!="shadow"{extra}}}[{window}]))'


def p99_ms(version: str, window: str) -> str:
    return (
        "histogram_quantile(0.99, sum by (le) (rate(mlcycle_model_latency_seconds_bucket"
        f'{{model_version="{version}",route!="shadow"}}[{window}]))) * 1000'
    )


def mean_confidence(version: str, window: str) -> str:
    sel = f'{{model_version="{version}",route!="shadow"}}[{window}]'
    return (
        f"sum(rate(mlcycle_model_confidence_sum{sel})) / "
        f"sum(rate(mlcycle_model_confidence_count{sel}))"
    )


def queries(canary_cfg: Any) -> list[Query]:
    """The checks as queries; `$canary`, `$stable` and `$window` stand for the canary's
    and the stable model's versions and the analysis window (fill them with `fill`)."""
    checks, c, s, w = canary_cfg.checks, "$canary", "$stable", "$window"
    canary = f'model_version="{c}"'
    # enough canary calls in the window to judge (the controller's min_requests)
    enough = (
        f'sum(increase(mlcycle_model_calls_total{{{canary},route!="shadow"}}[{w}])) '
        f">= {canary_cfg.min_requests}"
    )
    mirrored = f"sum(increase(mlcycle_shadow_comparisons_total{{{canary}}}[{w}]))"
    return [
        Query(
            "error_rate",
            f"({calls(canary, w, 'failed')} / {calls(canary, w)}) and on() ({enough})",
            "<=",
            checks.max_error_rate,
            optional=False,
        ),
        # NaN (nothing observed) is dropped by `>= 0`: no result instead of NaN
        Query("latency_p99_ms", f"({p99_ms(c, w)}) >= 0", "<=", checks.max_latency_p99_ms, True),
        Query(
            "latency_p99_ratio",
            f"({p99_ms(c, w)}) / ({p99_ms(s, w)}) >= 0",
            "<=",
            checks.max_latency_p99_ratio,
            True,
        ),
        Query(
            "non_null_fraction",
            f"({calls(canary, w, 'answered')} / {calls(canary, w)}) and on() ({enough})",
            ">=",
            checks.min_non_null_fraction,
            optional=False,
        ),
        Query(
            "confidence_ratio",
            f"(({mean_confidence(c, w)}) / ({mean_confidence(s, w)})) >= 0",
            ">=",
            checks.min_confidence_ratio,
            True,
        ),
        Query(
            "agreement",
            f'(sum(rate(mlcycle_shadow_comparisons_total{{{canary},agrees="true"}}[{w}])) / '
            f"sum(rate(mlcycle_shadow_comparisons_total{{{canary}}}[{w}]))) "
            f"and on() ({mirrored} >= {checks.min_mirrored})",
            ">=",
            checks.min_agreement,
            True,
        ),
    ]


def fill(query: str, canary: str, stable: str, window: str) -> str:
    return query.replace("$canary", canary).replace("$stable", stable).replace("$window", window)


def dashed(name: str) -> str:
    return name.replace("_", "-")


def seconds(value: float) -> str:
    return f"{max(1, round(value))}s"


def argo(canary_cfg: Any, prometheus: str) -> list[dict[str, Any]]:
    """An Argo Rollouts AnalysisTemplate: one metric per check, measured every
    serve.canary.interval_s over a window of that length (an arg)."""
    metrics = []
    for q in queries(canary_cfg):
        test = f"result[0] {q.op} {q.limit}"
        fails = f"result[0] {'>' if q.op == '<=' else '<'} {q.limit}"
        metrics.append(
            {
                "name": dashed(q.name),
                "interval": seconds(canary_cfg.interval_s),
                # no result: a success where the check may go unmeasured, else neither
                # (inconclusive)
                "successCondition": (
                    f"len(result) == 0 || {test}" if q.optional else f"len(result) > 0 && {test}"
                ),
                "failureCondition": f"len(result) > 0 && {fails}",
                "failureLimit": max(0, canary_cfg.failure_threshold - 1),
                "inconclusiveLimit": max(0, canary_cfg.max_inconclusive - 1),
                "provider": {
                    "prometheus": {
                        "address": prometheus,
                        "query": fill(
                            q.query,
                            "{{args.canary-version}}",
                            "{{args.stable-version}}",
                            "{{args.window}}",
                        ),
                    }
                },
            }
        )
    return [
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AnalysisTemplate",
            "metadata": {"name": ANALYSIS},
            "spec": {
                "args": [
                    {"name": "canary-version"},
                    {"name": "stable-version"},
                    {"name": "window", "value": seconds(canary_cfg.interval_s)},
                ],
                "metrics": metrics,
            },
        }
    ]


def flagger(canary_cfg: Any, prometheus: str, target: str = "mlcycle") -> list[dict[str, Any]]:
    """Flagger MetricTemplates (one per check) and a Canary whose analysis uses them with
    the controller's thresholds and steps; `target` names the Deployment."""
    templates, metrics = [], []
    for q in queries(canary_cfg):
        query = fill(
            q.query,
            "{{ variables.canary_version }}",
            "{{ variables.stable_version }}",
            "{{ interval }}",
        )
        if q.optional:  # Flagger fails a check without a value: an unmeasured one passes
            query = f"({query}) or on() vector({q.neutral})"
        name = f"mlcycle-{dashed(q.name)}"
        templates.append(
            {
                "apiVersion": "flagger.app/v1beta1",
                "kind": "MetricTemplate",
                "metadata": {"name": name},
                "spec": {
                    "provider": {"type": "prometheus", "address": prometheus},
                    "query": query,
                },
            }
        )
        bound = "max" if q.op == "<=" else "min"
        metrics.append(
            {
                "name": dashed(q.name),
                "templateRef": {"name": name},
                "thresholdRange": {bound: q.limit},
                "interval": seconds(canary_cfg.interval_s),
                "templateVariables": {
                    "canary_version": "CANARY_MODEL_VERSION",
                    "stable_version": "STABLE_MODEL_VERSION",
                },
            }
        )
    steps = [int(s) for s in canary_cfg.steps if s < 100]
    canary = {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": {"name": target},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "service": {"port": 8000},
            "analysis": {
                "interval": seconds(canary_cfg.interval_s),
                "threshold": canary_cfg.failure_threshold,
                "stepWeights": steps,
                "metrics": metrics,
            },
        },
    }
    return [*templates, canary]


def write(documents: list[dict[str, Any]], path: str) -> None:
    from mlcycle.atomic import write_text_atomic

    write_text_atomic(path, yaml.safe_dump_all(documents, sort_keys=False, width=1000))
