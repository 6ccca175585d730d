"""Featurize throughput: mlcycle against a straightforward per-file baseline, same files.

    python benchmarks/featurize_throughput.py [--clips 2000] [--images 1797] [--repeats 5]

Audio: exactly what the featurize stage runs (decode, mono/resample/length, loudness,
batched log-mel) vs librosa per file (librosa.load at 16 kHz + fix_length +
librosa.feature.melspectrogram with the same n_fft / hop / mels + log). Images: mlcycle's
ImageFeaturizer vs a per-file Pillow + NumPy loop. Also training samples/s of the default
keyword network. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from mlcycle.config import compose, validate
from mlcycle.data.audio_io import write_wav
from mlcycle.features.extract import featurize_paths
from mlcycle.features.registry import build
from mlcycle.params import AudioFeatures, ImageFeatures

ROOT = Path(__file__).resolve().parents[1]


def task_params(*overrides: str) -> DictConfig:
    """The real composed config of conf/, as the stages see it."""
    return validate(OmegaConf.create(compose(list(overrides), conf_dir=ROOT / "conf")))


def make_clips(folder: Path, n: int) -> list[Path]:
    """n one-second 16 kHz WAVs: tones in noise (content does not matter for speed)."""
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    paths = []
    for i in range(n):
        x = 0.3 * np.sin(2 * np.pi * (200 + i % 700) * t) + 0.05 * rng.standard_normal(16000)
        paths.append(folder / f"{i:05d}.wav")
        write_wav(paths[-1], x.astype(np.float32), 16000)
    return paths


def make_images(folder: Path, n: int) -> list[Path]:
    from PIL import Image
    from sklearn.datasets import load_digits

    images = load_digits().images
    paths = []
    for i in range(n):
        size = (8, 16, 24, 32)[i % 4]
        im = Image.fromarray((255 - images[i % len(images)] * 15).astype(np.uint8))
        paths.append(folder / f"{i:05d}.png")
        im.resize((size, size)).convert("RGB" if i % 2 else "L").save(paths[-1])
    return paths


def best_times(repeats: int, *fns) -> list[float]:
    """Best wall time of each function over `repeats` rounds (timeit's convention: the least
    disturbed run), the functions taking turns so that both see the same machine."""
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def librosa_baseline(paths: list[Path], cfg: AudioFeatures) -> None:
    import librosa

    for p in paths:
        y, _ = librosa.load(p, sr=cfg.sample_rate, mono=True)
        y = librosa.util.fix_length(y, size=cfg.num_samples)
        m = librosa.feature.melspectrogram(
            y=y, sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length, n_mels=cfg.n_mels
        )
        np.log(m + 1e-6)


def mlcycle_featurize(paths: list[Path], params: DictConfig) -> None:
    """Exactly what the featurize stage runs, with the task's featurize settings."""
    featurizer, _ = build(params.task.modality, params.featurize)
    featurize_paths(featurizer, paths, params.featurize.batch_size, params.featurize.workers)


def pillow_baseline(paths: list[Path], size: int) -> None:
    from PIL import Image

    for p in paths:
        with Image.open(p) as im:
            a = np.asarray(im.convert("L").resize((size, size)), dtype=np.float32) / 255.0
        (a - a.mean()) / (a.std() + 1e-5)


def training_samples_per_s(params: DictConfig, steps: int = 20) -> float:
    """The keywords network of conf/ on random batches of train.batch_size."""
    torch.manual_seed(0)
    batch = params.train.batch_size
    net = instantiate(params.model, n_classes=12, in_channels=1, _convert_="all")
    opt = torch.optim.AdamW(net.parameters())
    x, y = torch.randn(batch, 1, 40, 101), torch.randint(0, 12, (batch,))
    for i in range(steps + 3):
        if i == 3:
            start = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=2000)
    parser.add_argument("--images", type=int, default=1797)
    parser.add_argument("--repeats", type=int, default=5, help="rounds; each one's best counts")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    with tempfile.TemporaryDirectory() as tmp:
        clips = make_clips(Path(tmp), args.clips)
        images = make_images(Path(tmp), args.images)
        keywords, digits = task_params(), task_params("task=digits")
        acfg = AudioFeatures(**keywords.featurize.audio)
        icfg = ImageFeatures(**digits.featurize.image)
        mlcycle_featurize(clips[:50], keywords)  # warm-up: imports, FFT plans
        librosa_baseline(clips[:20], acfg)
        ours, base = best_times(
            args.repeats,
            lambda: mlcycle_featurize(clips, keywords),
            lambda: librosa_baseline(clips, acfg),
        )
        print(
            f"audio  {len(clips)} clips: mlcycle {len(clips) / ours:8.0f} clips/s, "
            f"librosa per file {len(clips) / base:8.0f} clips/s, speed-up {base / ours:.1f}x"
        )
        ours, base = best_times(
            args.repeats,
            lambda: mlcycle_featurize(images, digits),
            lambda: pillow_baseline(images, icfg.size),
        )
        print(
            f"images {len(images)} files: mlcycle {len(images) / ours:8.0f} images/s, "
            f"Pillow per file {len(images) / base:8.0f} images/s, speed-up {base / ours:.1f}x"
        )
    name = keywords.model._target_.rsplit(".", 1)[-1]
    print(
        f"training ({name} width {keywords.model.width}, batch {keywords.train.batch_size}): "
        f"{training_samples_per_s(keywords):.0f} samples/s"
    )


if __name__ == "__main__":
    main()
