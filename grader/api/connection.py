"""Core connections for the API's hot paths: the key check and grading.

These run prebuilt Core statements on a connection of the API's own engine (same database
and SQLite pragmas as grader.db's): an ORM session costs several times more per statement,
and building a statement anew costs more than running it, which is most of a small
request's time. Two more savings, both safe for what these paths do:

- every statement runs in autocommit (`first()`: its own transaction, no BEGIN/COMMIT
  round trips): a read sees one snapshot, a single INSERT or UPDATE is atomic and durable
  when it returns; the paths never read-then-write in one transaction, so nothing relies on
  a shared snapshot;
- no ping before an idle connection is used (it would cost a round trip per request): a
  statement that finds its connection dead (the database restarted) runs once more on a
  fresh one, which is safe for these statements (reads, the grading INSERT ... ON CONFLICT
  DO NOTHING, setting a time).

The grading INSERT goes one step further (`Prepared`, `first_prepared`): compiled once per
dialect by SQLAlchemy, with SQLAlchemy's own bind processors, and run on the driver's
cursor.

The API's connections stay open between requests, in a list of idle ones (`_Idle`):
checking one out of SQLAlchemy's pool and back in cost about 30 us per request under load,
half as much as the grading INSERT's own Python work. Autocommit leaves nothing open on an
idle connection. A request never waits for an API connection (it makes one when none is
idle), so it cannot deadlock with the ORM connection it may hold. Everything else uses the
ORM session as the rest of the app.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, current_app, g
from sqlalchemy import Connection, Dialect, Engine, Executable, NullPool, Row, create_engine, event
from sqlalchemy.exc import DBAPIError

from grader.api.errors import dumps

T = TypeVar("T")


def make_api_engine(url: str) -> Engine:
    """The API's engine for `url` (SQLite or PostgreSQL), in autocommit, without a pool of
    its own: the app keeps the idle connections (`_Idle`)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    # JSON columns (a grade's answers) written by orjson, several times faster than the
    # json module, which the app's own engine uses; both read either.
    options: dict[str, Any] = {"isolation_level": "AUTOCOMMIT", "poolclass": NullPool,
                               "json_serializer": dumps}
    if not url.startswith("sqlite"):
        return create_engine(url, **options)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                           **options)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "busy_timeout=30000", "foreign_keys=ON",
                       "synchronous=NORMAL"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    return engine


class _Idle:
    """An app's API connections between requests (a request takes one, or makes one when
    none is idle, and gives it back at its end): the whole pool the hot paths need, at the
    cost of a list's pop and append. At most `MAX_IDLE` are kept; a dead one is never given
    back. Connections a forked process inherited are its parent's: it makes its own."""

    MAX_IDLE = 16

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.idle: list[Connection] = []
        self.pid = os.getpid()

    def take(self) -> Connection:
        if self.pid != os.getpid():
            self.idle, self.pid = [], os.getpid()
        try:
            return self.idle.pop()  # atomic: no two threads get the same one
        except IndexError:
            return self.engine.connect()

    def give_back(self, conn: Connection) -> None:
        if conn.invalidated or len(self.idle) >= self.MAX_IDLE or self.pid != os.getpid():
            conn.close()
        else:
            self.idle.append(conn)

    def close_all(self) -> None:
        idle, self.idle = self.idle, []
        for conn in idle:
            conn.close()


def init_app(app: Flask) -> None:
    """Create the API's engine; it is disposed, and the idle connections closed, with the
    app's own (grader.db's) engine. A request's API connection is given back at its end."""
    api_engine = app.extensions["api_engine"] = make_api_engine(app.config["DATABASE_URL"])
    idle = app.extensions["api_connections"] = _Idle(api_engine)

    @app.teardown_appcontext
    def _give_back(_exc: BaseException | None) -> None:
        conn = g.pop("api_connection", None)
        if conn is not None:
            idle.give_back(conn)

    @event.listens_for(app.extensions["engine"], "engine_disposed")
    def _dispose_too(_engine: Engine) -> None:
        idle.close_all()
        api_engine.dispose()


def _connection() -> Connection:
    """The request's API connection (taken once, given back when the request ends)."""
    conn = g.get("api_connection")
    if conn is None:
        conn = g.api_connection = current_app.extensions["api_connections"].take()
    return conn


def dialect() -> Dialect:
    """The API engine's dialect (SQLite or PostgreSQL)."""
    return current_app.extensions["api_engine"].dialect  # type: ignore[no-any-return]


def first(statement: Executable, params: Mapping[str, Any]) -> Row[Any] | None:
    """Run one statement in its own transaction; its first row (None if it returns none)."""

    def run(conn: Connection) -> Row[Any] | None:
        result = conn.execute(statement, params)
        return result.first() if result.returns_rows else None

    return _on_a_live_connection(run)


def _on_a_live_connection(run: Callable[[Connection], T]) -> T:
    """`run(conn)` on the request's API connection; once more on a fresh one if it failed
    because that connection turned out dead (the database restarted)."""
    conn = _connection()
    try:
        return run(conn)
    except DBAPIError as err:  # SQLAlchemy's wrapping: it has told whether it was dead
        if not err.connection_invalidated:
            raise
    except conn.dialect.loaded_dbapi.Error as err:  # the driver's own, from its cursor
        if not conn.dialect.is_disconnect(err, conn.connection.dbapi_connection, None):
            raise
        conn.invalidate()
    g.pop("api_connection").close()  # dead: not given back
    return run(_connection())


@dataclass(frozen=True)
class Prepared:
    """A Core statement compiled once for a dialect: its SQL text, its parameters' order
    (positional drivers) and their bind processors (what SQLAlchemy would apply)."""

    sql: str
    order: tuple[str, ...] | None
    processors: dict[str, Callable[[Any], Any]]

    @classmethod
    def of(cls, statement: Executable, dialect: Dialect) -> Prepared:
        compiled = statement.compile(dialect=dialect)
        processors = {}
        for name, bind in compiled.binds.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                processors[name] = process
        order = tuple(compiled.positiontup or ()) if compiled.positional else None
        return cls(str(compiled), order, processors)

    def parameters(self, params: Mapping[str, Any]) -> Any:
        values = {name: (self.processors[name](value) if name in self.processors else value)
                  for name, value in params.items()}
        return values if self.order is None else [values[name] for name in self.order]


def first_prepared(prepared: Prepared, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """`first()` for a statement of the hot path, run on the driver's own cursor: the same
    SQL and parameters as SQLAlchemy would send, without its per-statement work (a third
    of a grading INSERT's time on SQLite, more on PostgreSQL). The cursor is kept with the
    connection (making one per statement cost psycopg about 17 us)."""
    values = prepared.parameters(params)

    def run(conn: Connection) -> tuple[Any, ...] | None:
        cursor = conn.info.get("hot_path_cursor")  # dropped with a dead connection's info
        if cursor is None:
            cursor = conn.info["hot_path_cursor"] = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(prepared.sql, values)
        # Every row, so the statement has run to its end (and committed) here.
        rows = cursor.fetchall() if cursor.description is not None else []
        return tuple(rows[0]) if rows else None

    return _on_a_live_connection(run)
