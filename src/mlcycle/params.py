"""The typed schema of params.yaml: one dataclass per section.

OmegaConf merges the loaded parameters into these, so an unknown key or a value of the
wrong type fails with the key's full name before any work starts. A modality's own
sections (a table task's columns, its sources and limits) are typed by its folder
(mlcycle.modalities.<name>.params), merged in by mlcycle.config the same way. The values themselves
live in conf/ and nowhere else: a field here has no default (the YAML must set it) unless
`None` means "this task does not use the section".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Optional


class Runtime(str, Enum):
    """serve.runtime: what runs the package's network."""

    onnx = "onnx"  # the package's network.onnx under ONNX Runtime (torch where it has none)
    torch = "torch"


@dataclass
class Task:
    name: str
    modality: str  # audio | image | table
    labels: list[str]
    table: Optional[Any] = None  # table tasks: the columns (its modality's schema)


@dataclass
class MetricPaths:
    data: str
    train: str
    eval: str
    gate: str


@dataclass
class EvaluationPaths:
    confusion: str
    reliability: str
    predictions: str
    misclassified: str
    slices: str
    worst_slices: str


@dataclass
class MonitoringPaths:
    json: str
    html: str
    labels: str  # mlcycle monitor labels' report


@dataclass
class Paths:
    """Every file and folder of the pipeline; dvc.yaml interpolates the same keys."""

    external: str
    raw: str
    validated: str
    data_report: str
    features: str
    checkpoint: str
    train_state: str
    train_log: str
    package: str
    base: str
    rollout: str
    prediction_log: str
    logged_inputs: str
    log_outages: str
    corrections: str
    label_review: str
    monitoring: MonitoringPaths
    metrics: MetricPaths
    evaluation: EvaluationPaths


@dataclass
class KeywordsSource:
    words: list[str]
    unknown_words: list[str]
    accents: list[str]
    speakers: int
    repeats: int
    unknown_per_speaker: int
    silence_per_speaker: int
    sample_rate: int
    duration_s: float
    rate_wpm: list[int]
    pitch: list[int]
    snr_db: list[float]
    gain_db: list[float]
    reverb_probability: float


@dataclass
class PicoSource:
    # SVOX Pico (mlcycle.data.pico) speaking collect.keywords' script, recorded the same
    # way. Speakers of `voices` are split train/val/test by speaker; every speaker of
    # `held_out_voices` goes to the held_out split, never trained on: evaluate's
    # held-out-voices figure.
    voices: list[str]
    speakers: int
    held_out_voices: list[str]
    held_out_speakers: int
    rate: list[int]  # percent of the voice's own speed
    pitch: list[int]  # percent of the voice's own pitch


@dataclass
class Perturbation:
    p: float  # the share of clips it is applied to (0: off)
    range: list[float]


@dataclass
class Augment:
    # mlcycle.data.augment, on built-in synthesised training speakers (not held-out ones)
    speed: Perturbation  # range: speed factor
    vtlp: Perturbation  # range: frequency warp factor
    eq: Perturbation  # range: the largest band gain, dB
    telephone: Perturbation  # range: unused
    codec: Perturbation  # range: Vorbis compression level (1 the lowest bitrate)


@dataclass
class DigitsSource:
    sizes: list[int]
    modes: list[str]
    limit: int  # 0: all 1,797 digits


@dataclass
class FolderSource:
    root: str  # <root>/<label>/<file>


@dataclass
class ManifestSource:
    csv: str  # path,label[,group]; paths relative to its folder


@dataclass
class Collect:
    sources: list[str]
    defect_fraction: float
    label_noise: float
    workers: int
    folder: FolderSource
    manifest: ManifestSource
    keywords: Optional[KeywordsSource] = None
    pico: Optional[PicoSource] = None
    augment: Optional[Augment] = None
    digits: Optional[DigitsSource] = None
    # a modality's own sources (their schema: mlcycle.modalities.<name>.params)
    transactions: Optional[Any] = None
    table: Optional[Any] = None


@dataclass
class AudioChecks:
    # null accepts any sample rate / channel count (featurize converts them).
    sample_rate: Optional[int]
    channels: Optional[int]
    min_duration_s: float
    max_duration_s: float
    silence_dbfs: float
    max_clipped_fraction: float


@dataclass
class ImageChecks:
    min_size: int
    max_size: int
    max_pixels: int  # decompression-bomb guard, checked before decoding
    modes: list[str]


@dataclass
class Validate:
    val_fraction: float
    test_fraction: float
    max_rejected_fraction: float
    min_per_class: int
    audio: AudioChecks
    image: ImageChecks
    table: Optional[Any] = None  # mlcycle.modalities.table.params


