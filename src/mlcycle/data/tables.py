"""pandera schemas: the documentation and the check of every table the pipeline writes."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pandas as pd
import pandera.pandas as pa
from pandera.typing.pandas import Series

from mlcycle.data.splits import ALL_SPLITS


class RawManifest(pa.DataFrameModel):
    """data/raw/manifest.csv: one row per collected file."""

    path: Series[str] = pa.Field(nullable=False, str_length={"min_value": 1})  # under data/raw
    label: Series[str] = pa.Field(nullable=False, str_length={"min_value": 1})
    group: Series[str] = pa.Field(nullable=False)  # split key: speaker, writer, patient...
    source: Series[str]  # which source collected the row
    # Metadata of the built-in speech sources, keywords and pico (optional for others).
    speaker: Optional[Series[str]] = pa.Field(nullable=True)
    engine: Optional[Series[str]] = pa.Field(nullable=True)  # espeak | pico
    accent: Optional[Series[str]] = pa.Field(nullable=True)  # Pico: the voice
    variant: Optional[Series[str]] = pa.Field(nullable=True)
    word: Optional[Series[str]] = pa.Field(nullable=True)
    rate_wpm: Optional[Series[float]] = pa.Field(nullable=True)
    rate_percent: Optional[Series[float]] = pa.Field(nullable=True)
    pitch: Optional[Series[float]] = pa.Field(nullable=True)
    # A voice never trained on: validate puts the row in the held_out split.
    held_out: Optional[Series[float]] = pa.Field(nullable=True, isin=[0, 1])  # 1: held out
    # What collect.augment did to the clip (mlcycle.data.augment).
    speed: Optional[Series[float]] = pa.Field(nullable=True)
    vtlp: Optional[Series[float]] = pa.Field(nullable=True)
    eq_db: Optional[Series[float]] = pa.Field(nullable=True)
    channel: Optional[Series[str]] = pa.Field(nullable=True)
    # The format the source recorded in (built-in sources); validate holds files to it.
    expected_sample_rate: Optional[Series[float]] = pa.Field(nullable=True, gt=0)
    expected_channels: Optional[Series[float]] = pa.Field(nullable=True, gt=0)
    gain_db: Optional[Series[float]] = pa.Field(nullable=True)
    snr_db: Optional[Series[float]] = pa.Field(nullable=True)
    noise: Optional[Series[str]] = pa.Field(nullable=True)
    reverb_rt60_s: Optional[Series[float]] = pa.Field(nullable=True, ge=0)
    # Metadata of the built-in digits source.
    width: Optional[Series[float]] = pa.Field(nullable=True)
    height: Optional[Series[float]] = pa.Field(nullable=True)
    mode: Optional[Series[str]] = pa.Field(nullable=True)
    # The label before collect.label_noise flipped it ("" where unknown); never trained on.
    true_label: Optional[Series[str]] = pa.Field(nullable=True)
    # The defect injected on purpose ("" for none); validate never reads it.
    defect: Optional[Series[str]] = pa.Field(nullable=True)
    # A problem found while collecting (e.g. "outside_root: ..."): validate rejects the row.
    problem: Optional[Series[str]] = pa.Field(nullable=True)

    class Config:
        strict = True
        coerce = True


class ValidatedManifest(RawManifest):
    """data/validated/manifest.csv: the valid rows, each with its split."""

    split: Series[str] = pa.Field(isin=list(ALL_SPLITS))
    sha256: Series[str] = pa.Field(str_length={"min_value": 64, "max_value": 64})
    # Facts measured by validate: audio...
    duration_s: Optional[Series[float]] = pa.Field(ge=0, nullable=True)
    sample_rate: Optional[Series[float]] = pa.Field(gt=0, nullable=True)
    channels: Optional[Series[float]] = pa.Field(gt=0, nullable=True)
    rms_dbfs: Optional[Series[float]] = pa.Field(nullable=True)
    # ...or images (width, height and mode are shared with the digits metadata above).
    brightness: Optional[Series[float]] = pa.Field(nullable=True)


class Rejected(pa.DataFrameModel):
    """data/validated/rejected.csv: every file that failed a check, with the reason."""

    path: Series[str]
    label: Series[str] = pa.Field(nullable=True)
    reason: Series[str]  # a short code: empty, truncated, silent, ...
    detail: Series[str]  # the human-readable explanation

    class Config:
        strict = True
        coerce = True


# Each table's file name inside its folder (paths.raw, paths.validated).
RAW_MANIFEST = "manifest.csv"
VALIDATED_MANIFEST = "manifest.csv"
REJECTED = "rejected.csv"


def read_validated(folder) -> pd.DataFrame:
    """<folder>/manifest.csv checked against ValidatedManifest; FileNotFoundError if absent."""
    path = Path(folder) / VALIDATED_MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (run the validate stage first)")
    return read_table(path, ValidatedManifest)


def read_table(path, model: type[pa.DataFrameModel]):
    """Read a CSV and validate it with `model`; ValueError names the column, check and rows."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    return check_table(frame, model, str(path))


def check_table(frame, model: type[pa.DataFrameModel], where: str):
    """Validate `frame` with `model`; ValueError names the column, check and rows."""
    try:
        return model.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as e:
        cases = e.failure_cases
        lines = []
        for (column, check), rows in cases.groupby(["column", "check"], sort=False):
            sample = ", ".join(str(v) for v in rows["failure_case"].head(3))
            where_rows = [i for i in rows["index"].head(5) if i is not None and i == i]
            lines.append(
                f"column {column!r} fails {check}"
                + (f" at rows {where_rows}" if where_rows else "")
                + (f" (e.g. {sample})" if sample else "")
            )
        raise ValueError(f"{where}: " + "; ".join(lines)) from None
