"""Exactly-once under concurrent retries, against a live threaded server (SQLite, and
PostgreSQL when TEST_DATABASE_URL is set): many clients behind a barrier send the same
request with the same Idempotency-Key at once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import select
from test_api_helpers import (  # noqa: F401  (fixture)
    api_key_fixture,
    make_key,
    make_set,
    right_answers,
    student_problem,
    wrong_answers,
)
from werkzeug.serving import make_server

from grader import db
from grader.api.grading import variant
from grader.api.models import ApiGrade, ApiIdempotency, ApiProblem
from grader.models import Submission

CLIENTS = 32


@pytest.fixture
def live(app) -> Iterator[str]:
    """The app served by a threaded werkzeug server on 127.0.0.1 (a free port)."""
    app.config.update(SERVER_NAME=None, API_RATE_LIMIT="100000 per minute")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/api/v1"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def together(count: int, send) -> list[requests.Response]:
    """`send(session)` from `count` threads released at the same moment."""
    barrier = threading.Barrier(count)

    def one(_: int) -> requests.Response:
        with requests.Session() as session:
            barrier.wait(timeout=30)
            return send(session)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def check_one_fresh_and_identical_replays(responses: list[requests.Response]) -> None:
    assert [r.status_code for r in responses] == [201] * len(responses), [
        (r.status_code, r.text[:200]) for r in responses if r.status_code != 201]
    assert len({r.content for r in responses}) == 1
    flags = [r.headers.get("Idempotent-Replayed") for r in responses]
    assert flags.count(None) == 1 and flags.count("true") == len(responses) - 1


def test_concurrent_retries_of_a_grade_record_it_once(app, live, api_key):
    auth = {"Authorization": f"Bearer {api_key}"}
    made = requests.post(f"{live}/problems", json={"kind": "param_count", "difficulty": 2},
                         headers=auth, timeout=30)
    assert made.status_code == 201, made.text
    problem_id = made.json()["id"]
    with app.app_context():
        row = db.session().scalar(select(ApiProblem).where(ApiProblem.public_id == problem_id))
        answers = right_answers(variant(row.kind, row.difficulty, row.seed))
    body = json.dumps({"answers": answers})
    headers = {**auth, "Idempotency-Key": "same-key", "Content-Type": "application/json"}

    responses = together(CLIENTS, lambda s: s.post(f"{live}/problems/{problem_id}/grade",
                                                   data=body, headers=headers, timeout=60))
    check_one_fresh_and_identical_replays(responses)
    with app.app_context():
        rows = db.session().scalars(select(ApiGrade)).all()
    assert len(rows) == 1
    assert rows[0].response.encode() == responses[0].content
    assert responses[0].json()["fraction"] == 1.0


def test_concurrent_retries_of_a_submission_record_it_once(app, live, api_key, course, student):
    built = make_set(app, course)
    with app.app_context():
        answers = right_answers(student_problem(built, student))
    url = f"{live}/sets/{built['id']}/items/{built['items'][0][0]}/submissions"
    body = json.dumps({"student": student.email, "answers": answers})
    headers = {"Authorization": f"Bearer {api_key}", "Idempotency-Key": "submit-once",
               "Content-Type": "application/json"}

    responses = together(CLIENTS, lambda s: s.post(url, data=body, headers=headers, timeout=60))
    check_one_fresh_and_identical_replays(responses)
    with app.app_context():
        subs = db.session().scalars(select(Submission)).all()
        intents = db.session().scalars(select(ApiIdempotency)).all()
    assert [(s.attempt, s.source) for s in subs] == [(1, "api")]
    assert [(i.status, i.attempt, i.submission_id) for i in intents] == [("done", 1, subs[0].id)]
    assert responses[0].json()["submission_id"] == subs[0].public_id


def test_concurrent_submissions_under_different_keys_take_distinct_attempts(
        app, live, api_key, course, student):
    built = make_set(app, course, attempts_allowed=3)
    with app.app_context():
        answers = wrong_answers(student_problem(built, student))
    url = f"{live}/sets/{built['id']}/items/{built['items'][0][0]}/submissions"
    body = json.dumps({"student": student.email, "answers": answers})
    counter = iter(range(10_000))
    lock = threading.Lock()

    def send(session: requests.Session) -> requests.Response:
        with lock:
            n = next(counter)
        headers = {"Authorization": f"Bearer {api_key}", "Idempotency-Key": f"client-{n}",
                   "Content-Type": "application/json"}
        return session.post(url, data=body, headers=headers, timeout=60)

    responses = together(12, send)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 3 + [409] * 9, [(r.status_code, r.text[:200]) for r in responses]
    assert sorted(r.json()["attempt"] for r in responses if r.status_code == 201) == [1, 2, 3]
    refusals = [r.json()["error"] for r in responses if r.status_code == 409]
    assert {e.get("reason") for e in refusals} == {"no_attempts"}, refusals
    with app.app_context():
        subs = db.session().scalars(select(Submission).order_by(Submission.attempt)).all()
        intents = db.session().scalars(select(ApiIdempotency)).all()
    assert [s.attempt for s in subs] == [1, 2, 3]
    assert sorted((i.status, i.attempt) for i in intents) == [("done", 1), ("done", 2),
                                                              ("done", 3)]


def test_concurrent_clients_reusing_one_key_string_each_get_their_own(app, live, course):
    keys = [make_key(app, course, f"client {i}") for i in range(8)]
    auth = {"Authorization": f"Bearer {keys[0]}"}
    made = requests.post(f"{live}/problems", json={"kind": "output_shape", "difficulty": 1},
                         headers=auth, timeout=30).json()
    with app.app_context():
        row = db.session().scalar(select(ApiProblem).where(ApiProblem.public_id == made["id"]))
        answers = right_answers(variant(row.kind, row.difficulty, row.seed))
    body = json.dumps({"answers": answers})
    order = iter(keys)
    lock = threading.Lock()

    def send(session: requests.Session) -> requests.Response:
        with lock:
            key = next(order)
        return session.post(f"{live}/problems/{made['id']}/grade", data=body, timeout=60,
                            headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "k",
                                     "Content-Type": "application/json"})

    responses = together(len(keys), send)
    assert [r.status_code for r in responses] == [201] * len(keys)
    assert all("Idempotent-Replayed" not in r.headers for r in responses)
    assert len({r.json()["grade_id"] for r in responses}) == len(keys)
    with app.app_context():
        assert len(db.session().scalars(select(ApiGrade)).all()) == len(keys)