@dataclass
class AudioFeatures:
    """featurize.audio; also the audio featurizer's own config (stats.json, model card)."""

    sample_rate: int
    duration_s: float
    target_dbfs: float
    n_fft: int
    hop_length: int
    n_mels: int

    @property
    def num_samples(self) -> int:
        return int(round(self.sample_rate * self.duration_s))


@dataclass
class ImageFeatures:
    """featurize.image; also the image featurizer's own config (stats.json, model card)."""

    size: int
    channels: int
    max_pixels: int


@dataclass
class Featurize:
    batch_size: int
    workers: Optional[int]
    shard_size: int
    audio: Optional[AudioFeatures] = None
    image: Optional[ImageFeatures] = None
    table: Optional[Any] = None  # mlcycle.modalities.table.params


@dataclass
class SpecAugment:
    freq_masks: int
    freq_width: int
    time_masks: int
    time_width: int


@dataclass
class Train:
    init_from: Optional[str]  # a package folder under paths.base, or None: from scratch
    freeze_epochs: int
    max_epochs: int
    min_steps: int
    min_val_per_class: int
    batch_size: int
    lr: float
    warmup_fraction: float
    weight_decay: float
    patience: int
    label_smoothing: float
    spec_augment: SpecAugment  # audio tasks
    max_shift: int  # image tasks: random shift of up to this many pixels
    # What picks the best epoch and stops early: val_acc, or val_ap (two classes: the
    # average precision of the last label, e.g. fraud, for rare positives).
    monitor: str
    # null: every class weighs the same in the loss; balanced: by inverse frequency.
    class_weight: Optional[str]


@dataclass
class Review:
    folds: int
    top: int


@dataclass
class Evaluate:
    latency_runs: int
    # Extra manifest columns to slice accuracy by (e.g. a user manifest's "device").
    slices: list[str]
    min_slice_count: int  # slices with fewer test files are not reported
    table: Optional[Any] = None  # table tasks with two labels (fraud): modalities.table.params


@dataclass
class Target:
    min: Optional[float] = None
    max: Optional[float] = None
    min_gain: Optional[float] = None  # at least this much over the best baseline


@dataclass
class Scope:
    # metric path in metrics/eval.json (e.g. accuracy, latency_p95_ms) -> its bound(s)
    targets: dict[str, Target]


@dataclass
class CanaryChecks:
    max_error_rate: float
    max_latency_p99_ms: float
    max_latency_p99_ratio: float
    min_non_null_fraction: float
    min_confidence_ratio: float
    min_agreement: float
    min_mirrored: int


@dataclass
class Canary:
    steps: list[int]
    interval_requests: int
    interval_s: float
    min_requests: int
    failure_threshold: int
    max_inconclusive: int
    mirror_fraction: float
    timeout_s: float
    checks: CanaryChecks


@dataclass
class Serve:
    host: str
    port: int
    max_batch_size: int
    batch_wait_ms: float
    max_body_bytes: int
    max_rows: int  # table models: rows one JSON request may carry
    max_audio_s: float
    max_decoded_mb: float
    max_queue: int
    request_timeout_s: float
    max_connections: int
    runtime: Runtime
    package_roots: list[str]
    canary: Canary


@dataclass
class AlertRule:
    name: str
    metric: str  # a figure of mlcycle.monitor.analysis.FIGURES (labels: .labels.FIGURES)
    op: str  # > >= < <= ==
    threshold: float
    min_count: int  # logged requests needed before the rule may fire
    severity: str  # info | warning | critical


@dataclass
class LateLabels:
    """`mlcycle monitor labels`: labels that arrive late, joined to the answers."""

    window: str  # a pandas duration: 1D, 6h
    unlabelled_as: Optional[str]  # the label of answers the file does not name
    alerts: list[AlertRule]


@dataclass
class Monitor:
    store: Optional[str]  # sqlite:///<file> | postgresql://...; null: no prediction log
    flush_s: float
    require_store: bool
    keep_inputs: bool
    keep_inputs_mb: float
    keep_inputs_days: float
    window_s: float
    gauges_s: float
    low_confidence: float
    drift_share: float
    alerts: list[AlertRule]
    labels: LateLabels


@dataclass
class Params:
    seed: int
    threads: int
    paths: Paths
    task: Task
    collect: Collect
    validate: Validate
    featurize: Featurize
    train: Train
    evaluate: Evaluate
    review: Review
    scope: Scope
    serve: Serve
    monitor: Monitor
    # Built with hydra.utils.instantiate from their `_target_`: any keys the target takes.
    model: dict[str, Any]
    trainer: dict[str, Any]
