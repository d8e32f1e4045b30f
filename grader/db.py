"""The engine, the per-request session and transaction helpers.

SQLite: WAL, a busy timeout, foreign keys, and `BEGIN IMMEDIATE` for every transaction so
a read-then-write never fails with SQLITE_BUSY_SNAPSHOT under load (SQLAlchemy's recipe).
PostgreSQL: psycopg 3 at READ COMMITTED; uniqueness comes from constraints.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

WRITE = "grader_write"


def _read_only_request() -> bool:
    """Whether this runs for a GET or HEAD request (which never writes, except through
    `transaction()`)."""
    from flask import has_request_context, request

    return has_request_context() and request.method in ("GET", "HEAD")


def make_engine(url: str) -> Engine:
    """An engine for `url` with the SQLite pragmas and locking we rely on."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Any) -> None:
            # Page views (GET) only read: a deferred BEGIN lets them run side by side. Every
            # other transaction takes the write lock up front, so a read-then-write never
            # fails with SQLITE_BUSY_SNAPSHOT; `transaction()` asks for it explicitly.
            if connection.get_execution_options().get(WRITE) or not _read_only_request():
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                connection.exec_driver_sql("BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def init_app(app: Flask) -> None:
    """Create the engine and session factory, and close each request's session."""
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["engine"] = engine
    app.extensions["sessionmaker"] = sessionmaker(engine, expire_on_commit=False)

    @app.teardown_appcontext
    def _close(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()


def session() -> Session:
    """The current request's session (created on first use)."""
    from flask import current_app

    if "db_session" not in g:
        g.db_session = current_app.extensions["sessionmaker"]()
    return g.db_session


@contextmanager
def transaction() -> Iterator[Session]:
    """A unit of work: committed on success, rolled back on any error. On SQLite it holds
    the write lock from its first statement (a read begun before it is ended first)."""
    s = session()
    if s.get_bind().dialect.name == "sqlite":
        if s.in_transaction():
            s.commit()
        s.connection(execution_options={WRITE: True})
    try:
        yield s
        s.commit()
    except BaseException:
        s.rollback()
        raise
