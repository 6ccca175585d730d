"""Serving table rows: a JSON row or a list of rows, each checked against the package's
schema; each row's values are logged with its answer (mlcycle.modalities.table.rows)."""

from __future__ import annotations

from typing import Any

import orjson

from mlcycle.modalities.base import Serving
from mlcycle.serve.inputs import BadInput, Rows


class TableServing(Serving):
    content_types = ("application/json",)
    content_help = "application/json (a row, or a list of rows)"
    multipart = False

    def decode(self, data: bytes, package: Any, serve: Any) -> Any:
        return decode_rows(data, package.featurizer, serve.max_rows)


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

    # logged with the row, never features: the id late labels join on, the row's own time
    # (what their windows follow)
    kept = [(featurizer.cfg.id_column, "id"), (featurizer.cfg.time_column, "time")]

    def checked(row: Any, where: str = "") -> dict:
        try:
            decoded = featurizer.decode(row)
        except ValueError as e:  # RowError: the field and the problem
            raise BadInput(422, "invalid_row", f"{where}{e}") from None
        for column, what in kept:
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

    if isinstance(body, dict):
        return checked(body)
    if not isinstance(body, list) or not body:
        raise BadInput(422, "invalid_row", "send a JSON object (a row) or a non-empty list of them")
    if len(body) > max_rows:
        raise BadInput(413, "too_many_rows", f"{len(body)} rows in one request; at most {max_rows}")
    return Rows(checked(row, f"row {i}: ") for i, row in enumerate(body))


PART = TableServing()
