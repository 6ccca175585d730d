"""Defects that real collections contain, injected on purpose so validation is tested.

Each modality names its own (its collect part: mlcycle.modalities.<name>.defects for the
file modalities); each injecting function rewrites a good file in place into one kind.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np


class Defects(NamedTuple):
    """A modality's defects (its collect part names them): the kinds, and how one is
    injected into a good file in place."""

    kinds: tuple[str, ...]
    inject: Callable[[Path, str, np.random.Generator], None]


def choose_defects(
    n: int, fraction: float, kinds: tuple[str, ...], rng: np.random.Generator
) -> dict[int, str]:
    """Pick round(n * fraction) row indices and a defect kind for each, kinds in rotation."""
    count = min(n, int(round(n * fraction)))
    rows = rng.choice(n, size=count, replace=False) if count else []
    return {int(i): kinds[k % len(kinds)] for k, i in enumerate(sorted(rows))}
