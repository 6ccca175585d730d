"""Kept inputs go into tar segments within their budget of bytes and age, the oldest
segments deleted first; each input reads back by its reference, with tar as with us."""

import os
import subprocess
import tarfile
import time

import pytest

from mlcycle.monitor.kept_inputs import KeptInputs, KeptReader, is_kept, read_kept


def segments(folder):
    return sorted(p.name for p in folder.glob("*.tar"))


def test_each_input_reads_back_by_its_reference_from_an_open_segment(tmp_path):
    kept = KeptInputs(tmp_path / "inputs", max_mb=100, max_age_s=3600)
    bodies = {f"r{i:02d}.wav": os.urandom(1000 + i) for i in range(20)}
    refs = {name: kept.write(name, body) for name, body in bodies.items()}
    assert len(segments(tmp_path / "inputs")) == 1  # one file, not twenty
    with KeptReader() as reader:  # the segment is still open: readable all the same
        assert {name: reader.read(ref) for name, ref in refs.items()} == bodies
    kept.close()
    segment = tmp_path / "inputs" / segments(tmp_path / "inputs")[0]
    with tarfile.open(segment) as tar:  # a closed segment is a plain tar archive
        assert tar.getnames() == list(bodies)
    if os.path.exists("/usr/bin/tar") or os.path.exists("/bin/tar"):
        listed = subprocess.run(["tar", "tf", segment], capture_output=True, text=True)
        assert listed.returncode == 0 and listed.stdout.split() == list(bodies)


def test_the_oldest_segments_go_first_when_the_bytes_are_spent(tmp_path):
    folder = tmp_path / "inputs"
    kept = KeptInputs(folder, max_mb=0.05, max_age_s=3600)  # 50 kB: 5 kB segments
    refs = [kept.write(f"r{i:03d}.wav", bytes(1000)) for i in range(200)]
    on_disk = sum(p.stat().st_size for p in folder.glob("*.tar"))
    assert on_disk <= 50_000 + kept.segment_bytes + 20 * 512 and kept.pruned > 0
    assert on_disk == kept.bytes
    alive = [is_kept(ref) for ref in refs]
    assert alive == sorted(alive)  # the oldest are gone, the newest are there
    assert all(alive[-20:]) and not any(alive[:100])  # 5 kB segments padded to 10 kB
    assert read_kept(refs[-1]) == bytes(1000)
    with pytest.raises(FileNotFoundError, match="r000.wav"):
        read_kept(refs[0])


def test_segments_older_than_the_age_limit_are_deleted_at_start_and_on_write(tmp_path):
    folder = tmp_path / "inputs"
    folder.mkdir()
    old, recent = folder / "inputs-old.tar", folder / "inputs-recent.tar"
    for path in (old, recent):
        with tarfile.open(path, "w") as tar:
            tar.addfile(tarfile.TarInfo("x.wav"))
    week = time.time() - 8 * 86_400
    os.utime(old, (week, week))
    kept = KeptInputs(folder, max_mb=100, max_age_s=7 * 86_400)  # a restart finds both
    assert not old.exists() and recent.exists() and kept.pruned == 1
    ref = kept.write("new.wav", b"z")
    assert recent.exists() and read_kept(ref) == b"z"
    assert len(segments(folder)) == 2  # a new segment: never appended to an old one


def test_a_full_disk_leaves_no_half_written_input(tmp_path, monkeypatch):
    kept = KeptInputs(tmp_path / "inputs", max_mb=100, max_age_s=3600)
    first = kept.write("a.wav", b"a" * 3000)
    raw = kept.tar.fileobj
    real_write = raw.write
    calls = []

    def full(data):
        calls.append(len(data))
        if len(calls) == 1:  # the header and a little data go out (a short write)...
            return real_write(bytes(data[:600]))
        raise OSError(28, "No space left on device")  # ...then the disk is full

    monkeypatch.setattr(raw, "write", full)
    with pytest.raises(OSError, match="No space"):
        kept.write("b.wav", b"b" * 3000)
    monkeypatch.setattr(raw, "write", real_write)
    third = kept.write("c.wav", b"c" * 10)
    kept.close()
    with tarfile.open(first.rpartition("#")[0]) as tar:
        assert tar.getnames() == ["a.wav", "c.wav"]
    assert read_kept(first) == b"a" * 3000 and read_kept(third) == b"c" * 10


def test_inputs_an_older_version_kept_as_files_stay_readable_and_within_the_budget(tmp_path):
    folder = tmp_path / "inputs"
    folder.mkdir()
    legacy = folder / "0123abcd.wav"  # one file per input, as before segments
    legacy.write_bytes(b"w" * 4000)
    assert is_kept(str(legacy)) and read_kept(str(legacy)) == b"w" * 4000
    kept = KeptInputs(folder, max_mb=0.012, max_age_s=3600)  # 12 kB, the old file counted
    assert kept.bytes == 4000
    for i in range(12):
        kept.write(f"r{i:02d}.wav", bytes(1000))
    assert not legacy.exists() and kept.pruned >= 1  # the oldest go first, old files too


def test_inputs_written_together_keep_those_before_a_full_disk_and_lose_the_rest(
    tmp_path, monkeypatch
):
    """The log's thread keeps a second of inputs a few MB per write: when the disk fills
    up, the writes before it stand, the inputs of the failed one and after it are not kept
    (None: their rows say no input), and the segment holds only whole members."""
    import mlcycle.monitor.kept_inputs as kept_inputs

    monkeypatch.setattr(kept_inputs, "WRITE_BYTES", 2500)  # two inputs per write
    kept = KeptInputs(tmp_path / "inputs", max_mb=100, max_age_s=3600)
    kept.write("first.wav", b"f" * 10)  # opens the segment
    raw = kept.tar.fileobj
    real_write = raw.write
    calls = []

    def full(data):
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(data)
        real_write(bytes(data[:700]))  # part of the second write goes out, then ENOSPC
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(raw, "write", full)
    inputs = [(f"r{i}.wav", bytes([65 + i]) * 1500) for i in range(5)]
    refs = kept.write_many(inputs)
    monkeypatch.setattr(raw, "write", real_write)
    assert refs[:2] != [None, None] and refs[2:] == [None, None, None]
    kept.close()
    with tarfile.open(refs[0].rpartition("#")[0]) as tar:
        assert tar.getnames() == ["first.wav", "r0.wav", "r1.wav"]
    assert read_kept(refs[1]) == b"B" * 1500


@pytest.mark.parametrize(
    "name,size,mtime",
    [
        ("0123456789abcdef0123456789abcdef.wav", 32_044, 1_764_000_000),
        ("a", 0, 0),
        ("x" * 100, 5, 123),  # the longest name the header holds
        ("é" * 10 + ".png", 10**6, 1_764_000_000),
        ("d" * 60 + "/" + "f" * 60, 5, 123),  # longer: tarfile's own way (a prefix)
    ],
)
def test_member_headers_are_the_ones_tarfile_writes(name, size, mtime):
    from mlcycle.monitor.kept_inputs import member_header

    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, mtime, 0o644
    assert member_header(name, size, mtime) == info.tobuf(
        tarfile.USTAR_FORMAT, "utf-8", "surrogateescape"
    )
