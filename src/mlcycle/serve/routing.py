"""Sticky weighted routing: a request key always lands in the same bucket 0-99."""

from __future__ import annotations

import hashlib


def bucket(key: str) -> int:
    """The bucket 0-99 of a request key (uniform, stable across processes and restarts)."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % 100


def route(key: str, canary_weight: int) -> str:
    """'canary' for keys whose bucket is below the weight (0-100), else 'stable'.

    Raising the weight only moves keys from stable to canary, never back: a key that has
    reached the canary stays there as the rollout progresses.
    """
    return "canary" if bucket(key) < canary_weight else "stable"
