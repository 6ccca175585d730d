"""The typed schema of params.yaml: one dataclass per section.

OmegaConf merges the loaded parameters into these, so an unknown key or a value of the
wrong type fails with the key's full name before any work starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass
class Task:
    name: str = "keywords"
    modality: str = "audio"  # audio | image
    labels: list[str] = field(default_factory=list)


@dataclass
class KeywordsSource:
    words: list[str] = field(default_factory=list)
    unknown_words: list[str] = field(default_factory=list)
    accents: list[str] = field(default_factory=list)
    speakers: int = 200
    repeats: int = 2
    unknown_per_speaker: int = 4
    silence_per_speaker: int = 2
    sample_rate: int = 16000
    duration_s: float = 1.0
    rate_wpm: list[int] = field(default_factory=lambda: [120, 220])
    pitch: list[int] = field(default_factory=lambda: [25, 75])
    snr_db: list[float] = field(default_factory=lambda: [5.0, 30.0])
    gain_db: list[float] = field(default_factory=lambda: [-18.0, -1.0])
    reverb_probability: float = 0.3


@dataclass
class DigitsSource:
    sizes: list[int] = field(default_factory=lambda: [8, 12, 16, 24, 32])
    modes: list[str] = field(default_factory=lambda: ["L", "RGB"])
    limit: int = 0  # 0: all 1,797 digits


@dataclass
class FolderSource:
    root: str = "data/external"  # <root>/<label>/<file>


@dataclass
class ManifestSource:
    csv: str = "data/external/manifest.csv"  # path,label[,group]; paths relative to its folder


@dataclass
class Collect:
    sources: list[str] = field(default_factory=lambda: ["keywords"])
    out_dir: str = "data/raw"
    defect_fraction: float = 0.01
    workers: int = 2
    keywords: Optional[KeywordsSource] = None
    digits: Optional[DigitsSource] = None
    folder: FolderSource = field(default_factory=FolderSource)
    manifest: ManifestSource = field(default_factory=ManifestSource)


@dataclass
class AudioChecks:
    # null accepts any sample rate / channel count (featurize converts them).
    sample_rate: Optional[int] = 16000
    channels: Optional[int] = 1
    min_duration_s: float = 0.5
    max_duration_s: float = 2.0
    silence_dbfs: float = -60.0
    max_clipped_fraction: float = 0.01


@dataclass
class ImageChecks:
    min_size: int = 8
    max_size: int = 4096
    max_pixels: int = 25_000_000  # decompression-bomb guard, checked before decoding
    modes: list[str] = field(
        default_factory=lambda: ["1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "YCbCr"]
    )


@dataclass
class Validate:
    val_fraction: float = 0.1
    test_fraction: float = 0.15
    max_rejected_fraction: float = 0.05
    min_per_class: int = 20
    audio: AudioChecks = field(default_factory=AudioChecks)
    image: ImageChecks = field(default_factory=ImageChecks)


@dataclass
class AudioFeatures:
    """featurize.audio; also the audio featurizer's own config (stats.json, model card)."""

    sample_rate: int = 16000
    duration_s: float = 1.0
    target_dbfs: float = -20.0
    n_fft: int = 480
    hop_length: int = 160
    n_mels: int = 40

    @property
    def num_samples(self) -> int:
        return int(round(self.sample_rate * self.duration_s))


@dataclass
class ImageFeatures:
    """featurize.image; also the image featurizer's own config (stats.json, model card)."""

    size: int = 16
    channels: int = 1
    max_pixels: int = 25_000_000


@dataclass
class Featurize:
    batch_size: int = 64
    workers: Optional[int] = None
    audio: Optional[AudioFeatures] = None
    image: Optional[ImageFeatures] = None


@dataclass
class SpecAugment:
    freq_masks: int = 2
    freq_width: int = 6
    time_masks: int = 2
    time_width: int = 12


@dataclass
class Train:
    max_epochs: int = 15
    batch_size: int = 64
    lr: float = 0.01
    warmup_fraction: float = 0.1
    weight_decay: float = 0.0001
    patience: int = 4
    label_smoothing: float = 0.05
    spec_augment: SpecAugment = field(default_factory=SpecAugment)  # audio tasks
    max_shift: int = 2  # image tasks: random shift of up to this many pixels
    # Stop after this many training batches per epoch (0 = all); for quick smoke runs.
    limit_train_batches: int = 0


@dataclass
class Evaluate:
    latency_runs: int = 200
    # Extra manifest columns to slice accuracy by (e.g. a user manifest's "device").
    slices: list[str] = field(default_factory=list)
    min_slice_count: int = 5  # slices with fewer test files are not reported


@dataclass
class Target:
    min: Optional[float] = None
    max: Optional[float] = None


@dataclass
class Scope:
    # metric path in metrics/eval.json (e.g. accuracy, latency_p95_ms) -> its bound(s)
    targets: dict[str, Target] = field(default_factory=dict)


@dataclass
class Params:
    seed: int = 0
    task: Task = field(default_factory=Task)
    collect: Collect = field(default_factory=Collect)
    validate: Validate = field(default_factory=Validate)
    featurize: Featurize = field(default_factory=Featurize)
    train: Train = field(default_factory=Train)
    model: dict[str, Any] = field(default_factory=dict)
    evaluate: Evaluate = field(default_factory=Evaluate)
    scope: Scope = field(default_factory=Scope)
