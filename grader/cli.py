"""Flask commands for the administrator: `flask --app wsgi <command>`.

Errors a user can fix (a bad spec, an unknown course) print `error: <path>: <message>` on
stderr and exit with status 2; nothing is half-done.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any, NoReturn

import click
from flask import Flask, current_app

from problems.errors import SpecError

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- migrations


def alembic_config(url: str) -> Any:
    """The Alembic configuration of this repository, pointed at `url`."""
    from alembic.config import Config

    ini = ROOT / "alembic.ini"
    cfg = Config(str(ini)) if ini.exists() else Config()
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    # Passed as an attribute, not as sqlalchemy.url: ini interpolation would mangle a "%".
    cfg.attributes["url"] = url
    return cfg


def upgrade_database(url: str, revision: str = "head") -> None:
    """`alembic upgrade head` on `url` (creating the SQLite file's folder if needed)."""
    from alembic import command

    _ensure_sqlite_folder(url)
    command.upgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    """The revision the database at `url` is at, or None when it has none."""
    from alembic.runtime.migration import MigrationContext

    from grader.db import make_engine

    path = _sqlite_path(url)
    if path is not None and not path.exists():
        return None  # and do not create the file by looking
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def _sqlite_path(url: str) -> Path | None:
    if url.startswith("sqlite:///") and ":memory:" not in url:
        return Path(url[len("sqlite:///"):].split("?", 1)[0]).expanduser()
    return None


def _ensure_sqlite_folder(url: str) -> None:
    path = _sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


# ---------------------------------------------------------------- helpers


def _fail(message: str, path: str = "") -> NoReturn:
    click.echo(f"error: {path}: {message}" if path else f"error: {message}", err=True)
    sys.exit(2)


def _course(code_or_id: str) -> Any:
    from grader.services import courses

    try:
        course = courses.find_course(code_or_id)
    except SpecError as err:
        _fail(err.message, err.path)
    if course is None:
        _fail(f"no course with the code or id {code_or_id!r}", "course")
    return course


# ---------------------------------------------------------------- commands


def init_app(app: Flask) -> None:
    """Register the commands (and, when it exists, the instructor blueprint's own)."""

    @app.cli.command("db-upgrade")
    @click.option("--revision", default="head", show_default=True, help="Target revision.")
    def db_upgrade(revision: str) -> None:
        """Apply the database migrations (creates the schema on an empty database)."""
        url = current_app.config["DATABASE_URL"]
        upgrade_database(url, revision)
        click.echo(f"database at revision {current_revision(url)}")

    @app.cli.command("seed-demo")
    @click.option("--password", default=None,
                  help="Password of the demo accounts (default: $DEMO_PASSWORD, else one "
                       "random password per install, kept in instance/demo_password).")
    def seed_demo(password: str | None) -> None:
        """Create the demo course, its instructor, three students and a published set
        (idempotent: a second run changes nothing, and prints the same logins)."""
        from grader import seed

        result = seed.seed_demo(password)
        click.echo(seed.describe(result))

    @app.cli.command("create-user")
    @click.argument("email")
    @click.argument("name")
    @click.option("--instructor", is_flag=True, help="An instructor account.")
    @click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
                  envvar="NEW_USER_PASSWORD", help="Asked for when not given.")
    def create_user(email: str, name: str, instructor: bool, password: str) -> None:
        """Create a user who can sign in with EMAIL and the password."""
        from grader.services import courses

        try:
            user = courses.create_user(email, name, password, is_instructor=instructor)
        except SpecError as err:
            _fail(err.message, err.path)
        role = "instructor" if user.is_instructor else "student"
        click.echo(f"created {role} {user.email} (id {user.public_id})")

    @app.cli.command("set-password")
    @click.argument("email")
    @click.option("--generate", is_flag=True,
                  help="Set a random password and print it (instead of asking for one).")
    @click.option("--password", default=None, envvar="NEW_USER_PASSWORD",
                  help="The new password (asked for when neither this nor --generate is given).")
    @click.option("--no-change-required", is_flag=True,
                  help="Do not ask the user to choose their own password after signing in "
                  "with this one (for your own account).")
    def set_password(email: str, generate: bool, password: str | None,
                     no_change_required: bool) -> None:
        """Set (reset) the password of the user with EMAIL; their sessions are signed out.
        After signing in with it they choose their own, unless --no-change-required."""
        from grader.services import courses

        user = courses.user_by_email(email)
        if user is None:
            _fail(f"no user with the email {email!r}", "email")
        if generate and password is not None:
            _fail("give either --password or --generate, not both", "password")
        if generate:
            password = courses.generate_password()
        elif password is None:
            password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
        try:
            courses.set_password(user, password, must_change=not no_change_required)
        except SpecError as err:
            _fail(err.message, err.path)
        then = "" if no_change_required else "; they choose their own after signing in with it"
        click.echo(f"password of {user.email} set; their sessions are signed out{then}")
        if generate:
            click.echo(password)

    @app.cli.command("create-course")
    @click.argument("code")
    @click.argument("title")
    @click.option("--instructor", "instructor_email", required=True, help="The instructor's email.")
    def create_course(code: str, title: str, instructor_email: str) -> None:
        """Create a course taught by an existing instructor; prints the course id."""
        from grader.services import courses

        user = courses.user_by_email(instructor_email)
        if user is None:
            _fail(f"no user with the email {instructor_email!r}", "instructor")
        try:
            course = courses.create_course(code, title, user)
        except SpecError as err:
            _fail(err.message, err.path)
        click.echo(course.public_id)

    @app.cli.command("import-roster")
    @click.argument("course_ref", metavar="COURSE_CODE_OR_ID")
    @click.argument("csv_file", type=click.File("rb"))
    def import_roster(course_ref: str, csv_file: Any) -> None:
        """Enroll the students listed in a CSV file (header: email,name[,password]), saved
        as UTF-8 (with or without a byte-order mark) or UTF-16 with one.

        Good lines are imported even when others are refused; the refused lines are listed
        and the exit status is then 2. A file in another encoding is refused whole (exit
        status 2, naming its first undecodable line): nothing is imported."""
        from tqdm import tqdm

        from grader.services import courses

        course = _course(course_ref)
        try:
            # Bytes, decoded by the same helper as the web upload: never a guessed encoding.
            text = courses.decode_roster(csv_file.read(), csv_file.name)
        except SpecError as err:
            _fail(err.message, err.path)
        total = max(0, len([line for line in text.splitlines() if line.strip()]) - 1)
        with tqdm(total=total, unit="student", file=sys.stderr, disable=None,
                  desc=f"roster {course.code}") as bar:
            report = courses.import_roster(course, text, progress=bar.update)
        enrolled = f" ({len(report.already_enrolled)} already enrolled)" if report.already_enrolled else ""
        click.echo(f"{len(report.added)} added, {len(report.existing)} already known{enrolled}, "
                   f"{len(report.errors)} refused")
        for line, message in report.errors:
            click.echo(f"line {line}: {message}", err=True)
        if report.errors:
            sys.exit(2)

    @app.cli.command("build-set")
    @click.argument("course_ref", metavar="COURSE")
    @click.argument("spec_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--publish", is_flag=True, help="Publish the set right away.")
    def build_set(course_ref: str, spec_file: Path, publish: bool) -> None:
        """Build a problem set from a JSON or YAML spec; prints the new set's id."""
        from grader.services import problem_sets

        course = _course(course_ref)
        try:
            spec = problem_sets.parse_spec(spec_file.read_text(encoding="utf-8"), spec_file.name)
            problem_set = problem_sets.set_from_spec(course, spec)
            if publish:
                problem_sets.publish(problem_set)
        except SpecError as err:
            _fail(err.message, err.path)
        except UnicodeDecodeError:
            _fail("the file is not UTF-8 text", str(spec_file))
        click.echo(problem_set.public_id)

    _register_instructor_commands(app)
    importlib.import_module("grader.api.commands").register(app)  # create/revoke-api-key


def _register_instructor_commands(app: Flask) -> None:
    try:
        commands = importlib.import_module("grader.instructor.commands")
    except ModuleNotFoundError as err:
        # Only the absence of the module itself is expected; a missing import inside it is a bug.
        if err.name not in ("grader.instructor", "grader.instructor.commands"):
            raise
        return
    commands.register(app)
