"""Alembic environment: the URL from the caller, models' metadata as the target.

URL, first found wins: `config.attributes["url"]` (grader.cli.upgrade_database), `-x url=...`
on the alembic command line, DATABASE_URL, the app's default SQLite file.
"""

from __future__ import annotations

import os
from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import Connection, create_engine, event, pool, text

from grader.models import Base

config = context.config
if config.config_file_name is not None and not config.attributes.get("skip_logging"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def database_url() -> str:
    url = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
    url = url or os.environ.get("DATABASE_URL")
    if not url:
        from grader.config import INSTANCE

        INSTANCE.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{INSTANCE / 'grader.sqlite3'}"
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def _configure(connection: Connection | None = None, **kwargs: Any) -> None:
    url = database_url()
    context.configure(
        connection=connection,
        url=None if connection is not None else url,
        target_metadata=target_metadata,
        render_as_batch=url.startswith("sqlite"),  # SQLite can only ALTER by copying tables
        compare_type=True,
        compare_server_default=True,
        # Our SQLite engine below really runs DDL inside BEGIN ... COMMIT: all or nothing.
        transactional_ddl=True,
        **kwargs,
    )


def run_offline() -> None:
    _configure(literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    url = database_url()
    engine = config.attributes.get("connection") or _engine(url)
    with engine.connect() as connection:
        _configure(connection)
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # Two servers starting at once: the second waits, then finds nothing to do.
                connection.execute(text("SELECT pg_advisory_xact_lock(4242001)"))
            context.run_migrations()
    engine.dispose()


def _engine(url: str) -> Any:
    if not url.startswith("sqlite"):
        return create_engine(url, poolclass=pool.NullPool)
    # SQLite: the whole upgrade in one real transaction (DDL included), and foreign keys
    # left OFF so batch mode's copy-and-drop of a table cannot cascade into its children.
    engine = create_engine(url, poolclass=pool.NullPool, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


if context.is_offline_mode():
    run_offline()
else:
    run_online()
