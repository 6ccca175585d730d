"""Serving table rows: a JSON row or a list of rows, each checked against the package's
schema; each row's values are logged with its answer (mlcycle.modalities.table.rows)."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from mlcycle.modalities.base import Serving
from mlcycle.serve.inputs import BadInput, Rows


class TableServing(Serving):
    content_types = ("application/json",)
    content_help = "application/json (a row, or a list of rows)"
    multipart = False

    def decode(self, data: bytes, package: Any, serve: Any) -> Any:
        return decode_rows(data, package.featurizer, serve.max_rows)

    def from_tensors(
        self, tensors: list[Any], package: Any, serve: Any
    ) -> list[tuple[Any, bytes | None]]:
        """Rows as columns, one tensor per field, shape [rows] (as MLServer's pandas codec
        sends a frame): BYTES for strings, a number type for numbers; each row is then
        checked against the schema as a JSON row is."""
        lengths = {t.name: t.shape[0] if len(t.shape) in (1, 2) else None for t in tensors}
        if any(n is None for n in lengths.values()) or len(set(lengths.values())) != 1:
            raise BadInput(
                400, "bad_tensor", f"send one [rows] tensor per field, all as long: {lengths}"
            )
        (count,) = set(lengths.values())
        if len({t.name for t in tensors}) != len(tensors):
            raise BadInput(400, "bad_tensor", "a field came in two tensors")
        if count > serve.max_rows:
            raise BadInput(
                413, "too_many_rows", f"{count} rows in one request; at most {serve.max_rows}"
            )
        columns = {}
        for t in tensors:
            if t.datatype == "BYTES":
                try:
                    columns[t.name] = [x.decode() for x in t.data]
                except UnicodeDecodeError:
                    raise BadInput(
                        422, "invalid_row", f"field {t.name!r}: a value is not UTF-8 text"
                    ) from None
            else:
                # NaN is a missing value (JSON numbers have no null): nullable fields only
                values = np.asarray(t.data).reshape(count).tolist()
                columns[t.name] = [None if v != v else v for v in values]
        rows = [{name: values[i] for name, values in columns.items()} for i in range(count)]
        return [
            (checked_row(row, package.featurizer, f"row {i}: "), None) for i, row in enumerate(rows)
        ]

    def tensor_inputs(self, package: Any) -> list[dict[str, Any]]:
        cfg = package.featurizer.cfg
        numbers = [{"name": c["name"], "datatype": "FP64", "shape": [-1]} for c in cfg.numeric]
        text = [{"name": c["name"], "datatype": "BYTES", "shape": [-1]} for c in cfg.categorical]
        return numbers + text


def decode_rows(data: bytes, featurizer: Any, max_rows: int) -> dict | Rows:
    """A JSON row (an object of field -> value), or a list of at most `max_rows` of them,
    each checked against the package's schema (featurizer.decode): 422 names the row and
    the field (an unknown field, a wrong type, a missing value where none may be)."""
    if not data:
        raise BadInput(400, "empty", "the request body is empty: send a JSON row or list of rows")
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise BadInput(400, "bad_json", f"the body is not JSON: {e}") from None

    if isinstance(body, dict):
        return checked_row(body, featurizer)
    if not isinstance(body, list) or not body:
        raise BadInput(422, "invalid_row", "send a JSON object (a row) or a non-empty list of them")
    if len(body) > max_rows:
        raise BadInput(413, "too_many_rows", f"{len(body)} rows in one request; at most {max_rows}")
    return Rows(checked_row(row, featurizer, f"row {i}: ") for i, row in enumerate(body))


def checked_row(row: Any, featurizer: Any, where: str = "") -> dict:
    """A row checked against the package's schema (featurizer.decode), with its id and
    time kept for the log (never as features: what late labels join on, and the row's
    own time, which their windows follow); 422 names the row and the field."""
    try:
        decoded = featurizer.decode(row)
    except ValueError as e:  # RowError: the field and the problem
        raise BadInput(422, "invalid_row", f"{where}{e}") from None
    for column, what in ((featurizer.cfg.id_column, "id"), (featurizer.cfg.time_column, "time")):
        value = row.get(column) if column else None
        if value is None:
            continue
        if (
            not isinstance(value, (str, int, float))
            or isinstance(value, bool)
            or (len(str(value)) > 128)
        ):
            detail = f"{where}field {column!r} (the row's {what}) must be a string or number"
            raise BadInput(422, "invalid_row", f"{detail} of at most 128 characters")
        decoded[column] = value
    return decoded


PART = TableServing()
