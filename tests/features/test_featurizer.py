"""featurize_paths: the same features whatever the threads and chunking; bad files named."""

import numpy as np
import pytest
import torch
from PIL import Image

from mlcycle.data.audio_io import write_wav
from mlcycle.features.audio import AudioFeaturizer
from mlcycle.features.extract import featurize_paths
from mlcycle.features.image import ImageFeaturizer
from tests.conftest import audio_features, image_features


@pytest.fixture
def clips(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(23):
        seconds = (0.6, 1.0, 1.4)[i % 3]  # padded, exact and cropped clips
        x = rng.standard_normal(int(seconds * 16000)).astype(np.float32) * 0.05 * (1 + i)
        paths.append(tmp_path / f"{i}.wav")
        write_wav(paths[-1], np.clip(x, -1, 1), 16000)
    return paths


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(19):
        size = (8, 13, 30)[i % 3]
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8)).save(paths[-1])
    return paths


@pytest.mark.parametrize("modality", ["audio", "image"])
def test_features_do_not_depend_on_threads_or_chunks(modality, clips, images):
    featurizer, paths = (
        (AudioFeaturizer(audio_features()), clips)
        if modality == "audio"
        else (ImageFeaturizer(image_features()), images)
    )
    one_by_one = torch.cat([featurizer.raw_features([featurizer.decode(p)]) for p in paths])
    for batch_size, workers in [(1, 1), (7, 2), (64, None), (5, 3)]:
        feats = featurize_paths(featurizer, paths, batch_size, workers)
        assert torch.equal(feats, one_by_one), (batch_size, workers)


def test_torch_threads_are_restored(clips):
    before = torch.get_num_threads()
    featurize_paths(AudioFeaturizer(audio_features()), clips[:3], 1, 2)
    assert torch.get_num_threads() == before


def test_an_undecodable_file_is_named(clips):
    clips[5].write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with pytest.raises(ValueError, match=f"cannot decode {clips[5]}"):
        featurize_paths(AudioFeaturizer(audio_features()), clips, 4, 2)


def test_bad_arguments_are_errors(clips):
    with pytest.raises(ValueError, match="no files"):
        featurize_paths(AudioFeaturizer(audio_features()), [], 64)
    with pytest.raises(ValueError, match="batch_size"):
        featurize_paths(AudioFeaturizer(audio_features()), clips, 0)
    with pytest.raises(ValueError, match="workers"):
        featurize_paths(AudioFeaturizer(audio_features()), clips, 4, 0)


def test_non_finite_features_are_never_written(clips, tmp_path):
    """featurize_to_store names the file and stops, rather than fold inf into the stats."""
    import pandas as pd

    from mlcycle.features.extract import featurize_to_store

    class Broken(AudioFeaturizer):
        def raw_features(self, waves):
            x = super().raw_features(waves)
            x[0, 0, 0, 0] = float("inf")  # the first file of each chunk
            return x

    manifest = pd.DataFrame(
        {"path": clips[:9], "label": ["a"] * 9, "split": ["train"] * 3 + ["val"] * 3 + ["test"] * 3}
    )
    featurizer = Broken(audio_features())
    with pytest.raises(ValueError, match="non-finite features") as e:
        featurize_to_store(manifest, featurizer, ["a"], tmp_path / "features", 64, 4)
    assert any(str(c) in str(e.value) for c in clips[:3]) and featurizer.mean is None
    assert not list((tmp_path / "features").rglob("*.pt"))


def test_decoding_refuses_nan_audio(tmp_path):
    x = np.full(1600, 0.1, dtype=np.float32)
    x[7] = np.nan
    write_wav(tmp_path / "nan.wav", x, 16000, subtype="FLOAT")
    with pytest.raises(ValueError, match="NaN or infinite"):
        AudioFeaturizer(audio_features()).decode(tmp_path / "nan.wav")
