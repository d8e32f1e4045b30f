"""Hypothesis profiles: "ci" (derandomized, no deadline) when CI=true, else "dev" (no deadline)."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("dev", deadline=None)
settings.register_profile("ci", derandomize=True, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "dev")

# The tests' own instance folder (grader.config reads it on import): never the checkout's,
# where scripts/run.sh keeps a secret key, a demo password and the address it serves at.
if "GRADER_INSTANCE" not in os.environ:
    import tempfile

    os.environ["GRADER_INSTANCE"] = tempfile.mkdtemp(prefix="cnnquiz-test-instance-")


# ---------------------------------------------------------------- the service

import re  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

TEST_PASSWORD = "correct horse battery"


def _postgres_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL") or None


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One fresh PostgreSQL database per test run when TEST_DATABASE_URL is set."""
    urls: dict[str, str] = {}
    base = _postgres_url()
    created = None
    if base:
        from sqlalchemy import create_engine, text

        admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
        created = f"cnnquiz_test_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{created}"'))
        urls["postgresql"] = re.sub(r"/[^/?]*(\?|$)", f"/{created}\\1", base.split("://", 1)[1], count=1)
        urls["postgresql"] = "postgresql://" + urls["postgresql"]
    yield urls
    if created:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{created}" WITH (FORCE)'))
        admin.dispose()


def _engines() -> list[str]:
    return ["sqlite", "postgresql"] if _postgres_url() else ["sqlite"]


@pytest.fixture(params=_engines())
def app(request: pytest.FixtureRequest, tmp_path: Path, database_urls: dict[str, str]):
    """The app on a fresh SQLite file, and again on PostgreSQL when TEST_DATABASE_URL is set."""
    from grader import create_app
    from grader.models import Base

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.sqlite3'}"
    else:
        url = database_urls["postgresql"]
    app = create_app({
        "TESTING": True,
        "DATABASE_URL": url,
        "SECRET_KEY": "test-secret",
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST": 1024,
        "RATELIMIT_STORAGE_URI": "memory://",
        "SERVER_NAME": "localhost",
    })
    engine = app.extensions["engine"]
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    yield app
    Base.metadata.drop_all(engine)
    engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# ---------------------------------------------------------------- people, a course, login
# Users are made through grader.services.courses, exactly as the app makes them.

_CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def csrf_token(client, path: str = "/login") -> str:
    """The CSRF token of `client`'s session, read from the page at `path` (its form field,
    else the <meta name="csrf-token"> every page carries). Use it as the `csrf_token` form
    field or the `X-CSRFToken` header."""
    html = client.get(path).get_data(as_text=True)
    match = _CSRF_FIELD.search(html) or _CSRF_META.search(html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client, email: str, password: str = TEST_PASSWORD, next_url: str | None = None):
    """Sign `client` in through the real form (GET /login for the token, then POST) and
    return the POST response (302 to the user's home on success; not followed)."""
    data = {"email": email, "password": password, "csrf_token": csrf_token(client, "/login")}
    if next_url:
        data["next"] = next_url
    return client.post("/login", data=data)


def _make_user(app, email: str, name: str, instructor: bool = False):
    from grader.services import courses

    with app.app_context():
        return courses.create_user(email, name, TEST_PASSWORD, is_instructor=instructor)


@pytest.fixture
def instructor(app):
    """An instructor account: teacher@example.edu / TEST_PASSWORD."""
    return _make_user(app, "teacher@example.edu", "Tess Teacher", instructor=True)


@pytest.fixture
def student(app):
    """A student account: student1@example.edu / TEST_PASSWORD."""
    return _make_user(app, "student1@example.edu", "Sam Student")


@pytest.fixture
def other_student(app):
    """A second student in the same course: student2@example.edu / TEST_PASSWORD."""
    return _make_user(app, "student2@example.edu", "Olive Other")


@pytest.fixture
def course(app, instructor, student, other_student):
    """`instructor`'s course CNN101 with `student` and `other_student` enrolled."""
    from grader.services import courses

    with app.app_context():
        c = courses.create_course("CNN101", "Convolutional networks", instructor)
        courses.enroll(c, student, "student")
        courses.enroll(c, other_student, "student")
        return c
