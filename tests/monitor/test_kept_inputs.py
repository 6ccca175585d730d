"""Kept inputs stay within their budget of bytes and age, the oldest deleted first."""

import os
import time

from mlcycle.monitor.kept_inputs import KeptInputs


def test_the_oldest_inputs_go_first_when_the_bytes_are_spent(tmp_path):
    kept = KeptInputs(tmp_path / "inputs", max_mb=0.01, max_age_s=3600)  # 10 kB
    for i in range(30):
        kept.write(tmp_path / "inputs" / f"r{i:02d}.wav", bytes(1000))
    left = sorted(p.name for p in (tmp_path / "inputs").iterdir())
    assert left == [f"r{i:02d}.wav" for i in range(20, 30)]  # the newest 10 kB
    assert kept.pruned == 20 and kept.bytes == 10_000


def test_inputs_older_than_the_age_limit_are_deleted_at_start_and_on_write(tmp_path):
    folder = tmp_path / "inputs"
    folder.mkdir()
    old, recent = folder / "old.wav", folder / "recent.wav"
    old.write_bytes(b"x" * 10)
    recent.write_bytes(b"y" * 10)
    week = time.time() - 8 * 86_400
    os.utime(old, (week, week))
    kept = KeptInputs(folder, max_mb=100, max_age_s=7 * 86_400)  # a restart finds both
    assert not old.exists() and recent.exists() and kept.pruned == 1
    kept.write(folder / "new.wav", b"z")
    assert sorted(p.name for p in folder.iterdir()) == ["new.wav", "recent.wav"]
