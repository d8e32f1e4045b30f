"""Browser tests: the app served on 127.0.0.1 by werkzeug in a thread (SQLite in a temp
file), driven by Debian's Chromium through Playwright.

Skipped with a reason when Chromium (or Playwright) is missing, unless CI=true: in CI they
must run (.ci/run installs chromium), so there a missing browser is a failure.
Screenshots go to test-artifacts/screenshots/ (gitignored).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
# The password of the users browser tests create (test modules cannot import a conftest:
# every conftest.py is the module "conftest").
PASSWORD = "browser test password"


def _missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        return f"Chromium not installed at {CHROMIUM} (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed in this environment"
    return None


@pytest.fixture(scope="session")
def _browser_available() -> None:
    reason = _missing_browser()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests must run in CI: {reason}")
    pytest.skip(reason)


@dataclass
class LiveServer:
    """The app serving HTTP on a free loopback port."""

    url: str
    app: Any
    database: Path
    _users: dict[str, Any] = field(default_factory=dict)

    def context(self) -> Any:
        """An app context, to set up data through the services."""
        return self.app.app_context()


@contextmanager
def served(database: Path, **settings: Any) -> Iterator[tuple[Any, int]]:
    """The app (create_all on a fresh SQLite file at `database`, test settings overridden by
    `settings`) served by werkzeug in a thread on a free loopback port: (app, port)."""
    from werkzeug.serving import make_server

    from grader import create_app
    from grader.models import Base

    app = create_app({
        "TESTING": True,
        "DATABASE_URL": f"sqlite:///{database}",
        "SECRET_KEY": "browser-test-secret",
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST": 1024,
        "RATELIMIT_STORAGE_URI": "memory://",
        **settings,
    })
    Base.metadata.create_all(app.extensions["engine"])
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield app, server.server_port
    finally:
        server.shutdown()
        thread.join(timeout=10)
        app.extensions["engine"].dispose()


@pytest.fixture(scope="session")
def serve() -> Callable[..., Any]:
    """`served`, for test modules: `with serve(database, **settings) as (app, port)`."""
    return served


@pytest.fixture(scope="session")
def live_server(
    _browser_available: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The app served over HTTP on a free loopback port (see `served`)."""
    database = tmp_path_factory.mktemp("live") / "live.sqlite3"
    with served(database, LOGIN_RATE_LIMIT="1000 per minute",
                LOGIN_ACCOUNT_RATE_LIMIT="1000 per minute") as (app, port):
        yield LiveServer(f"http://127.0.0.1:{port}", app, database)


@pytest.fixture(scope="session")
def browser(_browser_available: None) -> Iterator[Any]:
    """Headless Debian Chromium (never a Playwright-downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser profile (cookies, storage) per test."""
    ctx = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="en-GB", timezone_id="UTC"
    )
    ctx.set_default_timeout(10_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: Any) -> Any:
    """A page in the test's browser profile."""
    return context.new_page()


@pytest.fixture
def screenshot() -> Callable[[Any, str], Path]:
    """`screenshot(page, "name")` saves a full-page PNG under test-artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page: Any, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def make_user(live_server: LiveServer) -> Callable[..., Any]:
    """`make_user(email, name, instructor=False)`: a user with the browser-test PASSWORD."""
    from grader.services import courses

    def make(email: str, name: str, instructor: bool = False) -> Any:
        with live_server.context():
            return courses.create_user(email, name, PASSWORD, is_instructor=instructor)

    return make


@pytest.fixture
def browser_login(live_server: LiveServer) -> Callable[[Any, str], None]:
    """`browser_login(page, email)`: sign in through the real login form."""

    def login(page: Any, email: str, password: str = PASSWORD) -> None:
        page.goto(f"{live_server.url}/login")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_load_state("load")
        assert "/login" not in page.url, f"login as {email} failed"

    return login


@pytest.fixture
def build_course(live_server: LiveServer) -> Callable[..., dict[str, Any]]:
    """`build_course(instructor, students, items, publish=True, **settings)`: a course with
    `students` enrolled and one problem set of `items` ([{kind, difficulty, points}]);
    returns {"course", "set", "items"} (public ids in "set_id", "item_ids")."""
    import uuid

    from grader.services import courses, problem_sets

    def build(
        instructor: Any,
        students: list[Any],
        items: list[dict[str, Any]],
        *,
        title: str = "Week 1: shapes and pooling",
        publish: bool = True,
        **settings: Any,
    ) -> dict[str, Any]:
        with live_server.context():
            course = courses.create_course(
                f"CNN{uuid.uuid4().hex[:4].upper()}", "Convolutional networks", instructor
            )
            for user in students:
                courses.enroll(course, user, "student")
            problem_set = problem_sets.create_set(course, title, items, **settings)
            if publish:
                problem_set = problem_sets.publish(problem_set)
            return {
                "course": course,
                "set": problem_set,
                "set_id": problem_set.public_id,
                "item_ids": [i.public_id for i in problem_set.items],
                "items": list(problem_set.items),
            }

    return build
