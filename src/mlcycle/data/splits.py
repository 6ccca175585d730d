"""Split assignment by hashing the group id: stable as data grows, no group in two splits."""

from __future__ import annotations

import hashlib

SPLITS = ("train", "val", "test")
# Rows of voices never trained on (a source marks them held_out): scored apart by evaluate.
HELD_OUT = "held_out"
ALL_SPLITS = (*SPLITS, HELD_OUT)


def split_of(group: str, val_fraction: float, test_fraction: float) -> str:
    """'train', 'val' or 'test' for `group`, from a uniform hash of its id."""
    digest = hashlib.sha256(str(group).encode("utf-8")).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "val"
    return "train"
