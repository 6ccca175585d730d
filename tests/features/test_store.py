"""The sharded feature store: what featurize writes, what train and evaluate read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mlcycle.data.audio_io import write_wav
from mlcycle.features.audio import AudioFeaturizer
from mlcycle.features.extract import featurize_paths, featurize_to_store
from mlcycle.features.featurizer import RunningStats
from mlcycle.features.store import FeatureStoreError, load_split
from mlcycle.models.training import ShardShuffle
from tests.conftest import audio_features


@pytest.fixture
def manifest(tmp_path):
    rng = np.random.default_rng(1)
    rows = []
    for i in range(26):
        x = rng.standard_normal(16000).astype(np.float32) * 0.02 * (1 + i % 5)
        path = tmp_path / f"clip{i}.wav"
        write_wav(path, np.clip(x, -1, 1), 16000)
        split = "train" if i < 14 else "val" if i < 20 else "test"
        rows.append({"path": str(path), "label": "ab"[i % 2], "split": split})
    return pd.DataFrame(rows)


def test_splits_are_written_in_shards_normalised_with_training_statistics(manifest, tmp_path):
    out = tmp_path / "features"
    featurizer = AudioFeaturizer(audio_features())
    counts = featurize_to_store(manifest, featurizer, ["a", "b"], out, 4, shard_size=5, seed=3)
    assert counts == {"train": 14, "val": 6, "test": 6}
    train = load_split(out, "train")
    assert train.sizes == [5, 5, 4] and len(train) == 14
    assert sorted(train.paths) == sorted(manifest["path"][:14])
    assert train.paths != list(manifest["path"][:14])  # shuffled before sharding (seeded)
    assert not (out / ".train-raw").exists()  # the scratch copy is gone
    # The statistics of the whole training split, accumulated shard by shard
    raw = featurize_paths(AudioFeaturizer(audio_features()), train.paths, 64)
    reference = AudioFeaturizer(audio_features())
    reference.mean = raw.mean(dim=(0, 1, 3), keepdim=True)
    reference.std = raw.std(dim=(0, 1, 3), keepdim=True)
    assert torch.allclose(featurizer.mean, reference.mean, atol=1e-4)
    assert torch.allclose(featurizer.std, reference.std, rtol=1e-4)
    stored = torch.cat(list(train.batches(3)))
    assert torch.allclose(stored, reference.normalise(raw), atol=1e-4)
    labels = {str(p): "ab".index(lab) for p, lab in zip(manifest["path"], manifest["label"])}
    assert train.y.tolist() == [labels[p] for p in train.paths]
    test = load_split(out, "test")
    assert test.paths == list(manifest["path"][20:])  # evaluation splits keep their order


def test_running_statistics_equal_the_one_shot_ones():
    x = torch.randn(50, 1, 8, 20) * 7 - 40
    running = RunningStats(2)
    for chunk in x.split(7):
        running.update(chunk)
    mean, std = running.result()
    assert torch.allclose(mean, x.mean(dim=(0, 1, 3), keepdim=True), atol=1e-4)
    assert torch.allclose(std, x.std(dim=(0, 1, 3), keepdim=True), rtol=1e-4)


def test_the_dataset_holds_one_shard_and_serves_each_row(manifest, tmp_path):
    out = tmp_path / "features"
    featurize_to_store(
        manifest, AudioFeaturizer(audio_features()), ["a", "b"], out, 4, shard_size=4
    )
    split = load_split(out, "train")
    everything = torch.cat(list(split.batches()))
    dataset = split.dataset()
    loaded = []
    original = split.shard
    split.shard = lambda i: loaded.append(i) or original(i)
    order = list(ShardShuffle(split.sizes, seed=0))
    for row in order:
        x, y = dataset[row]
        assert torch.equal(x, everything[row]) and y == split.y[row]
    assert len(loaded) == len(split.sizes)  # each shard read once in the epoch


def test_shard_shuffle_visits_every_row_once_shard_by_shard():
    sizes = [5, 5, 3]
    sampler = ShardShuffle(sizes, seed=7)
    first = list(sampler)
    assert sorted(first) == list(range(13)) and len(sampler) == 13
    shard_of = [0] * 5 + [1] * 5 + [2] * 3
    switches = sum(shard_of[a] != shard_of[b] for a, b in zip(first, first[1:]))
    assert switches == len(sizes) - 1
    assert list(ShardShuffle(sizes, seed=7)) == first  # depends only on (seed, epoch)
    sampler.set_epoch(1)
    assert list(sampler) != first


def test_shard_shuffle_splits_rows_between_processes(monkeypatch):
    sizes = [5, 5, 3]
    parts = []
    for rank in (0, 1):
        monkeypatch.setattr(ShardShuffle, "world", staticmethod(lambda r=rank: (r, 2)))
        sampler = ShardShuffle(sizes, seed=7)
        parts.append(list(sampler))
        assert len(parts[-1]) == len(sampler) == 7  # 13 rows padded to 14
    assert set(parts[0]) | set(parts[1]) == set(range(13))


def test_a_damaged_index_or_a_missing_shard_is_named(manifest, tmp_path):
    out = tmp_path / "features"
    featurize_to_store(
        manifest, AudioFeaturizer(audio_features()), ["a", "b"], out, 4, shard_size=4
    )
    with pytest.raises(FeatureStoreError, match="nothing/index.json not found"):
        load_split(out, "nothing")
    (out / "val/shard-00001.pt").unlink()
    with pytest.raises(FeatureStoreError, match="val/shard-00001.pt not found"):
        list(load_split(out, "val").batches())
    (out / "test/index.json").write_text("{not json")
    with pytest.raises(FeatureStoreError, match="cannot read .*test/index.json"):
        load_split(out, "test")
