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

from mlcycle.data.audio_io import write_wav
from mlcycle.features.audio import AudioFeaturizer
from mlcycle.features.image import ImageFeaturizer
from mlcycle.features.extract import featurize_paths
from mlcycle.params import AudioFeatures, ImageFeatures


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


def mlcycle_audio(paths: list[Path], cfg: AudioFeatures) -> None:
    featurize_paths(AudioFeaturizer(cfg), paths)  # exactly what the featurize stage runs


def pillow_baseline(paths: list[Path], size: int) -> None:
    from PIL import Image

    for p in paths:
        with Image.open(p) as im:
            a = np.asarray(im.convert("L").resize((size, size)), dtype=np.float32) / 255.0
        (a - a.mean()) / (a.std() + 1e-5)


def mlcycle_images(paths: list[Path], cfg: ImageFeatures) -> None:
    featurize_paths(ImageFeaturizer(cfg), paths)


def training_samples_per_s(steps: int = 20, batch: int = 64) -> float:
    from mlcycle.models.dscnn import DSCNN

    torch.manual_seed(0)
    net = DSCNN(12, width=96)
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
        acfg, icfg = AudioFeatures(), ImageFeatures()
        mlcycle_audio(clips[:50], acfg)  # warm-up: imports, FFT plans
        librosa_baseline(clips[:20], acfg)
        ours, base = best_times(
            args.repeats,
            lambda: mlcycle_audio(clips, acfg),
            lambda: librosa_baseline(clips, acfg),
        )
        print(
            f"audio  {len(clips)} clips: mlcycle {len(clips) / ours:8.0f} clips/s, "
            f"librosa per file {len(clips) / base:8.0f} clips/s, speed-up {base / ours:.1f}x"
        )
        ours, base = best_times(
            args.repeats,
            lambda: mlcycle_images(images, icfg),
            lambda: pillow_baseline(images, icfg.size),
        )
        print(
            f"images {len(images)} files: mlcycle {len(images) / ours:8.0f} images/s, "
            f"Pillow per file {len(images) / base:8.0f} images/s, speed-up {base / ours:.1f}x"
        )
    print(f"training (DS-CNN width 96, batch 64): {training_samples_per_s():.0f} samples/s")


if __name__ == "__main__":
    main()
