"""A table's rows a chunk at a time: what keeps the table stages' memory flat as rows grow.

Collections and valid rows are Parquet files written one row group per chunk
(RowWriter) and read back one record batch at a time (chunks), each chunk a frame whose
index is its rows' position in the whole file: errors and rejections name the row.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlcycle.atomic import atomic_path
from mlcycle.modalities.table.columns import TableSpec

CHUNK_ROWS = 65_536  # rows in memory at once (a row group of the files written)


def arrow_schema(spec: TableSpec, extra: tuple[str, ...] = ()) -> pa.Schema:
    """The Parquet schema of a table's rows: its declared columns in their types, then
    `extra` text columns (source, defect, split...); one schema for every chunk, whether
    or not a chunk has a value in a column."""
    fields = []
    for name in spec.names:
        if name == spec.time_column:
            kind = pa.timestamp("ns")
        elif name in {c.name for c in spec.numeric}:
            kind = pa.float64()
        else:
            kind = pa.string()
        fields.append(pa.field(name, kind))
    return pa.schema(fields + [pa.field(name, pa.string()) for name in extra])


def chunks(
    path: str | Path, columns: list[str] | None = None, rows: int | None = None
) -> Iterator[pd.DataFrame]:
    """The Parquet file's rows (only `columns`, if given), `rows` (CHUNK_ROWS) at a time,
    each chunk indexed by its rows' positions in the file."""
    offset = 0
    size = rows or CHUNK_ROWS
    for batch in pq.ParquetFile(path).iter_batches(batch_size=size, columns=columns):
        frame = batch.to_pandas()
        frame.index = pd.RangeIndex(offset, offset + len(frame))
        offset += len(frame)
        yield frame


def row_count(path: str | Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows


def table_columns(path: str | Path) -> list[str]:
    return pq.ParquetFile(path).schema_arrow.names


class RowWriter:
    """Chunks of rows into one Parquet file, a row group each, written under a temporary
    name and renamed into place only when the block ends without an error."""

    def __init__(self, path: str | Path, schema: pa.Schema) -> None:
        self.path, self.schema, self.rows = Path(path), schema, 0

    def __enter__(self) -> RowWriter:
        self._atomic = atomic_path(self.path, suffix=".parquet")
        tmp = self._atomic.__enter__()
        self._writer = pq.ParquetWriter(tmp, self.schema)
        return self

    def write(self, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(
            frame[self.schema.names], schema=self.schema, preserve_index=False
        )
        self._writer.write_table(table)
        self.rows += len(frame)

    def __exit__(self, kind, value, trace) -> bool:
        if self.rows == 0 and kind is None:  # a file with its schema and no rows
            self._writer.write_table(self.schema.empty_table())
        self._writer.close()
        self._atomic.__exit__(kind, value, trace)
        return False
