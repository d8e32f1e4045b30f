"""Migrations: from empty to head on SQLite and PostgreSQL, and no drift from the models."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from grader.cli import alembic_config, current_revision, upgrade_database
from grader.db import make_engine
from grader.models import Base

PG = os.environ.get("TEST_DATABASE_URL") or None


def _throwaway_postgres() -> Iterator[str]:
    assert PG
    admin = create_engine(PG.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    name = f"cnnquiz_migrate_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield re.sub(r"/[^/?]*(\?|$)", f"/{name}\\1", PG, count=1)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"] if PG else ["sqlite"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a new SQLite file (in a folder that does not exist yet), or a new
    PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'not-yet' / 'db.sqlite3'}"
    else:
        yield from _throwaway_postgres()


def _head() -> str:
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, f"migrations have several heads: {heads} (merge them)"
    return heads[0]


def _drift(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_from_empty_reaches_head_with_no_drift(empty_url):
    assert current_revision(empty_url) is None
    upgrade_database(empty_url)
    assert current_revision(empty_url) == _head()
    assert set(Base.metadata.tables) <= _tables(empty_url)
    assert _drift(empty_url) == []  # what `alembic check` checks


def test_upgrade_twice_is_a_no_op(empty_url):
    upgrade_database(empty_url)
    upgrade_database(empty_url)
    assert current_revision(empty_url) == _head()


def test_downgrade_to_base_and_back(empty_url):
    upgrade_database(empty_url)
    command.downgrade(alembic_config(empty_url), "base")
    assert _tables(empty_url) <= {"alembic_version"}
    upgrade_database(empty_url)
    assert _drift(empty_url) == []


def test_migrated_schema_works_with_the_app(empty_url):
    from grader import create_app
    from grader.services import courses

    upgrade_database(empty_url)
    app = create_app({"TESTING": True, "DATABASE_URL": empty_url, "SECRET_KEY": "x",
                      "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 1024})
    try:
        with app.app_context():
            teacher = courses.create_user("t@example.edu", "T", "long password", is_instructor=True)
            course = courses.create_course("C1", "Course", teacher)
            assert [c.id for c in courses.courses_for(teacher)] == [course.id]
    finally:
        app.extensions["engine"].dispose()


def test_every_revision_file_is_reachable_from_head():
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    walked = {rev.revision for rev in script.walk_revisions()}
    files = list((Path(__file__).resolve().parents[2] / "migrations" / "versions").glob("*.py"))
    assert len(walked) == len(files)


def test_downgrade_from_0005_gives_api_grades_their_result_back(empty_url):
    # 0005 keeps a grade's result only in its response; going back to 0004 rebuilds the
    # `result` column from it.
    from grader import create_app
    from grader.services import api_keys, courses

    upgrade_database(empty_url)
    app = create_app({"TESTING": True, "DATABASE_URL": empty_url, "SECRET_KEY": "x",
                      "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 1024,
                      "RATELIMIT_STORAGE_URI": "memory://"})
    try:
        with app.app_context():
            teacher = courses.create_user("t@example.edu", "T", "long password", is_instructor=True)
            token = api_keys.create_key(courses.create_course("C1", "Course", teacher), "k").token
        client = app.test_client()
        auth = {"Authorization": f"Bearer {token}"}
        problem = client.post("/api/v1/problems", json={"kind": "param_count", "difficulty": 1},
                              headers=auth).get_json()
        graded = client.post(f"/api/v1/problems/{problem['id']}/grade",
                             json={"answers": {part["id"]: "12" for part in problem["parts"]}},
                             headers={**auth, "Idempotency-Key": "one"})
        assert graded.status_code == 201, graded.get_data(as_text=True)
        sent = graded.get_json()
    finally:
        app.extensions["engine"].dispose()
    command.downgrade(alembic_config(empty_url), "0004")
    engine = make_engine(empty_url)
    try:
        with engine.connect() as conn:
            result = conn.execute(text("SELECT result FROM api_grades")).scalar_one()
    finally:
        engine.dispose()
    if isinstance(result, str):  # SQLite's JSON comes back as text through plain SQL
        import json

        result = json.loads(result)
    assert result == {k: v for k, v in sent.items()
                      if k not in ("grade_id", "problem_id", "student", "recorded_at")}
    assert {"score", "parts", "misconceptions"} <= set(result)
    upgrade_database(empty_url)
    assert _drift(empty_url) == []
