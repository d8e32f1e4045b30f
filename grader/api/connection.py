"""Core connections for the API's hot paths: the key lookup on every request and grading.

These run prebuilt Core statements on a connection of the API's own engine (same database
and SQLite pragmas as grader.db's): an ORM session costs several times more per statement,
and building a statement anew costs more than running it, which is most of a small
request's time. Two more savings, both safe for what these paths do:

- statements run in autocommit (`autocommit()`: each one its own transaction, no
  BEGIN/COMMIT round): a read sees one snapshot, a single INSERT is atomic and durable when
  it returns; the paths never read-then-write in one transaction, so nothing relies on a
  shared snapshot;
- a write transaction on SQLite begins with `BEGIN IMMEDIATE` sent straight to the driver
  (grader.db's recipe, minus SQLAlchemy's statement machinery for the BEGIN itself).

The engine has its own small pool, and a request takes its API connection before any ORM
session connection, so the two pools are always taken in the same order (no deadlock
however many threads wait). Everything else uses the ORM session as the rest of the app.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import Connection, Engine, create_engine, event

WRITE = "api_write"


def make_api_engine(url: str) -> Engine:
    """The API's engine for `url` (SQLite or PostgreSQL)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=6)
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

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get(WRITE):
            connection.connection.dbapi_connection.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]

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


@contextmanager
def autocommit() -> Iterator[Connection]:
    """Run statements each in its own transaction: a read sees the latest committed data,
    a write is committed when the statement returns."""
    conn = _connection()
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        conn.execution_options(isolation_level="AUTOCOMMIT")
    try:
        yield conn
    except BaseException:
        conn.rollback()
        raise
    else:
        conn.commit()  # no transaction was opened on the server: this ends the bookkeeping
    finally:
        if postgres:
            conn.execution_options(isolation_level="READ COMMITTED")


@contextmanager
def write() -> Iterator[Connection]:
    """A write transaction (BEGIN IMMEDIATE on SQLite), committed on success."""
    conn = _connection()
    conn.execution_options(**{WRITE: True})
    try:
        with conn.begin():
            yield conn
    finally:
        conn.execution_options(**{WRITE: False})


def close_connection(_exc: BaseException | None = None) -> None:
    """Return the request's API connection to the pool (a teardown handler)."""
    conn = g.pop("api_connection", None)
    if conn is not None:
        conn.close()
