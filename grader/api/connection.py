"""Core connections for the API's hot paths: the key check and grading.

These run prebuilt Core statements on a connection of the API's own engine (same database
and SQLite pragmas as grader.db's): an ORM session costs several times more per statement,
and building a statement anew costs more than running it, which is most of a small
request's time. Two more savings, both safe for what these paths do:

- every statement runs in autocommit (`first()`: its own transaction, no BEGIN/COMMIT
  round trips): a read sees one snapshot, a single INSERT or UPDATE is atomic and durable
  when it returns; the paths never read-then-write in one transaction, so nothing relies on
  a shared snapshot;
- no ping before a pooled connection is used (it would cost a round trip per request): a
  statement that finds its connection dead (the database restarted) runs once more on a
  fresh one, which is safe for these statements (reads, the grading INSERT ... ON CONFLICT
  DO NOTHING, setting a time).

The engine has its own small pool, and a request takes its API connection before any ORM
session connection, so the two pools are always taken in the same order (no deadlock
however many threads wait). Everything else uses the ORM session as the rest of the app.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import Connection, Engine, Executable, Row, create_engine, event
from sqlalchemy.exc import DBAPIError


def make_api_engine(url: str) -> Engine:
    """The API's engine for `url` (SQLite or PostgreSQL), in autocommit."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if not url.startswith("sqlite"):
        return create_engine(url, isolation_level="AUTOCOMMIT", pool_size=4, max_overflow=6)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                           pool_size=5, max_overflow=10)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver never opens transactions itself
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "busy_timeout=30000", "foreign_keys=ON",
                       "synchronous=NORMAL"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    return engine


def init_app(app: Flask) -> None:
    """Create the API's engine; it is disposed with the app's own (grader.db's) engine."""
    api_engine = app.extensions["api_engine"] = make_api_engine(app.config["DATABASE_URL"])
    app.teardown_appcontext(close_connection)

    @event.listens_for(app.extensions["engine"], "engine_disposed")
    def _dispose_too(_engine: Engine) -> None:
        api_engine.dispose()


def _connection() -> Connection:
    """The request's API connection (checked out once, returned when the request ends)."""
    conn = g.get("api_connection")
    if conn is None:
        conn = g.api_connection = current_app.extensions["api_engine"].connect()
    return conn


def dialect_name() -> str:
    """"sqlite" or "postgresql"."""
    return str(current_app.extensions["api_engine"].dialect.name)


def first(statement: Executable, params: Mapping[str, Any]) -> Row[Any] | None:
    """Run one statement in its own transaction; its first row (None if it returns none)."""
    for attempt in (1, 2):
        conn = _connection()
        try:
            result = conn.execute(statement, params)
            return result.first() if result.returns_rows else None
        except DBAPIError as err:
            if attempt == 2 or not err.connection_invalidated:
                raise
            close_connection()  # the pool has dropped the dead connection: take another
    raise AssertionError("unreachable")


def close_connection(_exc: BaseException | None = None) -> None:
    """Return the request's API connection to the pool (a teardown handler)."""
    conn = g.pop("api_connection", None)
    if conn is not None:
        conn.close()
