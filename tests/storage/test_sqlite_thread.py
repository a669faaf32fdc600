"""The SQLite store's thread: queued calls run in order, grouped writes share one transaction, and a
refused row in a group takes nothing else with it."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from tornado_paste.storage.base import StoreUnavailable
from tornado_paste.storage.sqlite.store import SQLiteStore


@pytest.fixture
def store(tmp_path, io_loop):
    store = SQLiteStore(str(tmp_path / "t.sqlite3"))

    async def open_() -> None:
        await store.open()
        await store.run(lambda c: c.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)"))

    io_loop.run_sync(open_)
    yield store
    io_loop.run_sync(store.close)


def insert(key: str, value: int):
    def run(conn: sqlite3.Connection) -> int:
        return int(conn.execute("INSERT INTO t VALUES (?, ?)", (key, value)).lastrowid)

    return run


@pytest.mark.gen_test
async def test_queued_calls_run_in_order_and_each_gets_its_answer(store):
    order: list[int] = []

    def step(i: int):
        def run(conn: sqlite3.Connection) -> int:
            order.append(i)
            return i * 10
        return run

    results = await asyncio.gather(*(store.run(step(i)) for i in range(100)))
    assert results == [i * 10 for i in range(100)]
    assert order == list(range(100))


@pytest.mark.gen_test
async def test_grouped_writes_commit_together_and_a_duplicate_fails_alone(store):
    await store.run(insert("taken", 0))
    calls = [store.run(insert(f"k{i}", i), group=True) for i in range(20)]
    calls.insert(7, store.run(insert("taken", 1), group=True))
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(results[7], sqlite3.IntegrityError)
    assert all(isinstance(r, int) for i, r in enumerate(results) if i != 7)
    rows = await store.run(lambda c: c.execute("SELECT k, v FROM t").fetchall())
    assert {r["k"] for r in rows} == {"taken"} | {f"k{i}" for i in range(20)}
    taken = await store.run(lambda c: c.execute("SELECT v FROM t WHERE k = 'taken'").fetchone()[0])
    assert taken == 0  # the refused row changed nothing


@pytest.mark.gen_test
async def test_grouped_writes_share_one_transaction(store):
    commits: list[str] = []
    store._conn.set_trace_callback(lambda sql: commits.append(sql) if sql.startswith(("BEGIN", "COMMIT")) else None)
    await asyncio.gather(*(store.run(insert(f"g{i}", i), group=True) for i in range(30)))
    store._conn.set_trace_callback(None)
    # Thirty rows in far fewer transactions than thirty (the first call may run before the rest queue).
    assert 1 <= commits.count("COMMIT") < 10
    assert await store.run(lambda c: c.execute("SELECT COUNT(*) FROM t").fetchone()[0]) == 30


@pytest.mark.gen_test
async def test_a_closed_store_refuses(store):
    await store.close()
    with pytest.raises(StoreUnavailable):
        await store.run(insert("late", 1), group=True)
