"""Serving table rows: a JSON row or a list of rows, each checked against the package's
schema; each row's values are logged with its answer (mlcycle.modalities.table.rows)."""

from __future__ import annotations

from typing import Any

from mlcycle.modalities.base import Serving


class TableServing(Serving):
    content_types = ("application/json",)
    content_help = "application/json (a row, or a list of rows)"
    multipart = False

    def decode(self, data: bytes, package: Any, serve: Any) -> Any:
        from mlcycle.serve.inputs import decode_rows

        return decode_rows(data, package.featurizer, serve.max_rows)


PART = TableServing()
