import io

import numpy as np
import pytest
import torch
from PIL import Image

from mlcycle.features.image import ImageFeaturizer, prepare_image
from tests.conftest import image_features

CFG = image_features()


def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "mode,fmt,size",
    [
        ("P", "PNG", (40, 30)),
        ("RGBA", "PNG", (8, 8)),
        ("CMYK", "JPEG", (100, 60)),
        ("L", "PNG", (16, 16)),
        ("RGB", "BMP", (33, 17)),
        ("1", "PNG", (12, 12)),
    ],
)
def test_any_mode_and_size_gives_the_fixed_input(mode, fmt, size):
    image = Image.new("RGB", size, (200, 100, 50)).convert(mode)
    f = ImageFeaturizer(CFG)
    x = f.raw_features([f.decode(encoded(image, fmt))])
    assert x.shape == (1, 1, 16, 16) and torch.isfinite(x).all()
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_transparent_pixels_become_white_paper():
    image = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    assert torch.allclose(prepare_image(image, CFG), torch.ones(1, 16, 16))


def test_sixteen_bit_grayscale_is_scaled_not_clipped():
    wide = np.arange(256, dtype=np.uint16).reshape(16, 16) * 257
    x = prepare_image(Image.fromarray(wide), CFG)
    assert x.min() < 0.05 and x.max() > 0.95


def test_rgb_config_keeps_three_channels():
    x = prepare_image(Image.new("L", (20, 20), 128), image_features(size=8, channels=3))
    assert x.shape == (3, 8, 8)


def test_image_normalisation_uses_training_statistics():
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)) for _ in range(6)]
    f = ImageFeaturizer(CFG)
    f.fit_stats(f.raw_features(images))
    normed = f(images)
    assert abs(float(normed.mean())) < 1e-4 and abs(float(normed.std()) - 1) < 0.05
    again = ImageFeaturizer.from_stats({"image": vars(CFG), **f.stats()})
    assert torch.allclose(again(images), normed)
