"""The prediction log: one table, two engines through SQLAlchemy Core.

`monitor.store` is a database URL: `sqlite:///models/serving/predictions.db` (an embedded
file in WAL mode, the default) or `postgresql://user@host/db` (several server replicas
sharing one log). The server writes through LogWriter, off the request path; `mlcycle
monitor` reads through read_log, on a read-only connection.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from mlcycle.monitor.kept_inputs import KeptInputs
from mlcycle.monitor.stats import COLUMNS

log = logging.getLogger("mlcycle.monitor")

METADATA = sa.MetaData()
PREDICTIONS = sa.Table(
    "predictions",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("time", sa.Float, nullable=False, index=True),  # seconds since the epoch
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("model_version", sa.String(64)),
    sa.Column("route", sa.String(16)),  # stable | canary | shadow | none (refused)
    sa.Column("status", sa.Integer, nullable=False),  # the HTTP status answered
    sa.Column("reason", sa.String(64)),  # why there is no output (a 4xx reason, model_failed)
    sa.Column("label", sa.String(128)),
    sa.Column("confidence", sa.Float),
    sa.Column("latency_ms", sa.Float),
    sa.Column("input_file", sa.String(512)),  # the kept input, for export
    *[sa.Column(name, sa.String(32) if name == "mode" else sa.Float) for name in COLUMNS],
    # a table model's answers: the positive class's score, and the decoded row as JSON
    # (its values per column: missing shares, unknown categories, drift; its id column
    # is what late labels join on, mlcycle.monitor.labels)
    sa.Column("score", sa.Float),
    sa.Column("row_values", sa.Text),
)
FIELDS = [c.name for c in PREDICTIONS.columns if c.name != "id"]


# What a database answers when it refuses a row's values (not when it cannot be reached).
REFUSED = (sa.exc.DataError, sa.exc.IntegrityError)


class StoreError(RuntimeError):
    """The log cannot be opened or read; the message names the URL and the problem."""


def engine(url: str, read_only: bool = False) -> sa.Engine:
    """An engine for `url`; SQLite files are created (unless read-only) and run in WAL."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if read_only:
            if not path.is_file():
                raise StoreError(f"no prediction log at {path} (monitor.store={url})")
            target = f"sqlite:///file:{path.resolve()}?mode=ro&uri=true"
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            target = url
        eng = sa.create_engine(target, connect_args={"timeout": 30})

        @sa.event.listens_for(eng, "connect")
        def _pragmas(conn, _record):  # WAL: readers never block the writer, and v.v.
            cursor = conn.cursor()
            if not read_only:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")  # a commit survives a crash (WAL)
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return eng
    if url.startswith(("postgresql://", "postgresql+psycopg://")):
        target = url.replace("postgresql://", "postgresql+psycopg://", 1)
        options = {"options": "-c default_transaction_read_only=on"} if read_only else {}
        return sa.create_engine(target, connect_args=options, pool_pre_ping=True)
    raise StoreError(f"monitor.store={url!r}: use sqlite:///<file> or postgresql://...")


def create(url: str) -> sa.Engine:
    """The writer's engine, with the table created if it is not there, and the columns a
    newer mlcycle logs added to a log an older one created (never dropped or changed)."""
    eng = engine(url)
    try:
        METADATA.create_all(eng)
        with eng.begin() as conn:
            there = {c["name"] for c in sa.inspect(conn).get_columns(PREDICTIONS.name)}
            for column in PREDICTIONS.columns:
                if column.name not in there:
                    kind = column.type.compile(dialect=eng.dialect)
                    conn.exec_driver_sql(
                        f"ALTER TABLE {PREDICTIONS.name} ADD COLUMN {column.name} {kind}"
                    )
                    log.info("prediction log %s: added the column %s", url, column.name)
    except sa.exc.SQLAlchemyError as e:
        raise StoreError(f"cannot open the prediction log {url}: {e}") from None
    return eng


def read_log(
    url: str,
    since: float | None = None,
    last: int | None = None,
    model_version: str | None = None,
) -> pd.DataFrame:
    """Rows of the log (newest `last`, or since a time), oldest first; never writes."""
    eng = engine(url, read_only=True)
    query = sa.select(PREDICTIONS)
    if since is not None:
        query = query.where(PREDICTIONS.c.time >= since)
    if model_version is not None:
        query = query.where(PREDICTIONS.c.model_version == model_version)
    query = query.order_by(PREDICTIONS.c.id.desc())
    if last is not None:
        query = query.limit(last)
    try:
        with eng.connect() as conn:
            if not sa.inspect(conn).has_table("predictions"):
                raise StoreError(f"{url} holds no prediction log (no 'predictions' table)")
            frame = pd.read_sql(query, conn)
    except sa.exc.SQLAlchemyError as e:
        raise StoreError(f"cannot read the prediction log {url}: {e}") from None
    finally:
        eng.dispose()
    return frame.sort_values("id").reset_index(drop=True)


def driver_insert(eng: sa.Engine) -> str | None:
    """The INSERT of a log row in the driver's own parameter style (sqlite3's `?`,
    psycopg's `%s`), for the DBAPI's executemany with plain tuples: 6 us a row, commit
    included, against 13 through SQLAlchemy Core's per-row parameter processing (on the
    thread that shares the GIL with the event loop). None for a driver of another style:
    Core writes the rows then."""
    mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(eng.dialect.paramstyle)
    if mark is None:
        return None
    return (
        f"INSERT INTO {PREDICTIONS.name} ({', '.join(FIELDS)}) "
        f"VALUES ({', '.join([mark] * len(FIELDS))})"
    )


