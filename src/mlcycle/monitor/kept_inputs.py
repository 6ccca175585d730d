"""The served inputs kept for export, in tar segments, within a budget of bytes and age.

At 500 requests a second of 32 KB clips, kept inputs grow by 1.4 TB a day: the folder is
held to `max_mb` and `max_age_s`, the oldest segments deleted first. Inputs are appended
to segment files (`inputs-<time>-<n>.tar`, plain POSIX tar: `tar tf` lists one, `tar xf`
unpacks it) rather than written one file each: creating a file cost 220 us per input on
ext4, appending to a segment 50 us, and a day of traffic is a few hundred files instead of
forty million. A kept input is named `<segment>#<member>` in the prediction log
(`read_kept` returns its bytes). The folder is scanned once at start; after that every
segment is tracked in memory, so pruning costs nothing per request but the deletions.
"""

from __future__ import annotations

import collections
import logging
import os
import tarfile
import time
from pathlib import Path

log = logging.getLogger("mlcycle.monitor")

SEPARATOR = "#"  # between a segment's path and a member's name in a reference
MAX_SEGMENT_BYTES = 64 * 2**20
MAX_SEGMENT_S = 3600.0
WRITE_BYTES = 4 * 2**20  # inputs appended per write, at most about this much


def _template() -> bytes:
    info = tarfile.TarInfo("")
    info.mode = 0o644
    return info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "surrogateescape")


TEMPLATE = _template()  # a member's USTAR header but for its name, size and mtime


def member_header(name: str, size: int, mtime: int) -> bytes:
    """The USTAR header tarfile writes for a regular file `name` of `size` bytes (mode
    644, uid/gid 0), byte for byte: patched into a template, 8 us where TarInfo.tobuf
    takes 35 (on the log's thread, which shares the GIL with the event loop)."""
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) > 100 or size >= 8**11 or not 0 <= mtime < 8**11:  # tarfile's own way
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = size, mtime, 0o644
        return info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "surrogateescape")
    header = bytearray(TEMPLATE)
    header[0 : len(raw)] = raw
    header[124:148] = b"%011o\0%011o\0" % (size, mtime)
    header[148:156] = b"        "  # the checksum counts its own field as spaces
    header[148:155] = b"%06o\0" % sum(header)
    return bytes(header)


