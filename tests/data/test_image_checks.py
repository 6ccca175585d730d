import io

import numpy as np
import pytest
from omegaconf import OmegaConf
from PIL import Image

from mlcycle.data.checks import Invalid
from mlcycle.data.image_checks import check_image
from mlcycle.modalities.image.defects import IMAGE_DEFECTS, inject_image_defect
from tests.conftest import IMAGE_DEFECT_REASONS, task_params

CHECKS = task_params(["task=digits"]).validate.image
EXPECTED_REASON = IMAGE_DEFECT_REASONS


def digit_png(path, size=24, mode="L"):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).convert(mode).save(path)
    return path


def test_good_image_passes_with_its_facts(tmp_path):
    facts = check_image(digit_png(tmp_path / "a.png", 24, "RGB"), CHECKS)
    assert (facts.width, facts.height, facts.mode) == (24, 24, "RGB")
    assert 0 < facts.brightness < 255


@pytest.mark.parametrize("kind", IMAGE_DEFECTS)
def test_rejects_each_injected_image_defect_with_its_reason(tmp_path, kind):
    path = digit_png(tmp_path / "a.png")
    inject_image_defect(path, kind, np.random.default_rng(0))
    with pytest.raises(Invalid) as err:
        check_image(path, CHECKS)
    assert err.value.reason == EXPECTED_REASON[kind]


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    Image.new("L", (3000, 3000)).save(path)
    limited = OmegaConf.merge(CHECKS, {"max_pixels": 1_000_000})
    with pytest.raises(Invalid, match="exceeds 1000000") as err:
        check_image(path, limited)
    assert err.value.reason == "too_large"


def test_audio_file_in_an_image_task_is_rejected_as_wrong_modality(tmp_path):
    path = tmp_path / "yes.wav"
    path.write_bytes(b"RIFF....WAVEfmt ")
    with pytest.raises(Invalid) as err:
        check_image(path, CHECKS)
    assert err.value.reason == "wrong_modality"


@pytest.mark.parametrize(
    "mode,fmt", [("P", "PNG"), ("RGBA", "PNG"), ("CMYK", "JPEG"), ("L", "BMP"), ("RGB", "WEBP")]
)
def test_common_modes_and_formats_pass(tmp_path, mode, fmt):
    path = tmp_path / f"a.{fmt.lower()}"
    buffer = io.BytesIO()
    Image.new("RGB", (20, 30), (10, 200, 30)).convert(mode).save(buffer, format=fmt)
    path.write_bytes(buffer.getvalue())
    assert check_image(path, CHECKS).mode == mode
