"""The flask commands: users, courses, rosters, sets from specs, the demo, migrations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from grader import cli, create_app, db, seed
from grader.models import Course, Enrollment, Item, ProblemSet, User
from grader.passwords import verify_password
from grader.services import courses
from problems import kinds

KIND = next(iter(kinds.KINDS))


def _count(app, model) -> int:
    with app.app_context():
        return db.session().scalar(select(func.count()).select_from(model))


@pytest.fixture
def teacher_course(app):
    with app.app_context():
        teacher = courses.create_user("prof@example.edu", "Prof", "long password", is_instructor=True)
        return courses.create_course("CNN101", "Convolutional networks", teacher)


# ---------------------------------------------------------------- users and courses


def test_create_user_with_password_option(app, runner):
    result = runner.invoke(args=["create-user", "Prof@Example.edu", "Prof X", "--instructor",
                                 "--password", "long password"])
    assert result.exit_code == 0, result.output
    assert "created instructor prof@example.edu" in result.output
    with app.app_context():
        user = courses.user_by_email("prof@example.edu")
        assert user.is_instructor and verify_password(user.password_hash, "long password")


def test_create_user_asks_for_the_password_twice(app, runner):
    result = runner.invoke(args=["create-user", "s@example.edu", "S"], input="long password\nlong password\n")
    assert result.exit_code == 0, result.output
    assert "long password" not in result.stdout
    with app.app_context():
        assert not courses.user_by_email("s@example.edu").is_instructor


def test_create_user_refusal_exits_2_naming_the_field(runner):
    runner.invoke(args=["create-user", "s@example.edu", "S", "--password", "long password"])
    result = runner.invoke(args=["create-user", "S@example.edu", "S", "--password", "long password"])
    assert result.exit_code == 2
    assert "error: email: a user with the email s@example.edu already exists" in result.stderr
    result = runner.invoke(args=["create-user", "t@example.edu", "T", "--password", "short"])
    assert result.exit_code == 2 and "error: password:" in result.stderr


def test_create_course_prints_its_id(app, runner):
    runner.invoke(args=["create-user", "p@example.edu", "P", "--instructor", "--password", "long password"])
    result = runner.invoke(args=["create-course", "ML1", "Machine learning", "--instructor", "p@example.edu"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        course = db.session().scalar(select(Course))
        assert result.stdout.strip() == course.public_id
        assert course.code == "ML1"


@pytest.mark.parametrize("email, message", [("nobody@example.edu", "error: instructor: no user"),
                                            ("s@example.edu", "error: instructor: s@example.edu is not an instructor")])
def test_create_course_refusals(runner, email, message):
    runner.invoke(args=["create-user", "s@example.edu", "S", "--password", "long password"])
    result = runner.invoke(args=["create-course", "ML1", "ML", "--instructor", email])
    assert result.exit_code == 2
    assert message in result.stderr


# ---------------------------------------------------------------- rosters


def test_import_roster_by_code_reports_counts(app, runner, teacher_course, tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("email,name\na@example.edu,A\nb@example.edu,B\n", encoding="utf-8")
    result = runner.invoke(args=["import-roster", "CNN101", str(path)])
    assert result.exit_code == 0, result.output
    assert "2 added, 0 already known, 0 refused" in result.stdout
    assert _count(app, Enrollment) == 3


def test_commands_find_a_course_by_its_code_in_any_case(app, runner, teacher_course, tmp_path):
    """Codes are unique ignoring case (create-course says so), so any case names the course."""
    path = tmp_path / "roster.csv"
    path.write_text("email,name\na@example.edu,A\n", encoding="utf-8")
    result = runner.invoke(args=["import-roster", " cnn101 ", str(path)])
    assert result.exit_code == 0, result.output
    assert "1 added" in result.stdout
    result = runner.invoke(args=["create-api-key", "Cnn101", "LMS"])
    assert result.exit_code == 0, result.output


def test_import_roster_by_id_lists_refused_lines_and_exits_2(app, runner, teacher_course, tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("email,name\na@example.edu,A\nbad,B\n", encoding="utf-8")
    result = runner.invoke(args=["import-roster", teacher_course.public_id, str(path)])
    assert result.exit_code == 2
    assert "1 added, 0 already known, 1 refused" in result.stdout
    assert "line 3: email 'bad' is not an email address" in result.stderr
    assert _count(app, Enrollment) == 2


def test_import_roster_refuses_a_two_line_name_without_a_traceback(app, runner, teacher_course, tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text('email,name,password\na@example.edu,A,\n'
                    'mia@uni.edu,"Mia ""Quote"" O\'Neil\nNewline",password1\n'
                    'b@example.edu,B,\n', encoding="utf-8")
    result = runner.invoke(args=["import-roster", "CNN101", str(path)])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)  # no traceback
    assert "2 added, 0 already known, 1 refused" in result.stdout
    assert "line 3: the name runs over lines 3-4" in result.stderr
    assert _count(app, Enrollment) == 3


def test_set_password_generates_prompts_and_refuses_bad_input(app, runner, teacher_course):
    with app.app_context():
        courses.create_user("s@example.edu", "S")  # imported without a password
    result = runner.invoke(args=["set-password", "S@Example.edu", "--generate"])
    assert result.exit_code == 0, result.output
    generated = result.stdout.strip().splitlines()[-1]
    assert "password of s@example.edu set" in result.stdout and len(generated) == 19
    with app.app_context():
        assert verify_password(courses.user_by_email("s@example.edu").password_hash, generated)

    result = runner.invoke(args=["set-password", "s@example.edu"],
                           input="typed password\ntyped password\n")
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert verify_password(courses.user_by_email("s@example.edu").password_hash, "typed password")
        assert courses.user_by_email("s@example.edu").must_change_password
    assert "they choose their own after signing in with it" in result.stdout

    result = runner.invoke(args=["set-password", "s@example.edu", "--password", "my own pass",
                                 "--no-change-required"])
    assert result.exit_code == 0, result.output
    assert "choose their own" not in result.stdout
    with app.app_context():
        assert not courses.user_by_email("s@example.edu").must_change_password

    result = runner.invoke(args=["set-password", "s@example.edu", "--password", "short"])
    assert result.exit_code == 2 and "error: password: must be at least 8" in result.stderr
    result = runner.invoke(args=["set-password", "nobody@example.edu", "--generate"])
    assert result.exit_code == 2 and "error: email: no user with the email" in result.stderr


def test_import_roster_counts_students_already_enrolled(app, runner, teacher_course, tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("email,name\na@example.edu,A\n", encoding="utf-8")
    assert runner.invoke(args=["import-roster", "CNN101", str(path)]).exit_code == 0
    result = runner.invoke(args=["import-roster", "CNN101", str(path)])
    assert result.exit_code == 0 and "0 added, 1 already known (1 already enrolled), 0 refused" in result.stdout


def test_import_roster_unknown_course(runner, tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("email,name\n", encoding="utf-8")
    result = runner.invoke(args=["import-roster", "NOPE", str(path)])
    assert result.exit_code == 2
    assert "error: course: no course with the code or id 'NOPE'" in result.stderr


def test_import_roster_refuses_a_file_that_is_not_utf8_naming_its_line(app, runner, teacher_course,
                                                                       tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes(b"email,name\na@example.edu,A\njose@example.edu,Jos\xe9\n")  # Latin-1
    result = runner.invoke(args=["import-roster", "CNN101", str(path)])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)  # no traceback
    assert result.stderr.strip() == (f"error: {path} line 3: not UTF-8 text; "
                                     "save the file as 'CSV UTF-8' and try again")
    assert _count(app, Enrollment) == 1  # nothing imported, not even the good line 2


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_import_roster_reads_excels_utf8_and_utf16_files(app, runner, teacher_course, tmp_path,
                                                         encoding):
    path = tmp_path / "r.csv"
    path.write_bytes("email\tname\r\njose@example.edu\tJosé Ñúñez\r\n".encode(encoding))
    result = runner.invoke(args=["import-roster", "CNN101", str(path)])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert courses.user_by_email("jose@example.edu").name == "José Ñúñez"


# ---------------------------------------------------------------- sets from specs


def test_build_set_from_json_prints_the_set_id(app, runner, teacher_course, tmp_path):
    path = tmp_path / "week1.json"
    path.write_text(json.dumps({"title": "Week 1", "due": "2026-12-01T17:00:00Z",
                                "items": [{"kind": KIND, "difficulty": 2, "points": 5}]}))
    result = runner.invoke(args=["build-set", "CNN101", str(path)])
    assert result.exit_code == 0, result.output
    with app.app_context():
        ps = db.session().scalar(select(ProblemSet))
        assert result.stdout.strip() == ps.public_id
        assert not ps.published and len(ps.items) == 1


def test_build_set_from_yaml_and_publish(app, runner, teacher_course, tmp_path):
    path = tmp_path / "week2.yaml"
    path.write_text(f"title: Week 2\nattempts: 1\nitems:\n  - kind: {KIND}\n    difficulty: 1\n    points: 3\n")
    result = runner.invoke(args=["build-set", "CNN101", str(path), "--publish"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        ps = db.session().scalar(select(ProblemSet))
        assert ps.published and ps.attempts_allowed == 1


@pytest.mark.parametrize("text, message", [
    (json.dumps({"title": "W", "items": [{"kind": KIND, "difficulty": 7}]}),
     "error: items[0].difficulty: expected 1, 2 or 3, got 7"),
    ('{"title": ', "error: not valid JSON: line 1"),
    (json.dumps({"title": "W\u0000eek", "items": [{"kind": KIND}]}),  # a traceback on PostgreSQL
     "error: title: must be one line of text, without control characters"),
])
def test_build_set_errors_exit_2_with_the_path(app, runner, teacher_course, tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    result = runner.invoke(args=["build-set", "CNN101", str(path)])
    assert result.exit_code == 2
    assert message in result.stderr
    assert _count(app, ProblemSet) == 0


# ---------------------------------------------------------------- exports


def test_export_grades_refuses_an_output_it_cannot_write_without_a_traceback(app, runner,
                                                                             teacher_course, tmp_path):
    spec = tmp_path / "set.json"
    spec.write_text(json.dumps({"title": "W", "items": [{"kind": KIND, "difficulty": 1}]}))
    set_id = runner.invoke(args=["build-set", "CNN101", str(spec)]).stdout.strip()
    for output, message in [(tmp_path / "missing" / "g.csv", "does not exist"),
                            (tmp_path, "is a folder")]:
        result = runner.invoke(args=["export-grades", set_id, "--output", str(output)])
        assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
        assert result.stderr.startswith("error: --output: ") and message in result.stderr
    assert not (tmp_path / "missing").exists()

    out = tmp_path / "g.csv"
    out.write_text("an older export")
    result = runner.invoke(args=["export-grades", set_id, "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8").startswith("Name,Email")
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")]  # no temp left


# ---------------------------------------------------------------- demo


def test_seed_demo_is_idempotent(app, runner):
    first = runner.invoke(args=["seed-demo", "--password", "demo password"])
    assert first.exit_code == 0, first.output
    assert "demo-teacher@example.edu" in first.stdout and "demo password" in first.stdout
    counts = [_count(app, m) for m in (User, Course, Enrollment, ProblemSet, Item)]
    assert counts == [4, 1, 4, 1, len(kinds.KINDS)]

    second = runner.invoke(args=["seed-demo", "--password", "demo password"])
    assert second.exit_code == 0, second.output
    assert "already in place" in second.stdout
    assert [_count(app, m) for m in (User, Course, Enrollment, ProblemSet, Item)] == counts


def test_seed_demo_set_is_published_due_in_two_weeks_with_every_kind(app, tmp_path):
    with app.app_context():
        result = seed.seed_demo("demo password", instance=tmp_path)
        ps = db.session().scalar(select(ProblemSet).where(ProblemSet.public_id == result.set_id))
        assert ps.published and ps.title == "Pooling and shapes"
        assert [i.kind for i in ps.items] == list(kinds.KINDS)
        assert {i.difficulty for i in ps.items} <= {1, 2}
        from grader.services.problem_sets import utc

        days = (utc(ps.due_at) - utc(ps.published_at)).days
        assert 13 <= days <= 14
        assert all(ok for _, _, ok in result.accounts)


def test_demo_password_is_random_per_install_and_kept(tmp_path, monkeypatch):
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    first, source = seed.demo_password(instance=tmp_path)
    assert source == "this install" and len(first) >= 12
    assert seed.demo_password(instance=tmp_path)[0] == first
    assert seed.demo_password(instance=tmp_path / "other")[0] != first
    monkeypatch.setenv("DEMO_PASSWORD", "from the environment")
    assert seed.demo_password(instance=tmp_path) == ("from the environment", "DEMO_PASSWORD")


def test_seed_reports_a_changed_password_honestly(app, tmp_path):
    with app.app_context():
        seed.seed_demo("demo password", instance=tmp_path)
        courses.set_password(courses.user_by_email("demo-student1@example.edu"), "changed by the student")
        result = seed.seed_demo("demo password", instance=tmp_path)
    text = seed.describe(result)
    assert "demo-student1@example.edu" in text and "password changed since" in text


# ---------------------------------------------------------------- migrations and wiring


def test_db_upgrade_command_on_an_empty_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh' / 'db.sqlite3'}"
    app = create_app({"TESTING": True, "DATABASE_URL": url, "SECRET_KEY": "x"})
    try:
        result = app.test_cli_runner().invoke(args=["db-upgrade"])
        assert result.exit_code == 0, result.output
        assert "database at revision" in result.stdout
        assert cli.current_revision(url) is not None
        again = app.test_cli_runner().invoke(args=["db-upgrade"])
        assert again.exit_code == 0
    finally:
        app.extensions["engine"].dispose()


def test_missing_instructor_commands_module_is_skipped(monkeypatch):
    def missing(name):
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    monkeypatch.setattr(cli.importlib, "import_module", missing)
    cli._register_instructor_commands(object())  # no error


def test_broken_import_inside_instructor_commands_is_not_hidden(monkeypatch):
    def broken(name):
        raise ModuleNotFoundError("No module named 'matplotlibx'", name="matplotlibx")

    monkeypatch.setattr(cli.importlib, "import_module", broken)
    with pytest.raises(ModuleNotFoundError):
        cli._register_instructor_commands(object())


def test_commands_are_listed(runner):
    result = runner.invoke(args=["--help"])
    for name in ("db-upgrade", "seed-demo", "create-user", "create-course", "import-roster", "build-set"):
        assert name in result.output


def test_wsgi_module_builds_the_app(monkeypatch, tmp_path: Path):
    import importlib
    import sys

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'w.sqlite3'}")
    monkeypatch.setenv("SECRET_KEY", "x")
    sys.modules.pop("wsgi", None)
    wsgi = importlib.import_module("wsgi")
    try:
        assert wsgi.app.name == "grader"
        assert wsgi.app.config["DATABASE_URL"].endswith("w.sqlite3")
    finally:
        wsgi.app.extensions["engine"].dispose()
        sys.modules.pop("wsgi", None)


def test_public_ids_never_start_with_a_dash():
    # A course id is typed as an argument (`flask import-roster <id> roster.csv`): one
    # starting with "-" would read as an option. token_urlsafe starts one in 64 that way.
    from grader.models import new_public_id

    assert not any(new_public_id().startswith("-") for _ in range(5000))
