"""The JSON API over HTTP (SQLite, and PostgreSQL when TEST_DATABASE_URL is set): problems
and grades, solve and pool, auth, errors, rate limits, the course routes and submissions."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from conftest import login
from sqlalchemy import select
from test_api_helpers import (  # noqa: F401  (the *_fixture names are fixtures)
    api_key_fixture,
    conforms,
    count,
    error_of,
    get,
    make_key,
    make_set,
    other_course_fixture,
    other_key_fixture,
    post,
    right_answers,
    student_problem,
    unreadable_answers,
    wrong_answers,
)

from grader import db
from grader.api import schemas as m
from grader.api.grading import variant
from grader.api.models import ApiGrade, ApiIdempotency, ApiKey, ApiProblem
from grader.models import AuditLog, Submission
from grader.services import api_keys, attempts
from problems import kinds

SEED_MODEL = {  # the spec's seed model: three 3x3 convolutions on 28x28x1
    "input": [28, 28, 1],
    "layers": [{"type": "conv2d", "filters": 32, "kernel": 3},
               {"type": "conv2d", "filters": 64, "kernel": 3},
               {"type": "conv2d", "filters": 64, "kernel": 3}],
}


def make_problem(client, key, **body):
    body = {"kind": "output_shape", "difficulty": 2, **body}
    response = post(client, "/problems", body, key)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def stored_problem(app, problem_id):
    with app.app_context():
        row = db.session().scalar(select(ApiProblem).where(ApiProblem.public_id == problem_id))
        return variant(row.kind, row.difficulty, row.seed)


# ---------------------------------------------------------------- problems


def test_a_problem_is_shown_without_its_answers_or_seed(client, api_key):
    body = conforms(m.ProblemOut, make_problem(client, api_key, student="lms-42"))
    assert body["kind"] == "output_shape" and body["difficulty"] == 2
    assert body["student"] == "lms-42"
    assert {p["id"] for p in body["parts"]} == {f"shape_{i}" for i in range(len(body["parts"]))}
    assert not {"answers", "seed", "params"} & set(body)
    again = get(client, f"/problems/{body['id']}", api_key)
    assert again.status_code == 200 and again.get_json() == body


def test_a_given_seed_gives_that_variant_and_no_seed_a_random_one(app, client, api_key):
    fixed = make_problem(client, api_key, seed=12345)
    expected = kinds.generate("output_shape", 2, 12345).public()
    assert fixed["statement"] == expected["statement"] and fixed["parts"] == expected["parts"]
    seeds = set()
    with app.app_context():
        for _ in range(3):
            pid = make_problem(client, api_key)["id"]
            seeds.add(db.session().scalar(
                select(ApiProblem.seed).where(ApiProblem.public_id == pid)))
    assert len(seeds) == 3


@pytest.mark.parametrize(("body", "path", "words"), [
    ({"kind": "nope", "difficulty": 1}, "kind", "'output_shape'"),
    ({"kind": "output_shape", "difficulty": True}, "difficulty", "valid integer"),
    ({"kind": "output_shape", "difficulty": 1.0}, "difficulty", "valid integer"),
    ({"kind": "output_shape", "difficulty": 4}, "difficulty", "less than or equal to 3"),
    ({"kind": "output_shape"}, "difficulty", "is required"),
    ({"kind": "output_shape", "difficulty": 1, "seed": -1}, "seed", "greater than or equal"),
    ({"kind": "output_shape", "difficulty": 1, "seed": 2**63}, "seed", "less than or equal"),
    ({"kind": "output_shape", "difficulty": 1, "student": ""}, "student", "at least 1"),
    ({"kind": "output_shape", "difficulty": 1, "answer": "x"}, "answer", "allowed: kind"),
    ([], "", "expected a JSON object"),
])
def test_a_bad_problem_request_is_a_422_naming_the_field(app, client, api_key, body, path, words):
    response = post(client, "/problems", body, api_key)
    assert response.status_code == 422
    error = error_of(response)
    assert error["path"] == path and words in error["message"], error
    assert count(app, ApiProblem) == 0


def test_another_courses_problem_is_a_404_and_is_audited(app, client, api_key, other_key):
    problem = make_problem(client, api_key)
    for response in (get(client, f"/problems/{problem['id']}", other_key),
                     post(client, f"/problems/{problem['id']}/grade",
                          {"answers": {}}, other_key, "k1")):
        assert response.status_code == 404
        assert error_of(response)["path"] == "problem_id"
        assert problem["id"] not in response.get_data(as_text=True)
    with app.app_context():
        actions = db.session().scalars(select(AuditLog.action)).all()
    assert actions.count("api_access_denied") == 2


# ---------------------------------------------------------------- grading


def test_grading_records_once_and_a_retry_replays_the_same_bytes(app, client, api_key):
    problem = make_problem(client, api_key, student="lms-42")
    answers = right_answers(stored_problem(app, problem["id"]))
    first = post(client, f"/problems/{problem['id']}/grade", {"answers": answers}, api_key, "a1")
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    body = conforms(m.GradeOut, first.get_json())
    assert body["score"] == body["max_score"] and body["fraction"] == 1.0
    assert body["student"] == "lms-42" and body["valid"] is True
    again = post(client, f"/problems/{problem['id']}/grade", {"answers": answers}, api_key, "a1")
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.data == first.data
    # The same JSON written differently is the same request.
    spaced = json.dumps({"answers": dict(reversed(list(answers.items())))}, indent=2)
    third = post(client, f"/problems/{problem['id']}/grade", spaced, api_key, "a1")
    assert third.data == first.data
    with app.app_context():
        rows = db.session().scalars(select(ApiGrade)).all()
    assert len(rows) == 1
    assert rows[0].score == body["score"] and rows[0].student == "lms-42"
    assert rows[0].response == first.get_data(as_text=True)
    assert rows[0].public_id == body["grade_id"]


def test_wrong_answers_score_zero_and_name_their_parts(app, client, api_key):
    problem = make_problem(client, api_key)
    answers = wrong_answers(stored_problem(app, problem["id"]))
    response = post(client, f"/problems/{problem['id']}/grade", {"answers": answers}, api_key, "w")
    body = conforms(m.GradeOut, response.get_json())
    assert response.status_code == 201 and body["fraction"] < 1.0
    assert [p["id"] for p in body["parts"]] == [p["id"] for p in problem["parts"]]
    assert not all(p["correct"] for p in body["parts"])


def test_the_same_key_with_another_body_is_a_422_and_the_record_stands(app, client, api_key):
    problem = make_problem(client, api_key)
    truth = stored_problem(app, problem["id"])
    first = post(client, f"/problems/{problem['id']}/grade",
                 {"answers": right_answers(truth)}, api_key, "same")
    other = post(client, f"/problems/{problem['id']}/grade",
                 {"answers": wrong_answers(truth)}, api_key, "same")
    assert other.status_code == 422
    assert error_of(other)["path"] == "Idempotency-Key"
    elsewhere = make_problem(client, api_key)  # the same key on another URL is another request
    moved = post(client, f"/problems/{elsewhere['id']}/grade",
                 {"answers": right_answers(truth)}, api_key, "same")
    assert moved.status_code == 422 and error_of(moved)["path"] == "Idempotency-Key"
    with app.app_context():
        rows = db.session().scalars(select(ApiGrade)).all()
    assert len(rows) == 1 and rows[0].response == first.get_data(as_text=True)


def test_another_client_reusing_a_key_gets_its_own_result(app, client, api_key, course):
    second_key = make_key(app, course, "Second LMS")
    problem = make_problem(client, api_key)
    truth = stored_problem(app, problem["id"])
    a = post(client, f"/problems/{problem['id']}/grade", {"answers": right_answers(truth)},
             api_key, "shared-key")
    b = post(client, f"/problems/{problem['id']}/grade", {"answers": wrong_answers(truth)},
             second_key, "shared-key")
    assert a.status_code == b.status_code == 201
    assert "Idempotent-Replayed" not in b.headers
    assert b.get_json()["grade_id"] != a.get_json()["grade_id"]
    assert b.get_json()["fraction"] < 1.0 == a.get_json()["fraction"]
    assert count(app, ApiGrade) == 2


@pytest.mark.parametrize(("value", "words"), [
    (None, "needs an Idempotency-Key"),
    ("   ", "needs an Idempotency-Key"),
    ("k" * 256, "256 characters long (at most 255)"),
])
def test_a_missing_or_bad_idempotency_key_is_a_400_naming_the_header(app, client, api_key,
                                                                     value, words):
    problem = make_problem(client, api_key)
    response = post(client, f"/problems/{problem['id']}/grade", {"answers": {}}, api_key, value)
    assert response.status_code == 400
    error = error_of(response)
    assert error["path"] == "Idempotency-Key" and words in error["message"]
    assert count(app, ApiGrade) == 0


def test_unreadable_answers_are_a_422_recording_nothing_and_leaving_the_key_free(
        app, client, api_key):
    problem = make_problem(client, api_key)
    truth = stored_problem(app, problem["id"])
    url = f"/problems/{problem['id']}/grade"
    response = post(client, url, {"answers": unreadable_answers(truth)}, api_key, "fmt")
    assert response.status_code == 422
    error = error_of(response)
    first_part = truth.parts[0].id
    assert error["path"] == f"answers.{first_part}"
    assert [e["path"] for e in error["format_errors"]] == [f"answers.{first_part}"]
    assert count(app, ApiGrade) == 0
    fixed = post(client, url, {"answers": right_answers(truth)}, api_key, "fmt")
    assert fixed.status_code == 201 and "Idempotent-Replayed" not in fixed.headers
    assert count(app, ApiGrade) == 1


@pytest.mark.parametrize(("answers", "path", "words"), [
    ({"nope": "1"}, "answers.nope", "not a part of this problem"),
    ({"shape_0": 26}, "answers.shape_0", "valid string"),
    ({"shape_0": "x" * 10_001}, "answers.shape_0", "at most 10000"),
    ({"a b": "1"}, 'answers["a b"]', "not a part"),
    ("26x26", "answers", "valid dictionary"),
])
def test_answers_that_are_not_texts_of_parts_are_refused(app, client, api_key, answers,
                                                         path, words):
    problem = make_problem(client, api_key)
    response = post(client, f"/problems/{problem['id']}/grade", {"answers": answers},
                    api_key, "x")
    assert response.status_code == 422
    error = error_of(response)
    assert error["path"] == path and words in error["message"], error


def test_a_problem_made_for_a_student_is_graded_only_for_that_student(app, client, api_key):
    problem = make_problem(client, api_key, student="alice")
    answers = right_answers(stored_problem(app, problem["id"]))
    url = f"/problems/{problem['id']}/grade"
    refused = post(client, url, {"answers": answers, "student": "bob"}, api_key, "s1")
    assert refused.status_code == 422 and error_of(refused)["path"] == "student"
    ok = post(client, url, {"answers": answers, "student": "alice"}, api_key, "s2")
    assert ok.status_code == 201 and ok.get_json()["student"] == "alice"
    shared = make_problem(client, api_key)  # no student: anyone's answers
    answers = right_answers(stored_problem(app, shared["id"]))
    for who in ("carol", "dave"):
        done = post(client, f"/problems/{shared['id']}/grade",
                    {"answers": answers, "student": who}, api_key, f"shared-{who}")
        assert done.get_json()["student"] == who


# ---------------------------------------------------------------- solve and pool


def test_solve_answers_the_spec_contract_without_a_key(client):
    response = post(client, "/solve", SEED_MODEL)
    assert response.status_code == 200
    body = conforms(m.SolveAnswer, response.get_json())
    assert [layer["output_shape"] for layer in body["layers"]] == [
        [26, 26, 32], [24, 24, 64], [22, 22, 64]]
    assert body["total_params"] == 55744 and body["total_macs"] == 28653696


def test_pool_answers_the_spec_example(client, api_key):
    body = {"input": [[1, 3, 1, 0], [2, 8, 2, 4], [1, 3, 1, 5], [0, 0, 6, 2]],
            "op": "max", "kernel": 2, "stride": 2, "padding": 0}
    response = post(client, "/pool", body, api_key)
    assert response.status_code == 200
    assert conforms(m.PoolAnswer, response.get_json()) == {
        "output": [[8, 4], [3, 6]], "argmax": [[[1, 1], [1, 3]], [[2, 1], [3, 2]]]}


@pytest.mark.parametrize(("path", "body", "status", "where", "words"), [
    ("/solve", {"input": [4, 4, 1], "layers": [{"type": "conv2d", "filters": 1, "kernel": 5}]},
     422, "layers[0].kernel", "larger than the padded input"),
    ("/solve", {"input": [8, 8, 1], "layers": [{"type": "conv2d", "filters": 2.0, "kernel": 3}]},
     422, "layers[0].filters", ""),
    ("/solve", {"input": [8, 8, 1], "layers": [{"type": "maxpool2d", "kernel": 2,
                                                "count_include_pad": True}]},
     422, "layers[0].count_include_pad", ""),
    ("/pool", {"input": [[1, 2], [3, 4]], "op": "max", "kernel": 3}, 422, "kernel", ""),
    ("/solve", '{"input": [4, 4, 1],\n "layers": [}', 400, "", "line 2, column"),
    ("/solve", '{"input": [NaN, 4, 1]}', 422, "input[0]", "NaN"),  # the spec's §4
    ("/pool", '{"input": [[1, Infinity]], "op": "max", "kernel": 1}', 422, "input[0][1]",
     "Infinity"),
    ("/solve", '{"input": [8, 8, 1], "input": [4, 4, 1], "layers": []}', 422, "input", "twice"),
    ("/solve", "[" * 100_000 + "]" * 100_000, 400, "", "nested too deeply"),
    ("/solve", "", 400, "", "empty"),
    ("/solve", b"{\"input\": \"\xff\"}", 400, "", "UTF-8"),
])
def test_bad_spec_bodies_are_refused_with_the_place(client, path, body, status, where, words):
    response = post(client, path, body)
    assert response.status_code == status
    error = error_of(response)
    assert error["path"] == where and words in error["message"], error


def test_the_wrong_content_type_is_a_415(client, api_key):
    for path in ("/solve", "/problems"):
        response = client.post(f"/api/v1{path}", data="kind=output_shape",
                               content_type="application/x-www-form-urlencoded",
                               headers={"Authorization": f"Bearer {api_key}"})
        assert response.status_code == 415
        assert error_of(response)["path"] == "Content-Type"


def test_a_body_over_the_limit_is_a_413_in_json(app, client, api_key):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    response = post(client, "/solve", {"input": [1] * 600})
    assert response.status_code == 413
    assert "too large" in error_of(response)["message"]
    problem_body = {"kind": "output_shape", "difficulty": 1, "student": "x" * 2000}
    response = post(client, "/problems", problem_body, api_key)
    assert response.status_code == 413 and count(app, ApiProblem) == 0


def test_unknown_routes_and_methods_answer_json(client):
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and "error" in missing.get_json()
    wrong = client.get("/api/v1/solve")
    assert wrong.status_code == 405 and "error" in wrong.get_json()


def test_kinds_and_ping(client):
    kinds_response = get(client, "/kinds")
    body = conforms(m.KindsOut, kinds_response.get_json())
    assert [k["name"] for k in body["kinds"]] == list(kinds.KINDS)
    assert body["difficulties"] == [1, 2, 3]
    ping = get(client, "/ping")
    assert ping.status_code == 200 and conforms(m.PingOut, ping.get_json()) == {"ok": True}


# ---------------------------------------------------------------- auth


@pytest.mark.parametrize(("header", "words"), [
    (None, "an API key is required"),
    ("Basic dXNlcjpwYXNz", "expected `Authorization: Bearer"),
    ("Bearer ", "expected `Authorization: Bearer"),
    ("Bearer not-a-key", "malformed"),
    ("Bearer cnnq_0123456789abcdef_" + "A" * 43, "not valid"),
])
def test_requests_without_a_valid_key_are_a_401(client, header, words):
    headers = {"Authorization": header} if header else {}
    response = client.post("/api/v1/problems", json={"kind": "output_shape", "difficulty": 1},
                           headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    error = error_of(response)
    assert error["path"] == "Authorization" and words in error["message"]


def test_a_wrong_secret_for_a_real_key_id_is_a_401(app, client, api_key):
    public_id = api_keys.parse_token(api_key)[0]
    forged = f"cnnq_{public_id}_{'B' * 43}"
    response = post(client, "/problems", {"kind": "output_shape", "difficulty": 1}, forged)
    assert response.status_code == 401 and "not valid" in error_of(response)["message"]


def test_a_revoked_key_is_refused_from_its_next_request(app, client, api_key):
    assert make_problem(client, api_key)
    with app.app_context():
        key = api_keys.find_key(api_key)
        assert api_keys.revoke(key) is True
    response = post(client, "/problems", {"kind": "output_shape", "difficulty": 1}, api_key)
    assert response.status_code == 401 and "revoked" in error_of(response)["message"]
    solve = post(client, "/solve", SEED_MODEL, api_key)  # even where no key is needed
    assert solve.status_code == 401


def test_a_key_revoked_between_two_grades_records_nothing_more(app, client, api_key):
    # The key and the problem are known to the process after the first grade; the second
    # grade is refused by the recording statement itself, even for a retry of the first.
    problem = make_problem(client, api_key)
    url = f"/problems/{problem['id']}/grade"
    answers = {"answers": right_answers(stored_problem(app, problem["id"]))}
    assert post(client, url, answers, api_key, "before").status_code == 201
    with app.app_context(), db.transaction() as s:  # as another process would: in the table
        s.execute(ApiKey.__table__.update().values(revoked_at=datetime.now(UTC)))
    for idempotency_key in ("after", "before"):
        refused = post(client, url, answers, api_key, idempotency_key)
        assert refused.status_code == 401, refused.get_data(as_text=True)
        assert error_of(refused) == {"path": "Authorization",
                                     "message": "the API key was revoked"}
    assert count(app, ApiGrade) == 1


def test_grading_survives_the_database_dropping_its_connections(app, client, api_key):
    # No ping before each use: a dead pooled connection is found by the statement itself,
    # which then runs once more on a fresh one (PostgreSQL restarts; SQLite has no server).
    if app.extensions["api_engine"].dialect.name != "postgresql":
        pytest.skip("a server-side disconnect needs PostgreSQL")
    from sqlalchemy import text

    problem = make_problem(client, api_key)
    url = f"/problems/{problem['id']}/grade"
    answers = {"answers": right_answers(stored_problem(app, problem["id"]))}
    assert post(client, url, answers, api_key, "first").status_code == 201
    with app.app_context():
        db.session().execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
        db.session().rollback()
    again = post(client, url, answers, api_key, "second")
    assert again.status_code == 201, again.get_data(as_text=True)
    assert count(app, ApiGrade) == 2


def test_api_connections_stay_open_between_requests_and_are_shared_by_threads(app, api_key):
    # Requests take an idle API connection and give it back: one after another they use
    # one connection; from threads (a server with a thread per request) no more than run
    # at once, and none is left out of the idle list.
    import threading

    from sqlalchemy import event

    opened = []
    event.listen(app.extensions["api_engine"], "connect", lambda *_: opened.append(1))
    idle = app.extensions["api_connections"]
    client = app.test_client()
    problem = make_problem(client, api_key)
    url = f"/problems/{problem['id']}/grade"
    answers = {"answers": right_answers(stored_problem(app, problem["id"]))}
    for n in range(5):
        assert post(client, url, answers, api_key, f"one-by-one-{n}").status_code == 201
    assert len(opened) <= 1 and len(idle.idle) == 1
    statuses = []

    def grade(n):
        statuses.append(post(app.test_client(), url, answers, api_key, f"thread-{n}").status_code)

    threads = [threading.Thread(target=grade, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [201] * 12
    assert len(idle.idle) == len(opened) <= 12
    assert count(app, ApiGrade) == 17


def test_a_known_problem_is_still_another_courses_for_another_key(app, client, api_key,
                                                                  other_key):
    problem = make_problem(client, api_key)
    url = f"/problems/{problem['id']}/grade"
    answers = {"answers": right_answers(stored_problem(app, problem["id"]))}
    assert post(client, url, answers, api_key, "mine").status_code == 201
    stranger = post(client, url, answers, other_key, "theirs")
    assert stranger.status_code == 404 and error_of(stranger)["path"] == "problem_id"
    assert count(app, ApiGrade) == 1


def test_an_unreadable_retry_under_a_used_key_is_the_key_conflict(app, client, api_key):
    problem = make_problem(client, api_key, student="alice")
    truth = stored_problem(app, problem["id"])
    url = f"/problems/{problem['id']}/grade"
    assert post(client, url, {"answers": right_answers(truth)}, api_key, "k").status_code == 201
    for body in ({"answers": unreadable_answers(truth)},
                 {"answers": right_answers(truth), "student": "bob"}):
        other = post(client, url, body, api_key, "k")
        assert other.status_code == 422 and error_of(other)["path"] == "Idempotency-Key"
    assert count(app, ApiGrade) == 1


def test_a_session_cookie_is_not_an_api_credential(app, client, instructor, course, api_key):
    assert login(client, "teacher@example.edu").status_code == 302
    refused = post(client, "/problems", {"kind": "output_shape", "difficulty": 1})
    assert refused.status_code == 401 and error_of(refused)["path"] == "Authorization"
    # With a key, the API needs no CSRF token, whatever cookies come along.
    accepted = post(client, "/problems", {"kind": "output_shape", "difficulty": 1}, api_key)
    assert accepted.status_code == 201
    assert "Set-Cookie" not in accepted.headers


def test_using_a_key_marks_it_used(app, client, api_key):
    with app.app_context():
        assert api_keys.find_key(api_key).last_used_at is None
    get(client, "/sets", api_key)
    with app.app_context():
        assert api_keys.find_key(api_key).last_used_at is not None


# ---------------------------------------------------------------- rate limits


def test_the_key_limit_answers_429_with_retry_after(app, client, api_key, course):
    app.config["API_RATE_LIMIT"] = "3 per minute"
    statuses = [get(client, "/sets", api_key).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    limited = get(client, "/kinds", api_key)  # one budget for every route of the key
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert "rate limit" in error_of(limited)["message"]
    other = make_key(app, course, "Another")
    assert get(client, "/sets", other).status_code == 200  # per key
    # Revoked while over its limit: the 401 comes before any other answer, the 429 too.
    with app.app_context():
        assert api_keys.revoke(api_keys.find_key(api_key))
    revoked = get(client, "/kinds", api_key)
    assert revoked.status_code == 401 and "revoked" in error_of(revoked)["message"]
    app.config["API_ANON_RATE_LIMIT"] = "1 per minute"
    for path in ("/ping", "/ping", "/openapi.json", "/openapi.json", "/docs", "/docs"):
        assert get(client, path).status_code == 200  # never limited


def test_a_rate_limit_storage_that_fails_lets_requests_through(app, client, api_key,
                                                              monkeypatch, caplog):
    from grader.extensions import limiter

    def down(*_args, **_kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(limiter.storage, "incr", down)
    assert get(client, "/sets", api_key).status_code == 200
    assert "rate limit storage failed" in caplog.text


def test_leased_budgets_never_admit_more_than_the_limit(app):
    from limits import parse

    from grader.api.limits import Leases, lease_size

    limit = parse("1000 per minute")
    assert lease_size(limit) == 10 and lease_size(parse("60 per minute")) == 1
    workers = [Leases(), Leases(), Leases()]  # three processes sharing one storage
    with app.app_context():
        admitted = [w.admit(limit, "key:lease-test") is None
                    for _ in range(400) for w in workers]
        refused_at = workers[0].admit(limit, "key:lease-test")
    # Every admitted request was counted first; unused leases may refuse a few early.
    assert 1000 - 3 * (10 - 1) <= sum(admitted) <= 1000
    assert admitted[:990] == [True] * 990
    assert refused_at is not None and refused_at > time.time()


def test_anonymous_solving_has_its_own_per_address_limit(app, client, api_key):
    app.config["API_ANON_RATE_LIMIT"] = "2 per minute"
    assert [post(client, "/solve", SEED_MODEL).status_code for _ in range(2)] == [200, 200]
    limited = post(client, "/solve", SEED_MODEL)
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    other_address = client.post("/api/v1/solve", json=SEED_MODEL,
                                environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other_address.status_code == 200
    assert post(client, "/solve", SEED_MODEL, api_key).status_code == 200  # a key's own budget


# ---------------------------------------------------------------- the course's sets


def test_sets_and_one_set_are_listed_for_the_keys_course(app, client, api_key, course,
                                                         other_key):
    built = make_set(app, course, [{"kind": "output_shape", "difficulty": 1, "points": 10},
                                   {"kind": "param_count", "difficulty": 2, "points": 5}])
    draft = make_set(app, course, publish=False, title="Draft")
    body = conforms(m.SetsOut, get(client, "/sets", api_key).get_json())
    assert body["course"]["code"] == "CNN101"
    assert [(s["id"], s["published"]) for s in body["sets"]] == [(built["id"], True),
                                                                 (draft["id"], False)]
    one = conforms(m.SetOut, get(client, f"/sets/{built['id']}", api_key).get_json())
    assert [(i["id"], i["kind"], i["points"]) for i in one["items"]] == [
        (built["items"][0][0], "output_shape", 10.0), (built["items"][1][0], "param_count", 5.0)]
    assert get(client, f"/sets/{built['id']}", other_key).status_code == 404
    assert conforms(m.SetsOut, get(client, "/sets", other_key).get_json())["sets"] == []


def test_the_gradebook_has_every_student_and_item(app, client, api_key, course, student,
                                                  other_student):
    built = make_set(app, course)
    item_id = built["items"][0][0]
    with app.app_context():
        answers = right_answers(student_problem(built, student))
    post(client, f"/sets/{built['id']}/items/{item_id}/submissions",
         {"student": student.email, "answers": answers}, api_key, "g1")
    response = get(client, f"/sets/{built['id']}/grades", api_key)
    body = conforms(m.GradebookOut, response.get_json())
    rows = {r["student"]["email"]: r for r in body["students"]}
    assert set(rows) == {student.email, other_student.email}
    assert rows[student.email]["items"] == [
        {"item_id": item_id, "best": 10.0, "best_fraction": 1.0, "attempts": 1}]
    assert rows[other_student.email]["items"][0]["best"] is None
    assert rows[student.email]["percentage"] == 100.0


def test_a_students_variant_is_their_own_problem_without_answers(app, client, api_key, course,
                                                                 student):
    built = make_set(app, course)
    url = f"/sets/{built['id']}/items/{built['items'][0][0]}/variants/{student.email.upper()}"
    body = conforms(m.VariantOut, get(client, url, api_key).get_json())
    with app.app_context():
        expected = student_problem(built, student).public()
    assert body["statement"] == expected["statement"] and body["parts"] == expected["parts"]
    assert (body["attempts_used"], body["attempts_left"], body["next_attempt"]) == (0, 3, 1)
    missing = get(client, url.replace(student.email.upper(), "nobody@example.edu"), api_key)
    assert missing.status_code == 404 and error_of(missing)["path"] == "student"


# ---------------------------------------------------------------- course submissions


def submission_url(built, index: int = 0) -> str:
    return f"/sets/{built['id']}/items/{built['items'][index][0]}/submissions"


def submissions(app):
    with app.app_context():
        return db.session().scalars(select(Submission).order_by(Submission.id)).all()


def test_a_submission_is_recorded_once_as_the_students_next_attempt(app, client, api_key,
                                                                    course, student):
    built = make_set(app, course)
    with app.app_context():
        problem = student_problem(built, student)
    body = {"student": student.email, "answers": wrong_answers(problem)}
    first = post(client, submission_url(built), body, api_key, "sub-1")
    assert first.status_code == 201
    out = conforms(m.SubmissionOut, first.get_json())
    assert (out["attempt"], out["student"], out["max_score"]) == (1, student.email, 10.0)
    again = post(client, submission_url(built), body, api_key, "sub-1")
    assert again.data == first.data and again.headers["Idempotent-Replayed"] == "true"
    second = post(client, submission_url(built),
                  {"student": student.email, "answers": right_answers(problem)}, api_key, "sub-2")
    assert second.status_code == 201 and second.get_json()["attempt"] == 2
    assert second.get_json()["score"] == 10.0
    rows = submissions(app)
    assert [(r.attempt, r.source) for r in rows] == [(1, "api"), (2, "api")]
    assert rows[0].public_id == out["submission_id"]
    with app.app_context():
        intents = db.session().scalars(select(ApiIdempotency)).all()
    assert {(i.idempotency_key, i.status, i.attempt) for i in intents} == {
        ("sub-1", "done", 1), ("sub-2", "done", 2)}


def test_a_submission_key_reused_with_another_body_is_a_422(app, client, api_key, course,
                                                            student):
    built = make_set(app, course)
    with app.app_context():
        problem = student_problem(built, student)
    post(client, submission_url(built), {"student": student.email,
                                         "answers": wrong_answers(problem)}, api_key, "k")
    other = post(client, submission_url(built), {"student": student.email,
                                                 "answers": right_answers(problem)}, api_key, "k")
    assert other.status_code == 422 and error_of(other)["path"] == "Idempotency-Key"
    assert len(submissions(app)) == 1


def test_a_submission_refused_by_the_rules_records_nothing(app, client, api_key, course,
                                                           student):
    past = datetime.now(UTC) - timedelta(days=1)
    built = make_set(app, course, due_at=past)
    with app.app_context():
        problem = student_problem(built, student)
    response = post(client, submission_url(built),
                    {"student": student.email, "answers": right_answers(problem)}, api_key, "late")
    assert response.status_code == 409
    error = error_of(response)
    assert error["reason"] == "past_due" and "due date" in error["message"]
    assert submissions(app) == [] and count(app, ApiIdempotency) == 0


def test_unreadable_submission_answers_record_nothing(app, client, api_key, course, student):
    built = make_set(app, course)
    with app.app_context():
        problem = student_problem(built, student)
    response = post(client, submission_url(built),
                    {"student": student.email, "answers": unreadable_answers(problem)},
                    api_key, "bad")
    assert response.status_code == 422 and error_of(response)["format_errors"]
    assert submissions(app) == [] and count(app, ApiIdempotency) == 0
    ok = post(client, submission_url(built),
              {"student": student.email, "answers": right_answers(problem)}, api_key, "bad")
    assert ok.status_code == 201 and ok.get_json()["attempt"] == 1


@pytest.mark.parametrize(("who", "words"), [
    ("nobody@example.edu", "no student with this email"),
    ("teacher@example.edu", "no student with this email"),  # an instructor, not a student
])
def test_a_submission_for_someone_not_enrolled_is_a_422(app, client, api_key, course, who,
                                                        words):
    built = make_set(app, course)
    response = post(client, submission_url(built), {"student": who, "answers": {}},
                    api_key, "who")
    assert response.status_code == 422
    error = error_of(response)
    assert error["path"] == "student" and words in error["message"]


def test_an_explicit_attempt_out_of_sequence_is_a_409(app, client, api_key, course, student):
    built = make_set(app, course)
    with app.app_context():
        problem = student_problem(built, student)
    body = {"student": student.email, "answers": wrong_answers(problem), "attempt": 2}
    skipped = post(client, submission_url(built), body, api_key, "skip")
    assert skipped.status_code == 409 and error_of(skipped)["reason"] == "out_of_sequence"
    assert error_of(skipped)["message"] == (
        "attempt 2 is out of sequence: the student's next attempt is 1; send that number, or "
        "leave out `attempt` to use it")
    assert error_of(skipped)["path"] == "attempt"
    first = post(client, submission_url(built), {**body, "attempt": 1}, api_key, "one")
    assert first.status_code == 201
    taken = post(client, submission_url(built), {**body, "attempt": 1}, api_key, "one-again")
    assert taken.status_code == 409 and error_of(taken)["path"] == "attempt"
    assert len(submissions(app)) == 1


def pending_intent(app, api_key, built, student, body, key, attempt=1, submit_as=None):
    """Leave a pending intent as if the server stopped after reserving it (and, with
    `submit_as`, after submitting too); its request hash is the real one of `body`."""
    from grader.api.routes import request_hash

    url = submission_url(built)
    with app.test_request_context(f"/api/v1{url}", method="POST"):
        digest = request_hash(body)
    with app.app_context():
        problem = student_problem(built, student)
        item = attempts.student_item(student, built["id"], built["items"][0][0])
        texts = {p.id: body["answers"].get(p.id, "") for p in problem.parts}
        key_id = api_keys.find_key(api_key).id
        with db.transaction() as s:
            s.add(ApiIdempotency(api_key_id=key_id, idempotency_key=key, request_hash=digest,
                                 item_id=item.id, user_id=student.id, attempt=attempt,
                                 answers=texts, status="pending"))
        if submit_as is not None:
            attempts.submit(student, item, texts, attempt, source=submit_as)


def test_an_attempt_taken_in_the_browser_moves_the_api_to_the_next(app, client, api_key,
                                                                   course, student):
    built = make_set(app, course)
    with app.app_context():
        problem = student_problem(built, student)
    body = {"student": student.email, "answers": right_answers(problem)}
    # Reserved attempt 1, then stopped; meanwhile the student submitted attempt 1 in the
    # browser (with other answers).
    pending_intent(app, api_key, built, student, body, "crash")
    with app.app_context():
        item = attempts.student_item(student, built["id"], built["items"][0][0])
        attempts.submit(student, item, wrong_answers(problem), 1)
    retry = post(client, submission_url(built), body, api_key, "crash")
    assert retry.status_code == 201 and retry.get_json()["attempt"] == 2
    assert retry.get_json()["score"] == 10.0
    rows = submissions(app)
    assert [(r.attempt, r.source) for r in rows] == [(1, "web"), (2, "api")]
    with app.app_context():
        intent = db.session().scalars(select(ApiIdempotency)).one()
    assert (intent.idempotency_key, intent.status, intent.attempt) == ("crash", "done", 2)


def test_another_keys_pending_attempt_is_finished_before_the_next_is_taken(
        app, client, api_key, course, student):
    built = make_set(app, course)
    with app.app_context():
        problem = student_problem(built, student)
    stalled = {"student": student.email, "answers": wrong_answers(problem)}
    pending_intent(app, api_key, built, student, stalled, "stalled")
    body = {"student": student.email, "answers": right_answers(problem)}
    response = post(client, submission_url(built), body, api_key, "fresh")
    assert response.status_code == 201 and response.get_json()["attempt"] == 2
    assert [(r.attempt, r.source) for r in submissions(app)] == [(1, "api"), (2, "api")]
    # The stalled request's retry finds its attempt recorded, with its own answers.
    retry = post(client, submission_url(built), stalled, api_key, "stalled")
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.get_json()["attempt"] == 1 and retry.get_json()["score"] < 10.0


def test_a_retry_after_a_crash_completes_the_pending_submission_once(app, client, api_key,
                                                                     course, student):
    built = make_set(app, course)
    with app.app_context():
        problem = student_problem(built, student)
    body = {"student": student.email, "answers": right_answers(problem)}
    # Stopped after reserving AND submitting, before completing.
    pending_intent(app, api_key, built, student, body, "crash", submit_as="api")
    retry = post(client, submission_url(built), body, api_key, "crash")
    assert retry.status_code == 201
    assert retry.get_json()["attempt"] == 1 and retry.get_json()["score"] == 10.0
    again = post(client, submission_url(built), body, api_key, "crash")
    assert again.data == retry.data and again.headers["Idempotent-Replayed"] == "true"
    assert [(r.attempt, r.source) for r in submissions(app)] == [(1, "api")]


def test_other_courses_sets_and_students_are_404(app, client, course, other_key, student):
    built = make_set(app, course)
    response = post(client, submission_url(built),
                    {"student": student.email, "answers": {}}, other_key, "x")
    assert response.status_code == 404 and error_of(response)["path"] == "set_id"
    assert get(client, f"/sets/{built['id']}/grades", other_key).status_code == 404
    record = get(client, f"/students/{student.email}/submissions", other_key)
    assert record.status_code == 404 and student.email not in record.get_data(as_text=True)


def test_a_students_record_lists_submissions_and_api_grades(app, client, api_key, course,
                                                            student):
    built = make_set(app, course)
    with app.app_context():
        problem = student_problem(built, student)
    post(client, submission_url(built), {"student": student.email,
                                         "answers": right_answers(problem)}, api_key, "r1")
    made = make_problem(client, api_key, student=student.email)
    post(client, f"/problems/{made['id']}/grade",
         {"answers": right_answers(stored_problem(app, made["id"]))}, api_key, "r2")
    body = conforms(m.StudentRecordOut,
                    get(client, f"/students/{student.email}/submissions", api_key).get_json())
    assert body["enrolled"] is True and body["name"] == student.name
    assert [(s["attempt"], s["source"], s["score"]) for s in body["submissions"]] == [
        (1, "api", 10.0)]
    assert [g["problem_id"] for g in body["api_grades"]] == [made["id"]]
    external = make_problem(client, api_key, student="lms-user-9")
    post(client, f"/problems/{external['id']}/grade",
         {"answers": right_answers(stored_problem(app, external["id"]))}, api_key, "r3")
    outsider = get(client, "/students/lms-user-9/submissions", api_key).get_json()
    assert outsider["enrolled"] is False and outsider["submissions"] == []
    assert len(outsider["api_grades"]) == 1
    assert get(client, "/students/nobody/submissions", api_key).status_code == 404


def test_the_database_holds_no_plaintext_key(app, client, api_key):
    secret = api_key.split("_", 2)[2]
    with app.app_context():
        rows = db.session().execute(select(ApiKey.public_id, ApiKey.secret_hash, ApiKey.name))
        dump = " ".join(" ".join(map(str, row)) for row in rows)
    assert secret not in dump and api_key not in dump


def test_a_revoked_key_gets_only_its_401_from_the_grading_route(app, client, api_key):
    # The success path checks the revocation in the recording statement; every refusal of
    # the route must check it first, or a revoked key still learns what exists.
    problem = make_problem(client, api_key, student="lms-1")
    url = f"/problems/{problem['id']}/grade"
    first = problem["parts"][0]["id"]
    with app.app_context():
        assert api_keys.revoke(api_keys.find_key(api_key)) is True
    before = count(app, AuditLog)
    attempts_ = [
        (url, {"answers": {"no_such_part": "1"}}, "k1"),
        (url, {"answers": {first: "not a shape"}}, "k2"),
        (url, {"answers": {first: "1x1x1"}, "student": "lms-2"}, "k3"),
        ("/problems/NoSuchProblem0/grade", {"answers": {first: "1x1x1"}}, "k4"),
        (url, {"answers": {first: "1x1x1"}}, None),
        (url, {"answers": "nope"}, "k5"),
        (url, "{not json", "k6"),
    ]
    for path, body, idempotency_key in attempts_:
        refused = post(client, path, body, api_key, idempotency_key)
        assert refused.status_code == 401, (body, refused.get_data(as_text=True))
        assert error_of(refused) == {"path": "Authorization",
                                     "message": "the API key was revoked"}
    assert count(app, AuditLog) == before  # no "access denied" for a problem id either
    assert count(app, ApiGrade) == 0


@pytest.mark.parametrize("quoted", [True, False])
def test_a_student_id_holding_slashes_is_found_in_url_paths(app, client, api_key, course,
                                                            quoted):
    # An LMS user id is often a URL; the server decodes %2F before routing.
    student = "https://lms.example.edu/users/4711"
    made = make_problem(client, api_key, student=student)
    graded = post(client, f"/problems/{made['id']}/grade",
                  {"answers": right_answers(stored_problem(app, made["id"]))}, api_key, "s1")
    assert graded.status_code == 201
    shown = student.replace(":", "%3A").replace("/", "%2F") if quoted else student
    record = get(client, f"/students/{shown}/submissions", api_key)
    assert record.status_code == 200, record.get_data(as_text=True)
    assert record.get_json()["student"] == student
    assert [g["problem_id"] for g in record.get_json()["api_grades"]] == [made["id"]]
    built = make_set(app, course)
    item = built["items"][0][0]
    variant_of = get(client, f"/sets/{built['id']}/items/{item}/variants/{shown}", api_key)
    assert variant_of.status_code == 404 and error_of(variant_of)["path"] == "student"


def fraction_of(problem, answers) -> float:
    return kinds.grade(problem, answers).fraction


def test_gradebook_scores_are_rounded_to_6_places_like_every_score(app, client, api_key,
                                                                   course, student):
    # shift_invariance (difficulty 1) has 3 parts of a point each: a third of a 4-point
    # item is 1.333..., which the gradebook gave unrounded.
    built = make_set(app, course, [{"kind": "shift_invariance", "difficulty": 1, "points": 4}])
    item_id = built["items"][0][0]
    with app.app_context():
        problem = student_problem(built, student)
    assert [p.points for p in problem.parts] == [1.0, 1.0, 1.0]
    right, wrong = right_answers(problem), wrong_answers(problem)
    tries = [{p.id: (right if pick >> i & 1 else wrong)[p.id]
              for i, p in enumerate(problem.parts)} for pick in range(8)]
    # a fraction whose 4-point score has more than 6 decimals (thirds)
    answers = next(a for a in tries if round(4 * fraction_of(problem, a), 6)
                   != 4 * fraction_of(problem, a))
    fraction = fraction_of(problem, answers)
    submitted = post(client, f"/sets/{built['id']}/items/{item_id}/submissions",
                     {"student": student.email, "answers": answers}, api_key, "third")
    assert submitted.status_code == 201, submitted.get_data(as_text=True)
    score = submitted.get_json()["score"]
    body = get(client, f"/sets/{built['id']}/grades", api_key).get_json()
    (row,) = [r for r in body["students"] if r["student"]["email"] == student.email]
    (cell,) = row["items"]
    assert cell["best"] == score == round(4 * fraction, 6) == row["total"]
    assert cell["best_fraction"] == round(fraction, 6)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32",
                                      "utf-32-le"])
def test_a_utf16_or_utf32_body_is_refused_like_any_text_not_utf8(client, api_key, encoding):
    body = json.dumps({"kind": "output_shape", "difficulty": 1, "student": "é"})
    response = post(client, "/problems", body.encode(encoding), api_key)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert error_of(response) == {"path": "", "message": "not valid JSON: the body is not "
                                  "UTF-8 text"}


def test_a_utf8_body_may_start_with_a_bom(client, api_key):
    body = json.dumps({"kind": "output_shape", "difficulty": 1, "student": "é"})
    response = post(client, "/problems", body.encode("utf-8-sig"), api_key)
    assert response.status_code == 201 and response.get_json()["student"] == "é"


def test_an_idempotency_key_sent_twice_is_a_400_naming_the_header(app, client, api_key):
    made = make_problem(client, api_key)
    answers = {"answers": right_answers(stored_problem(app, made["id"]))}
    response = client.post(f"/api/v1/problems/{made['id']}/grade", data=json.dumps(answers),
                           content_type="application/json",
                           headers=[("Authorization", f"Bearer {api_key}"),
                                    ("Idempotency-Key", "dup-a"),
                                    ("Idempotency-Key", "dup-b")])
    assert response.status_code == 400, response.get_data(as_text=True)
    error = error_of(response)
    assert error["path"] == "Idempotency-Key" and "comma" in error["message"]
    assert count(app, ApiGrade) == 0


def test_an_integer_too_long_to_read_is_a_422_naming_its_field(client, api_key):
    body = '{"kind": "output_shape", "difficulty": 1, "seed": ' + "9" * 5001 + "}"
    response = post(client, "/problems", body, api_key)
    assert response.status_code == 422
    assert error_of(response) == {"path": "seed", "message": "a number in the body is too "
                                  "long (5,001 digits)"}
    nested = post(client, "/pool", '{"input": [[1, 2], [3, -' + "4" * 4400 + ']], "op": "max",'
                  ' "kernel": 2}')
    assert nested.status_code == 422 and error_of(nested)["path"] == "input[1][1]"


@pytest.mark.parametrize("big", [2**53 + 1, -(2**53) - 1, 2**64])
def test_a_grid_integer_a_double_cannot_hold_is_a_422_naming_its_cell(client, big):
    response = post(client, "/pool", {"input": [[big, 2], [3, 4]], "op": "max", "kernel": 2})
    assert response.status_code == 422, response.get_data(as_text=True)
    error = error_of(response)
    assert error["path"] == "input[0][0]" and "2**53" in error["message"]


def test_grid_integers_up_to_2_53_are_pooled_exactly(client):
    response = post(client, "/pool", {"input": [[2**53, 2], [3, 4]], "op": "max", "kernel": 2})
    assert response.status_code == 200 and response.get_json()["output"] == [[2**53]]
