"""The prediction log on both engines: written off the request path, read without writing."""

import sqlite3
import time
import uuid

import pytest
import sqlalchemy

from mlcycle.monitor.store import LogWriter, StoreError, read_log


def rows(n, start=0):
    return [
        {
            "time": time.time(),
            "request_id": f"r{start + i}",
            "status": 200,
            "label": "yes",
            "confidence": 0.9,
            "route": "stable",
            "model_version": "v1",
            "duration_s": 1.0,
        }
        for i in range(n)
    ]


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/log.db"
    # a database of its own on the session's server, so its rows are this test's alone
    server = request.getfixturevalue("postgres_url")
    name = f"test_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return server.rsplit("/", 1)[0] + "/" + name


def test_rows_written_by_the_writer_are_read_back(store_url):
    writer = LogWriter(store_url, flush_s=0.1)
    for row in rows(250):
        writer.put(row)
    writer.close()
    log = read_log(store_url)
    # every row once: none lost, none written twice
    assert sorted(log["request_id"]) == sorted(f"r{i}" for i in range(250))
    assert set(log["label"]) == {"yes"}
    assert list(read_log(store_url, last=10)["request_id"])[-1] == "r249"


def test_sqlite_log_is_in_wal_mode(tmp_path):
    url = f"sqlite:///{tmp_path}/log.db"
    LogWriter(url, flush_s=0.1).close()
    with sqlite3.connect(tmp_path / "log.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_put_never_blocks_and_drops_the_oldest_when_full(tmp_path):
    writer = LogWriter(f"sqlite:///{tmp_path}/log.db", flush_s=60, capacity=10)
    start = time.perf_counter()
    for row in rows(50):
        writer.put(row)
    assert time.perf_counter() - start < 1.0 and writer.dropped == 40
    writer.close()
    assert list(read_log(f"sqlite:///{tmp_path}/log.db")["request_id"]) == [
        f"r{i}" for i in range(40, 50)
    ]


def test_reading_never_creates_or_changes_the_log(tmp_path):
    url = f"sqlite:///{tmp_path}/log.db"
    with pytest.raises(StoreError, match="no prediction log at"):
        read_log(url)
    assert not (tmp_path / "log.db").exists()
    writer = LogWriter(url, flush_s=0.1)
    for row in rows(5):
        writer.put(row)
    writer.close()
    before = (tmp_path / "log.db").read_bytes()
    assert len(read_log(url)) == 5
    assert (tmp_path / "log.db").read_bytes() == before


def test_a_log_being_written_can_be_read(tmp_path):
    url = f"sqlite:///{tmp_path}/log.db"
    writer = LogWriter(url, flush_s=0.05)
    seen = []
    for batch in range(5):
        for row in rows(20, start=batch * 20):
            writer.put(row)
        time.sleep(0.2)
        seen.append(len(read_log(url)))
    writer.close()
    assert seen == sorted(seen) and seen[-1] >= 80


def test_a_bad_store_url_is_named():
    with pytest.raises(StoreError, match="mysql://x"):
        LogWriter("mysql://x")


def test_a_row_the_database_refuses_is_dropped_and_blocks_no_other(store_url):
    """PostgreSQL refuses a label longer than its column; the rows around it are written."""
    writer = LogWriter(store_url, flush_s=0.1)
    batch = rows(20)
    batch[7]["label"] = "x" * 1000  # String(128)
    for row in batch:
        writer.put(row)
    writer.close()
    log = read_log(store_url)
    if store_url.startswith("sqlite"):  # SQLite keeps any length: every row is there
        assert len(log) == 20 and writer.refused == 0
        return
    assert sorted(log["request_id"]) == sorted(f"r{i}" for i in range(20) if i != 7)
    assert writer.refused == 1 and writer.written == 19


def test_a_log_an_older_mlcycle_created_gets_the_new_columns_and_keeps_its_rows(store_url):
    """A table model's `score` and `row_values` columns came after logs were in use: the
    writer adds what a log lacks, and its old rows read back with the new ones."""
    writer = LogWriter(store_url, flush_s=0.05)
    writer.put(rows(1)[0])
    writer.close()
    engine = sqlalchemy.create_engine(store_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:  # the log as it was before the table columns
        for column in ("score", "row_values"):
            conn.execute(sqlalchemy.text(f"ALTER TABLE predictions DROP COLUMN {column}"))
    engine.dispose()
    writer = LogWriter(store_url, flush_s=0.05)
    writer.put({**rows(1, start=1)[0], "score": 0.25, "row_values": '{"amount": 3.5}'})
    writer.close()
    log = read_log(store_url)
    assert list(log["request_id"]) == ["r0", "r1"] and writer.written == 1
    assert log["score"].isna().iloc[0] and log["score"].iloc[1] == 0.25
    assert log["row_values"].iloc[1] == '{"amount": 3.5}'