class KeptInputs:
    """Append inputs to segments under `folder`, deleting the oldest segments beyond
    `max_mb` or `max_age_s`. A segment is closed after a tenth of either budget (at most
    64 MB or an hour), so that pruning gives back space a tenth at a time."""

    def __init__(self, folder: str | Path, max_mb: float, max_age_s: float) -> None:
        self.folder, self.max_bytes, self.max_age_s = Path(folder), max_mb * 1e6, max_age_s
        self.segment_bytes = min(self.max_bytes / 10, MAX_SEGMENT_BYTES)
        self.segment_s = min(max_age_s / 10, MAX_SEGMENT_S)
        # closed segments, oldest first: (time of their last input, bytes, path)
        self.segments: collections.deque[tuple[float, int, Path]] = collections.deque()
        self.bytes = 0  # in every segment, the open one included
        self.pruned = 0  # segments deleted to stay within the budget
        self.count = 0  # segments opened by this process (for unique names)
        self.tar: tarfile.TarFile | None = None
        self.current: Path | None = None
        self.opened_at = 0.0
        self.current_bytes = 0
        if self.folder.is_dir():
            found = []
            for path in self.folder.iterdir():  # segments, and inputs an older version
                if path.is_file():  # kept one file each: all within the same budget
                    stat = path.stat()
                    found.append((stat.st_mtime, stat.st_size, path))
            for entry in sorted(found):
                self.segments.append(entry)
                self.bytes += entry[1]
        self.prune()

    def write(self, name: str, body: bytes) -> str:
        """Keep `body` as member `name` of the open segment; returns its reference for
        read_kept. OSError if it cannot be written (a half-written member is cut off)."""
        return self._append([(name, body)])[0]

    def write_many(self, inputs: list[tuple[str, bytes]]) -> list[str | None]:
        """Keep each (name, body), a few MB per write; returns their references, None for
        those that could not be written (a full disk: said in the log)."""
        refs: list[str | None] = []
        group: list[tuple[str, bytes]] = []
        size = 0
        for i, (name, body) in enumerate(inputs):
            group.append((name, body))
            size += len(body)
            if size >= WRITE_BYTES or i == len(inputs) - 1:
                try:
                    refs += self._append(group)
                except OSError as e:
                    log.warning("cannot keep %d inputs: %s", len(inputs) - len(refs), e)
                    return refs + [None] * (len(inputs) - len(refs))
                group, size = [], 0
        return refs

    def _append(self, inputs: list[tuple[str, bytes]]) -> list[str]:
        """Append `inputs` as tar members in one write (a syscall per input cost more than
        the tar headers); OSError cuts the segment back to its last whole member."""
        if self.tar is None or self._full():
            self._roll()
        assert self.tar is not None and self.current is not None
        now = int(time.time())
        chunks = []
        for name, body in inputs:
            chunks += [member_header(name, len(body), now), body]
            chunks.append(bytes(-len(body) % tarfile.BLOCKSIZE))
        data = b"".join(chunks)
        fileobj = self.tar.fileobj
        start = self.tar.offset
        try:
            view = memoryview(data)
            while view:
                view = view[fileobj.write(view) :]
        except OSError:
            fileobj.truncate(start)
            fileobj.seek(start)
            raise
        self.tar.offset = start + len(data)
        self.current_bytes += len(data)
        self.bytes += len(data)
        self.prune()
        return [f"{self.current}{SEPARATOR}{name}" for name, _ in inputs]

    def _full(self) -> bool:
        return (
            self.current_bytes >= self.segment_bytes
            or time.time() - self.opened_at >= self.segment_s
        )

    def _roll(self) -> None:
        """Close the open segment and open a new one (never appending to a segment an
        earlier process may have left cut short)."""
        self.close()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count += 1
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        self.current = self.folder / f"inputs-{stamp}-{os.getpid()}-{self.count:06d}.tar"
        # unbuffered: each member is on disk when write returns, readable by export
        raw = open(self.current, "xb", buffering=0)  # noqa: SIM115 - closed by close()
        self.tar = tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT)
        self.opened_at, self.current_bytes = time.time(), 0

    def close(self) -> None:
        """Close the open segment (a tar's end-of-archive blocks) into the closed ones."""
        if self.tar is None or self.current is None:
            return
        raw = self.tar.fileobj
        start = raw.tell()
        try:
            self.tar.close()  # two zero blocks, padded to a 10 kB record
            ended = raw.tell() - start
            raw.close()
        except OSError as e:  # readable without its end blocks: tar says so, and reads on
            log.warning("cannot close kept-inputs segment %s: %s", self.current, e)
            ended = 0
        self.bytes += ended
        self.segments.append((time.time(), self.current_bytes + ended, self.current))
        self.tar, self.current = None, None

    def prune(self) -> None:
        oldest_allowed = time.time() - self.max_age_s
        while self.segments and (
            self.bytes > self.max_bytes or self.segments[0][0] < oldest_allowed
        ):
            _, size, path = self.segments.popleft()
            self.bytes -= size
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as e:
                log.warning("cannot delete kept inputs %s: %s", path, e)
            self.pruned += 1


def split(reference: str) -> tuple[Path, str]:
    """(segment, member) of a kept input's reference; (file, its name) for an input an
    older version kept as a file of its own."""
    segment, _, member = str(reference).rpartition(SEPARATOR)
    if not segment:
        return Path(reference), ""
    return Path(segment), member


def name_of(reference: str) -> str:
    """The kept input's file name (its member name in a segment)."""
    segment, member = split(reference)
    return member or segment.name


def is_kept(reference: str) -> bool:
    """Whether the segment holding the input is still there (not pruned)."""
    return split(reference)[0].is_file()


class KeptReader:
    """Reads kept inputs, each segment opened and indexed once (an export reads many)."""

    def __init__(self) -> None:
        self.open: dict[Path, tarfile.TarFile] = {}

    def __enter__(self) -> KeptReader:
        return self

    def __exit__(self, *exc: object) -> None:
        for tar in self.open.values():
            tar.close()
        self.open.clear()

    def read(self, reference: str) -> bytes:
        """The bytes of a kept input; FileNotFoundError naming it when it was pruned."""
        segment, member = split(reference)
        if not member:  # kept as a file of its own
            try:
                return segment.read_bytes()
            except OSError as e:
                raise FileNotFoundError(f"kept input {reference} cannot be read: {e}") from None
        try:
            if segment not in self.open:
                self.open[segment] = tarfile.open(segment, "r:", ignore_zeros=True)
            extracted = self.open[segment].extractfile(member)
            if extracted is None:
                raise KeyError(member)
            return extracted.read()
        except (OSError, KeyError, tarfile.TarError) as e:
            raise FileNotFoundError(f"kept input {reference} cannot be read: {e}") from None


def read_kept(reference: str) -> bytes:
    """The bytes of one kept input (KeptReader for many)."""
    with KeptReader() as reader:
        return reader.read(reference)
