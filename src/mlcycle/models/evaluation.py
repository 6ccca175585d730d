"""Measure a model: probabilities on a feature split, scores, size, single-input latency."""

from __future__ import annotations

import io
import resource
import time
from collections.abc import Callable, Iterable

import numpy as np
import torch
from scipy.stats import binomtest
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from mlcycle.models.package import Package
from mlcycle.threads import torch_threads


@torch.no_grad()
def predict(net: torch.nn.Module, batches: Iterable[torch.Tensor]) -> torch.Tensor:
    """Class probabilities for model inputs, batch by batch (a split's `batches()`, or
    `x.split(512)` of a tensor)."""
    return torch.cat([net(x).softmax(-1) for x in batches])


def _preemptions() -> int:
    """Involuntary context switches of the calling thread so far (0 where the OS does not
    count them per thread)."""
    if not hasattr(resource, "RUSAGE_THREAD"):
        return 0
    return resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw


def latency_ms(package: Package, example: bytes, runs: int) -> dict[str, float]:
    """Single-input latency of Package.predict_proba, the path serving runs: decode,
    featurize, network, from encoded bytes to probabilities, on one thread. In ms, p50 and
    p95 of the wall time, and `cpu_p50` / `cpu_p95` of the CPU time the thread spent.

    The CPU time is the model's cost whatever else runs on the machine (a parallel sweep,
    a busy CI runner): the gate checks it. It is taken from the calls the scheduler did not
    preempt (a preempted call comes back to cold caches and costs up to twice the CPU
    time); on a busy machine more calls are made until `runs` of them ran through, at
    most 20 x `runs`. The wall time is what one request waits with the machine to itself
    (the first `runs` calls, preempted or not), and grows with the machine's load.
    """
    wall, cpu, preempted = [], [], []
    with torch_threads(1):
        for i in range(20 * runs + 5):
            switches = _preemptions()
            start, start_cpu = time.perf_counter(), time.thread_time()
            package.predict_proba([example])
            end_cpu, end = time.thread_time(), time.perf_counter()
            if i < 5:  # the first calls warm caches and allocators
                continue
            if len(wall) < runs:
                wall.append((end - start) * 1000)
            (cpu if _preemptions() == switches else preempted).append((end_cpu - start_cpu) * 1000)
            if len(wall) >= runs and len(cpu) >= runs:
                break
    cpu = cpu[:runs] + preempted[: runs - len(cpu)]  # a machine too busy: all calls count
    return {
        "p50": round(float(np.percentile(wall, 50)), 3),
        "p95": round(float(np.percentile(wall, 95)), 3),
        "cpu_p50": round(float(np.percentile(cpu, 50)), 3),
        "cpu_p95": round(float(np.percentile(cpu, 95)), 3),
    }


def cost_figures(latency: dict[str, float], net: torch.nn.Module) -> dict:
    """eval.json's cost: one thread's wall time, and the CPU time the gate checks (the
    same under load), of `latency_ms`; the network's parameters and size."""
    params, size_mb = model_size(net)
    return {
        "latency_p50_ms": latency["p50"],
        "latency_p95_ms": latency["p95"],
        "latency_cpu_p50_ms": latency["cpu_p50"],
        "latency_cpu_p95_ms": latency["cpu_p95"],
        "params": params,
        "model_size_mb": size_mb,
    }


def model_size(net: torch.nn.Module) -> tuple[int, float]:
    """(parameters, size of the saved state dict in MB)."""
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    return sum(p.numel() for p in net.parameters()), round(buffer.tell() / 1e6, 4)


def scores(y: np.ndarray, pred: np.ndarray, labels: list[str]) -> dict:
    """Accuracy, macro-F1 and per-class precision / recall / F1 / support."""
    idx = list(range(len(labels)))
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=idx, zero_division=0)
    return {
        "accuracy": round(float(accuracy_score(y, pred)), 4),
        "macro_f1": round(
            float(f1_score(y, pred, labels=idx, average="macro", zero_division=0)), 4
        ),
        "per_class": {
            lab: {
                "precision": round(float(p[i]), 4),
                "recall": round(float(r[i]), 4),
                "f1": round(float(f[i]), 4),
                "support": int(s[i]),
            }
            for i, lab in enumerate(labels)
        },
    }


def macro_f1(y: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    """Macro-F1 over all classes (one with neither support nor predictions scores 0), as
    sklearn's f1_score(labels=all, average="macro", zero_division=0), for the bootstrap."""
    tp = np.bincount(y[y == pred], minlength=n_classes)
    fp = np.bincount(pred, minlength=n_classes) - tp
    fn = np.bincount(y, minlength=n_classes) - tp
    denominator = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denominator, out=np.zeros(n_classes), where=denominator > 0)
    return float(f1.mean())


def intervals(
    y: np.ndarray, pred: np.ndarray, n_classes: int, resamples: int = 1000, seed: int = 0
) -> dict[str, list[float]]:
    """95 % intervals: Wilson's for accuracy, a seeded bootstrap over test examples for
    macro-F1. A small test set gives a wide interval, and the gate says so."""
    n = len(y)
    ci = binomtest(int((y == pred).sum()), n).proportion_ci(0.95, method="wilson")
    rng = np.random.default_rng(seed)
    f1s = []
    for _ in range(resamples):  # one resample at a time: memory flat in the test size
        i = rng.integers(0, n, size=n)
        f1s.append(macro_f1(y[i], pred[i], n_classes))
    low, high = np.percentile(f1s, [2.5, 97.5])
    return {
        "accuracy_ci95": [round(float(ci.low), 4), round(float(ci.high), 4)],
        "macro_f1_ci95": [round(float(low), 4), round(float(high), 4)],
    }


def pooled_over_time(batches: Iterable[torch.Tensor]) -> np.ndarray:
    """Simple fixed features for the classical baseline, batch by batch: the mean and
    deviation of every row over the last axis, time (2 x n_mels for log-mel spectrograms)."""
    parts = [torch.cat([x.mean(dim=-1), x.std(dim=-1)], dim=-1).flatten(1) for x in batches]
    return torch.cat(parts).numpy()


def flattened(batches: Iterable[torch.Tensor]) -> np.ndarray:
    """The inputs themselves as the classical baseline's features (pixels of images)."""
    return torch.cat([x.flatten(1) for x in batches]).numpy()


def baselines(
    train_x: Iterable[torch.Tensor],
    train_y: torch.Tensor,
    test_x: Iterable[torch.Tensor],
    test_y: np.ndarray,
    labels: list[str],
    pool: Callable[[Iterable[torch.Tensor]], np.ndarray],
) -> dict[str, dict[str, float]]:
    """What the model must beat, on the same test split: always the most frequent training
    class, and a logistic regression on features `pool`ed from the batches (the modality
    chooses how: pooled_over_time, flattened) (scikit-learn)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = train_y.numpy()
    majority = np.full_like(test_y, np.bincount(y, minlength=len(labels)).argmax())
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    classifier.fit(pool(train_x), y)
    logistic = classifier.predict(pool(test_x))
    idx = list(range(len(labels)))
    return {
        name: {
            "accuracy": round(float(accuracy_score(test_y, pred)), 4),
            "macro_f1": round(
                float(f1_score(test_y, pred, labels=idx, average="macro", zero_division=0)), 4
            ),
        }
        for name, pred in (("majority", majority), ("logistic", logistic))
    }