class LogWriter:
    """Rows queued by the server, written in batches by a background thread.

    `put` never blocks and never raises: a full queue drops the oldest rows (counted),
    and a database that fails is retried with the rows kept. A row is acknowledged once
    its batch is committed, at most `flush_s` after it was put. `prepare`, if given, is
    called with the `stats` of a batch's rows before they are written (to compute them
    together).
    """

    def __init__(
        self,
        url: str,
        flush_s: float = 1.0,
        capacity: int = 100_000,
        max_body_bytes: int = 256_000_000,
        kept: KeptInputs | None = None,
        prepare: Callable[[list[Any]], None] | None = None,
    ) -> None:
        self.url, self.flush_s, self.kept, self.prepare = url, flush_s, kept, prepare
        self.max_body_bytes, self.body_bytes = max_body_bytes, 0
        self.lock = threading.Lock()
        self.engine = create(url)
        self.insert_sql = driver_insert(self.engine)
        self.queue: queue.Queue = queue.Queue(maxsize=capacity)
        self.dropped = 0
        self.written = 0
        self.failures = 0
        self.refused = 0  # rows the database refused (dropped, not retried)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self.thread.start()

    def put(self, row: dict[str, Any]) -> None:
        """Queue a row; a `body` (bytes) is kept (KeptInputs) as its `input_file` first, unless
        the bodies queued already hold max_body_bytes (then the input is not kept). The
        row's `stats` (a dict, or a callable computing it, with the `nbytes` it holds) are
        spread into its columns when it is written; beyond max_body_bytes a callable is
        called at once, so that what waits in the queue stays bounded."""
        body, stats = row.get("body"), row.get("stats")
        held = (len(body) if body is not None else 0) + getattr(stats, "nbytes", 0)
        if held:
            with self.lock:
                if self.body_bytes + held > self.max_body_bytes:
                    row = {**row, "body": None, "input_file": None, "held": 0}
                    if callable(stats):
                        row["stats"] = stats()
                else:
                    self.body_bytes += held
                    row["held"] = held
        try:
            self.queue.put_nowait(row)
        except queue.Full:  # never block a prediction: lose the oldest instead
            try:
                self._release(self.queue.get_nowait())
                self.dropped += 1
            except queue.Empty:
                pass
            self.queue.put_nowait(row)

    def _take(self) -> list[dict[str, Any]]:
        rows = []
        while True:
            try:
                rows.append(self.queue.get_nowait())
            except queue.Empty:
                return rows

    def _run(self) -> None:
        pending: list[dict[str, Any]] = []
        while not self.stopping.is_set():
            self.stopping.wait(self.flush_s)
            pending += self._take()
            pending = self._write(pending)
        pending += self._take()
        self._write(pending)

    def _write(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Commit `rows`; returns what is left to retry (nothing on success)."""
        if not rows:
            return rows
        keep = []
        if self.prepare is not None:
            self.prepare([row.get("stats") for row in rows])
        for row in rows:
            self._spread(row)
            body = row.pop("body", None)
            if body is None:
                continue
            if self.kept is None:  # nowhere to keep inputs: the row only
                row["input_file"] = None
                continue
            keep.append((row, body))
        if keep:  # a full disk loses inputs (their input_file None), never the rows
            refs = self.kept.write_many([(row["input_file"], body) for row, body in keep])
            for (row, _), ref in zip(keep, refs):
                row["input_file"] = ref
        try:
            self._insert(rows)
        except REFUSED:  # the database refuses a row (a value too long): isolate it
            return self._one_by_one(rows)
        except sa.exc.SQLAlchemyError as e:
            self.failures += 1
            log.warning("prediction log %s: write failed, retrying: %s", self.url, e)
            time.sleep(min(self.flush_s, 1.0))
            return rows[-self.queue.maxsize :]
        self.written += len(rows)
        return []

    def _spread(self, row: dict[str, Any]) -> None:
        """The row's statistics into its columns, and what it held out of the budget."""
        stats = row.pop("stats", None)
        if stats is not None:
            try:
                row.update(stats() if callable(stats) else stats)
            except Exception as e:  # never lose the row for its statistics
                log.warning("statistics of request %s: %s", row.get("request_id"), e)
        self._release(row)

    def _release(self, row: dict[str, Any]) -> None:
        held = row.pop("held", 0)
        if held:
            with self.lock:
                self.body_bytes -= held

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        with self.engine.begin() as conn:
            if self.insert_sql is None:
                values = [{k: row.get(k) for k in FIELDS} for row in rows]
                conn.execute(PREDICTIONS.insert(), values)
            else:  # the driver's own executemany: the log's thread shares the GIL
                values = [tuple(map(row.get, FIELDS)) for row in rows]
                conn.exec_driver_sql(self.insert_sql, values)

    def _one_by_one(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Write `rows` one at a time: a row the database refuses is dropped (counted in
        `refused`), so it never blocks the rows after it; what a lost connection leaves
        unwritten is returned for retry."""
        for i, row in enumerate(rows):
            try:
                self._insert([row])
            except REFUSED as e:
                self.refused += 1
                log.warning(
                    "prediction log %s: dropped request %s, refused: %s",
                    self.url,
                    row.get("request_id"),
                    str(e).splitlines()[0],
                )
                continue
            except sa.exc.SQLAlchemyError:
                return rows[i:]
            self.written += 1
        return []

    def close(self, timeout: float = 10.0) -> None:
        """Flush what is queued and stop."""
        self.stopping.set()
        self.thread.join(timeout)
        self.engine.dispose()
        if self.kept is not None and not self.thread.is_alive():
            self.kept.close()
