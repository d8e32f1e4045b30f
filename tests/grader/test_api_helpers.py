"""Fixtures and helpers shared by the API tests (test_api*.py): a course API key, a
published set, JSON requests with a bearer key, and response checks against the
documented models. Holds no tests itself."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

from grader import db
from grader.services import api_keys, problem_sets
from grader.variants import variant
from problems import kinds
from problems.kinds.base import Problem


def make_key(app, course, name: str = "LMS") -> str:
    """A new API key of `course`: the full token."""
    with app.app_context():
        return api_keys.create_key(course, name).token


# Fixtures are named `*_fixture` here and registered under their short name, so a test
# module can import them without its parameters shadowing the import.


@pytest.fixture(name="api_key")
def api_key_fixture(app, course) -> str:
    """An API key of `course` (CNN101)."""
    return make_key(app, course)


@pytest.fixture(name="other_course")
def other_course_fixture(app, instructor):
    """A second course of the same instructor, with no students."""
    from grader.services import courses

    with app.app_context():
        return courses.create_course("CNN202", "Other course", instructor)


@pytest.fixture(name="other_key")
def other_key_fixture(app, other_course) -> str:
    """An API key of `other_course`."""
    return make_key(app, other_course, "Other LMS")


def headers(key: str | None, idempotency_key: str | None = None, **extra: str) -> dict[str, str]:
    out = dict(extra)
    if key is not None:
        out["Authorization"] = f"Bearer {key}"
    if idempotency_key is not None:
        out["Idempotency-Key"] = idempotency_key
    return out


def post(client, path: str, body: Any, key: str | None = None,
         idempotency_key: str | None = None, **extra: str):
    """POST `body` as JSON to /api/v1`path`."""
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(f"/api/v1{path}", data=data, content_type="application/json",
                       headers=headers(key, idempotency_key, **extra))


def get(client, path: str, key: str | None = None, **extra: str):
    return client.get(f"/api/v1{path}", headers=headers(key, **extra))


def error_of(response) -> dict[str, Any]:
    """The `error` object of a refusal (checking the documented error shape)."""
    body = response.get_json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["path"], str) and body["error"]["message"], body
    return body["error"]


def conforms(model: type[BaseModel], body: Any) -> Any:
    """Assert `body` is what `model` documents (no extra fields anywhere)."""
    model.model_validate(body)
    return body


def make_set(app, course, items=None, *, publish: bool = True, **settings) -> dict[str, Any]:
    """A problem set of `course` (published unless told): its ids and secret."""
    items = items or [{"kind": "output_shape", "difficulty": 1, "points": 10}]
    with app.app_context():
        ps = problem_sets.create_set(course, settings.pop("title", "Week 1"), items, **settings)
        if publish:
            ps = problem_sets.publish(ps)
        return {"id": ps.public_id, "secret": ps.secret,
                "items": [(i.public_id, i.kind, i.difficulty) for i in ps.items]}


def student_problem(built: dict[str, Any], user, index: int = 0) -> Problem:
    item_id, kind, difficulty = built["items"][index]
    return variant(built["secret"], user.public_id, item_id, kind, difficulty)


def right_answers(problem: Problem) -> dict[str, str]:
    return dict(kinds.self_test(problem).correct)


def wrong_answers(problem: Problem) -> dict[str, str]:
    """Readable answers, every one wrong (the kind's own wrong self-test answers)."""
    wrong = kinds.self_test(problem).wrong
    return {pid: wrong[pid][pid] for pid in wrong}


def unreadable_answers(problem: Problem) -> dict[str, str]:
    """The right answers, except the first part's, which cannot be read."""
    first = problem.parts[0].id
    return dict(kinds.self_test(problem).unparseable[first])


def count(app, model) -> int:
    from sqlalchemy import func, select

    with app.app_context():
        return db.session().scalar(select(func.count()).select_from(model))
