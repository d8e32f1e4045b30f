"""Problem sets: validation with field paths, specs, editing rules, publishing, lookups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from werkzeug.exceptions import NotFound

from grader import db
from grader.models import Item, ProblemSet, Submission
from grader.services import courses, problem_sets
from problems import kinds
from problems.errors import SpecError

KIND = next(iter(kinds.KINDS))


@pytest.fixture
def ctx(app):
    with app.test_request_context():
        yield app


def _items(n: int = 2) -> list[dict]:
    return [{"kind": KIND, "difficulty": 1 + i % 3, "points": 5 + i} for i in range(n)]


def _spec(**changes) -> dict:
    spec = {"title": "Week 3", "attempts": 2, "opens": "2026-12-01T09:00:00+01:00",
            "due": "2026-12-08T17:00:00Z", "solutions": "after_due", "follow_through": False,
            "items": _items(3)}
    spec.update(changes)
    return {k: v for k, v in spec.items() if v is not ...}


def _submit(problem_set: ProblemSet, user) -> None:
    item = problem_set.items[0]
    with db.transaction() as s:
        s.add(Submission(item_id=item.id, user_id=user.id, attempt=1, kind=item.kind,
                         difficulty=item.difficulty, seed=1, answers={}))


# ---------------------------------------------------------------- create


def test_create_set_stores_items_in_order_unpublished(ctx, course):
    ps = problem_sets.create_set(course, " Shapes ", _items(3), attempts_allowed=4)
    assert ps.title == "Shapes" and ps.attempts_allowed == 4 and not ps.published
    assert [(i.position, i.difficulty, i.points) for i in ps.items] == [(0, 1, 5.0), (1, 2, 6.0), (2, 3, 7.0)]
    assert len({i.public_id for i in ps.items}) == 3
    assert ps.secret and len(ps.secret) == 64


def test_a_title_names_one_set_of_a_course_ignoring_case_and_spaces(ctx, course, instructor):
    first = problem_sets.create_set(course, "Pooling and shapes", _items(1))
    for title in ("Pooling and shapes", "  POOLING AND SHAPES "):
        with pytest.raises(SpecError) as err:
            problem_sets.create_set(course, title, _items(1))
        assert err.value.path == "title"
        assert f"the title “{title.strip()}” is already used by another problem set" in err.value.message
    with pytest.raises(SpecError) as err:
        problem_sets.set_from_spec(course, _spec(title="pooling and shapes"))
    assert err.value.path == "title"
    assert [ps.title for ps in problem_sets.sets_for_course(course)] == ["Pooling and shapes"]
    # Another course may use it; a set keeps its own title and may change its case.
    other = courses.create_course("OTHER", "Other", instructor)
    problem_sets.create_set(other, "Pooling and shapes", _items(1))
    assert problem_sets.update_set(first, title="Pooling and shapes", attempts_allowed=5).attempts_allowed == 5
    assert problem_sets.update_set(first, title="Pooling and Shapes").title == "Pooling and Shapes"


def test_renaming_a_set_to_another_sets_title_is_refused(ctx, course):
    problem_sets.create_set(course, "Week 1", _items(1))
    second = problem_sets.create_set(course, "Week 2", _items(1))
    with pytest.raises(SpecError) as err:
        problem_sets.update_set(second, title=" week 1")
    assert err.value.path == "title" and "already used" in err.value.message
    db.session().expire_all()
    assert db.session().get(ProblemSet, second.id).title == "Week 2"


def test_set_from_spec_reads_every_field(ctx, course):
    ps = problem_sets.set_from_spec(course, _spec())
    assert ps.attempts_allowed == 2 and ps.solutions == "after_due" and ps.follow_through is False
    assert problem_sets.utc(ps.opens_at) == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert problem_sets.utc(ps.due_at) == datetime(2026, 12, 8, 17, 0, tzinfo=UTC)
    assert len(ps.items) == 3


def test_spec_defaults(ctx, course):
    ps = problem_sets.set_from_spec(course, {"title": "T", "items": [{"kind": KIND}]})
    assert (ps.attempts_allowed, ps.solutions, ps.follow_through) == (3, "after_attempts", True)
    assert (ps.items[0].difficulty, ps.items[0].points) == (1, 10.0)
    assert ps.opens_at is None and ps.due_at is None


def test_naive_dates_mean_utc(ctx, course):
    ps = problem_sets.set_from_spec(course, _spec(opens="2026-12-01T09:00", due="2026-12-02"))
    assert problem_sets.utc(ps.opens_at) == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert problem_sets.utc(ps.due_at) == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("changes, path, fragment", [
    ({"title": ""}, "title", "required"),
    ({"title": ...}, "title", "required"),
    ({"attempts": 0}, "attempts", "1 to"),
    ({"attempts": "3"}, "attempts", "whole number"),
    ({"attempts": True}, "attempts", "whole number"),
    ({"opens": "next monday"}, "opens", "ISO 8601"),
    ({"due": 17}, "due", "ISO 8601"),
    ({"due": "2026-11-30T00:00:00Z"}, "due", "after the opening"),
    ({"solutions": "sometimes"}, "solutions", "after_attempts"),
    ({"follow_through": "yes"}, "follow_through", "true or false"),
    ({"items": ...}, "items", "required"),
    ({"items": []}, "items", "at least one"),
    ({"items": "output_shape"}, "items", "list"),
    ({"items": [{"kind": KIND}, {"kind": "telepathy"}]}, "items[1].kind", "unknown problem kind"),
    ({"items": [{"kind": KIND, "difficulty": 4}]}, "items[0].difficulty", "1, 2 or 3"),
    ({"items": [{"kind": KIND, "difficulty": 1.0}]}, "items[0].difficulty", "1, 2 or 3"),
    ({"items": [{"kind": KIND, "points": 0}]}, "items[0].points", "from 0.01 to 1000000"),
    ({"items": [{"kind": KIND, "points": -2}]}, "items[0].points", "from 0.01 to 1000000"),
    ({"items": [{"kind": KIND, "points": float("nan")}]}, "items[0].points", "from 0.01"),
    ({"items": [{"kind": KIND, "points": 0.001}]}, "items[0].points", "at most two decimals"),
    ({"items": [{"kind": KIND, "points": 2.505}]}, "items[0].points", "at most two decimals"),
    ({"items": [{"difficulty": 1}]}, "items[0].kind", "required"),
    ({"items": [{"kind": KIND, "dificulty": 2}]}, "items[0].dificulty", "unknown field"),
    ({"items": [7]}, "items[0]", "object"),
    ({"dua": "2026-12-09"}, "dua", "unknown field"),
])
def test_bad_spec_is_refused_with_its_field_path(ctx, course, changes, path, fragment):
    with pytest.raises(SpecError) as err:
        problem_sets.set_from_spec(course, _spec(**changes))
    assert err.value.path == path
    assert fragment in err.value.message
    assert db.session().scalar(select(ProblemSet.id)) is None


def test_create_set_uses_keyword_names_in_errors(ctx, course):
    with pytest.raises(SpecError) as err:
        problem_sets.create_set(course, "T", _items(), attempts_allowed=0)
    assert err.value.path == "attempts_allowed"


# ---------------------------------------------------------------- spec files


def test_parse_spec_json_and_yaml(ctx, course):
    yaml_text = f"title: From YAML\ndue: 2026-12-24\nitems:\n  - {{kind: {KIND}, difficulty: 2, points: 4}}\n"
    ps = problem_sets.set_from_spec(course, problem_sets.parse_spec(yaml_text, "week.yaml"))
    assert problem_sets.utc(ps.due_at) == datetime(2026, 12, 24, tzinfo=UTC)
    assert ps.items[0].difficulty == 2
    assert problem_sets.parse_spec('{"title": "J", "items": []}', "w.json")["title"] == "J"


@pytest.mark.parametrize("text, name, fragment", [
    ('{"title": "x",', "a.json", "not valid JSON: line 1"),
    ("title: [unclosed", "a.yml", "not valid YAML"),
    ("[1, 2]", "a.json", "top level"),
    ("just text", "a.yaml", "top level"),
])
def test_parse_spec_errors_say_where(text, name, fragment):
    with pytest.raises(SpecError, match=r".") as err:
        problem_sets.parse_spec(text, name)
    assert fragment in str(err.value)


# ---------------------------------------------------------------- edit


def test_update_set_changes_only_the_given_fields(ctx, course):
    ps = problem_sets.set_from_spec(course, _spec())
    due = datetime(2026, 12, 20, 12, 0, tzinfo=UTC)
    ps = problem_sets.update_set(ps, due_at=due, attempts_allowed=5)
    assert ps.attempts_allowed == 5 and problem_sets.utc(ps.due_at) == due
    assert ps.title == "Week 3" and ps.solutions == "after_due"
    ps = problem_sets.update_set(ps, opens_at=None)
    assert ps.opens_at is None
    with pytest.raises(SpecError) as err:
        problem_sets.update_set(ps, opens_at="2026-12-21T00:00:00Z")
    assert err.value.path == "due_at"


def test_update_set_replaces_items_until_someone_submits(ctx, course, student):
    ps = problem_sets.create_set(course, "T", _items(3))
    ps = problem_sets.update_set(ps, items=_items(1))
    assert len(ps.items) == 1
    _submit(ps, student)
    with pytest.raises(SpecError) as err:
        problem_sets.update_set(ps, items=_items(2))
    assert err.value.path == "items"
    assert problem_sets.update_set(ps, title="Renamed").title == "Renamed"


def test_add_update_remove_items(ctx, course, student):
    ps = problem_sets.create_set(course, "T", _items(3))
    added = problem_sets.add_item(ps, KIND, 3, 2.5)
    assert added.position == 3
    middle = ps.items[1]
    problem_sets.remove_item(middle)
    positions = db.session().execute(
        select(Item.position, Item.difficulty).where(Item.problem_set_id == ps.id).order_by(Item.position)).all()
    assert [p for p, _ in positions] == [0, 1, 2]
    first = db.session().scalar(select(Item).where(Item.problem_set_id == ps.id, Item.position == 0))
    assert problem_sets.update_item(first, points=12).points == 12.0
    _submit(ps, student)
    with pytest.raises(SpecError):
        problem_sets.update_item(first, difficulty=3)
    with pytest.raises(SpecError):
        problem_sets.remove_item(first)
    assert problem_sets.update_item(first, points=8).points == 8.0
    with pytest.raises(SpecError) as err:
        problem_sets.add_item(ps, "telepathy")
    assert err.value.path == "item.kind"


def test_publish_and_unpublish(ctx, course):
    ps = problem_sets.create_set(course, "T", _items(1))
    ps = problem_sets.publish(ps)
    first = ps.published_at
    assert ps.published and problem_sets.publish(ps).published_at == first
    assert not problem_sets.unpublish(ps).published


def test_publishing_an_empty_set_is_refused(ctx, course):
    ps = problem_sets.create_set(course, "T", _items(1))
    problem_sets.remove_item(ps.items[0])
    with pytest.raises(SpecError) as err:
        problem_sets.publish(ps)
    assert err.value.path == "items"


# ---------------------------------------------------------------- lookups


def test_students_see_only_published_sets_of_their_courses(ctx, course, student, instructor):
    soon = problem_sets.create_set(course, "Soon", _items(1), due_at=datetime.now(UTC) + timedelta(days=1))
    later = problem_sets.create_set(course, "Later", _items(1), due_at=datetime.now(UTC) + timedelta(days=9))
    open_ended = problem_sets.create_set(course, "Whenever", _items(1))
    hidden = problem_sets.create_set(course, "Draft", _items(1))
    for ps in (open_ended, later, soon):
        problem_sets.publish(ps)
    other_course = courses.create_course("OTHER", "Other", instructor)
    problem_sets.publish(problem_sets.create_set(other_course, "Elsewhere", _items(1)))

    assert [ps.title for ps in problem_sets.sets_for_student(student)] == ["Soon", "Later", "Whenever"]
    assert problem_sets.set_for(student, soon.public_id).id == soon.id
    with pytest.raises(NotFound):
        problem_sets.set_for(student, hidden.public_id)
    assert problem_sets.set_for(instructor, hidden.public_id, role="instructor").id == hidden.id
    with pytest.raises(NotFound):
        problem_sets.set_for(instructor, soon.public_id)  # not a student of the course
    assert [ps.title for ps in problem_sets.sets_for_course(course)] == ["Soon", "Later", "Whenever", "Draft"]


def test_set_for_is_404_for_outsiders(ctx, course):
    outsider = courses.create_user("out@example.edu", "Out")
    ps = problem_sets.publish(problem_sets.create_set(course, "T", _items(1)))
    with pytest.raises(NotFound):
        problem_sets.set_for(outsider, ps.public_id)


def test_item_for_only_finds_items_of_that_set(ctx, course):
    a = problem_sets.create_set(course, "A", _items(1))
    b = problem_sets.create_set(course, "B", _items(1))
    assert problem_sets.item_for(a, a.items[0].public_id).id == a.items[0].id
    with pytest.raises(NotFound):
        problem_sets.item_for(a, b.items[0].public_id)
    assert problem_sets.total_points(a) == 5.0


def test_utc_makes_every_datetime_aware():
    naive = datetime(2026, 1, 1, 12, 0)
    assert problem_sets.utc(naive) == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert problem_sets.utc(None) is None
