"""The OpenAPI document and the docs page agree with the code: every route is documented,
every documented request model is the one its route validates with, the spec's models
describe what problems.spec accepts, and the docs page renders without scripts."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from test_api_helpers import api_key_fixture, error_of, post  # noqa: F401  (fixture)

from grader.api import schemas as m
from grader.api.openapi import OPERATIONS, document
from grader.api.routes import GRADE_EXAMPLE, PROBLEM_EXAMPLE
from problems import kinds
from problems.errors import SpecError
from problems.spec import parse_pool, parse_stack


def _refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["$ref"]] if isinstance(value.get("$ref"), str) else []
        return found + [r for v in value.values() for r in _refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    return []


def test_the_document_is_openapi_3_1_and_every_reference_resolves(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    doc = response.get_json()
    assert doc["openapi"] == "3.1.0" and doc["servers"] == [{"url": "/api/v1"}]
    schemas = doc["components"]["schemas"]
    for ref in _refs(doc):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            assert op["responses"], (method, path)
            assert set(re.findall(r"\{(\w+)\}", path)) == {
                p["name"] for p in op.get("parameters", []) if p["in"] == "path"}


def test_every_route_of_the_blueprint_is_documented_and_nothing_else(app):
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule).removeprefix("/api/v1")
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                routes.add((method.lower(), path))
    documented = {(method, path) for path, methods in document()["paths"].items()
                  for method in methods}
    assert routes == documented


def test_each_documented_request_model_is_the_one_its_route_uses(app, client, api_key):
    doc = document()
    checked = 0
    for op in OPERATIONS:
        entry = doc["paths"][op.path][op.method.lower()]
        if op.request is None:
            assert "requestBody" not in entry
            continue
        ref = entry["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith("/" + op.request.__name__)
        if op.validated_by != "pydantic":
            continue
        # An unknown field is refused naming the fields of the documented model, so the
        # route validates with exactly that model.
        path = re.sub(r"\{\w+\}", "x", op.path)
        response = post(client, path, {"zz_not_a_field": 1}, api_key, "idem")
        assert response.status_code == 422, (op.path, response.get_data(as_text=True))
        error = error_of(response)
        problems = error.get("errors", [error])
        unknown = next(p for p in problems if p["path"] == "zz_not_a_field")
        assert unknown["message"].endswith(f"(allowed: {', '.join(op.request.model_fields)})")
        checked += 1
    assert checked == 3


def test_keyed_operations_declare_401_and_bodies_declare_422():
    for path, methods in document()["paths"].items():
        for op in methods.values():
            if op["security"] == [{"apiKey": []}]:
                assert "401" in op["responses"], path
            if "requestBody" in op:
                assert {"400", "413", "415", "422"} <= set(op["responses"]), path


# ---------------------------------------------------------------- the spec's models


def _stack_layers() -> list[dict[str, Any]]:
    """Every layer of every kind's statements (many seeds): real, valid spec layers."""
    layers: list[dict[str, Any]] = []
    for kind in kinds.KINDS:
        for difficulty in kinds.DIFFICULTIES:
            for seed in range(6):
                problem = kinds.generate(kind, difficulty, seed)
                for block in problem.statement:
                    if block.get("type") == "stack":
                        layers += [row["layer"] for row in block["rows"] if "layer" in row]
    return layers


VALID_STACKS = [
    {"input": [28, 28, 1], "layers": [{"type": "conv2d", "filters": 32, "kernel": 3}]},
    {"layout": "CHW", "input": [3, 32, 32], "layers": [
        {"type": "conv2d", "filters": 8, "kernel": [3, 5], "stride": [1, 2], "padding": [1, 2],
         "dilation": 2, "groups": 1, "bias": False},
        {"type": "maxpool2d", "kernel": 2, "ceil_mode": True},
        {"type": "avgpool2d", "kernel": 3, "stride": 1, "padding": 1, "count_include_pad": False},
        {"type": "minpool2d", "kernel": 2, "padding": "same"},
        {"type": "batchnorm"}, {"type": "relu"}, {"type": "global_avgpool2d"},
        {"type": "flatten"}, {"type": "dense", "units": 10, "bias": True}, {"type": "softmax"}]},
    {"input": [10], "layers": []},
]
INVALID_STACKS = [
    {"input": [28, 28, 1], "layers": [{"type": "conv2d", "filters": True, "kernel": 3}]},
    {"input": [28, 28, 1], "layers": [{"type": "conv2d", "filters": 3.0, "kernel": 3}]},
    {"input": [28, 28, 1], "layers": [{"type": "conv2d", "filters": 0, "kernel": 3}]},
    {"input": [28, 28, 1], "layers": [{"type": "conv2d", "kernel": 3}]},
    {"input": [28, 28, 1], "layers": [{"type": "conv2d", "filters": 1, "kernel": [3, 3, 3]}]},
    {"input": [28, 28, 1], "layers": [{"type": "conv2d", "filters": 1, "kernel": 3,
                                       "padding": "full"}]},
    {"input": [28, 28, 1], "layers": [{"type": "maxpool2d", "kernel": 2,
                                       "count_include_pad": True}]},
    {"input": [28, 28, 1], "layers": [{"type": "avgpool2d", "kernel": 2, "dilation": 2}]},
    {"input": [28, 28, 1], "layers": [{"type": "maxpool2d", "kernel": 2, "ceil_mode": 1}]},
    {"input": [28, 28, 1], "layers": [{"type": "relu", "units": 3}]},
    {"input": [28, 28, 1], "layers": [{"type": "swish"}]},
    {"input": [28, 28, 1], "layers": [{"type": "dense", "units": 10, "bias": 0}]},
    {"input": [28, 28, 1], "layout": "NHWC"},
    {"input": [28, 28], "layers": []},
    {"input": [28, 28, 1], "extra": 1},
    {"layers": []},
]


def test_the_stack_model_accepts_everything_the_spec_parser_accepts():
    layers = _stack_layers()
    assert len(layers) > 50
    for body in VALID_STACKS + [{"input": [64, 64, 3], "layers": [layer]} for layer in layers]:
        parse_stack(body)
        m.LayerStack.model_validate(body)


@pytest.mark.parametrize("body", INVALID_STACKS, ids=lambda b: json.dumps(b)[:60])
def test_the_stack_model_refuses_what_the_spec_parser_refuses_by_type(body):
    with pytest.raises(SpecError):
        parse_stack(body)
    with pytest.raises(ValidationError):
        m.LayerStack.model_validate(body)


VALID_POOLS = [
    {"input": [[1, 3, 1, 0], [2, 8, 2, 4], [1, 3, 1, 5], [0, 0, 6, 2]], "op": "max", "kernel": 2,
     "stride": 2, "padding": 0},
    {"input": [[[1.5, 2], [3, 4]], [[5, 6], [7, 8]]], "op": "avg", "kernel": [1, 2],
     "count_include_pad": False, "ceil_mode": False},
    {"input": [[1, 2], [3, 4]], "op": "min", "global": True},
    {"input": [[1, 2, 3], [4, 5, 6], [7, 8, 9]], "op": "max", "kernel": 2, "stride": 1,
     "padding": "same", "dilation": 1},
]
INVALID_POOLS = [
    {"input": [[1, 2], [3, 4]], "op": "median", "kernel": 2},
    {"input": [[1, 2], [3, 4]], "op": "max", "kernel": 2, "count_include_pad": True},
    {"input": [[1, 2], [3, 4]], "op": "max", "kernel": 2.5},
    {"input": [[1, 2], [3, "4"]], "op": "max", "kernel": 2},
    {"input": [[1, 2], [3, 4]], "op": "max", "kernel": 2, "global": 1},
    {"input": [[1, 2], [3, 4]], "op": "max", "kernel": 2, "size": 2},
]


def test_the_pool_model_accepts_everything_the_spec_parser_accepts():
    for body in VALID_POOLS:
        parse_pool(body)
        m.PoolBody.model_validate(body)


@pytest.mark.parametrize("body", INVALID_POOLS, ids=lambda b: json.dumps(b)[:60])
def test_the_pool_model_refuses_what_the_spec_parser_refuses_by_type(body):
    with pytest.raises(SpecError):
        parse_pool(body)
    with pytest.raises(ValidationError):
        m.PoolBody.model_validate(body)


# ---------------------------------------------------------------- the docs page


def test_the_docs_page_shows_every_operation_and_runs_no_script(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    for op in OPERATIONS:
        assert f'id="op-{op.endpoint}"' in page
        assert f"<code>{op.path}</code>" in page
    for name in ("GradeRequest", "SubmissionRequest", "ProblemOut", "ErrorBody"):
        assert f'id="schema-{name}"' in page
    assert "<script" not in page.lower()
    assert not re.search(r"\son[a-z]+\s*=", page)  # no inline event handlers
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "Idempotency-Key: $(uuidgen)" in page  # the curl examples
    assert "cdn" not in page.lower()


def test_routes_taking_an_optional_key_declare_its_401():
    doc = document()
    for path in ("/solve", "/pool", "/kinds"):
        (op,) = doc["paths"][path].values()
        assert op["security"] == [{}, {"apiKey": []}]
        assert "revoked" in op["responses"]["401"]["description"], path


def test_the_error_schema_documents_the_lists_of_a_422_and_the_reason_of_a_409():
    schemas = document()["components"]["schemas"]
    detail = schemas["ErrorDetail"]["properties"]
    for name in ("errors", "format_errors", "reason"):
        assert detail[name]["description"], name
    assert set(schemas["FieldError"]["properties"]) == {"path", "message"}


def test_a_variants_student_is_documented_as_an_enrolled_email_only():
    (op,) = document()["paths"][
        "/sets/{set_id}/items/{item_id}/variants/{student}"].values()
    (student,) = [p for p in op["parameters"] if p["name"] == "student"]
    assert "enrolled" in student["description"]
    assert "own student id" not in student["description"]


def test_the_docs_page_says_limits_are_per_worker_without_redis(app, client):
    page = client.get("/api/v1/docs").get_data(as_text=True)
    assert app.config["RATELIMIT_STORAGE_URI"].startswith("memory://")
    assert "each worker process on its own" in page and "REDIS_URL" in page
    app.config["RATELIMIT_STORAGE_URI"] = "redis://127.0.0.1:6379/0"  # only read by the page
    page = client.get("/api/v1/docs").get_data(as_text=True)
    assert "each worker process on its own" not in page
    assert "never more than the limit is admitted" in page


README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_api_examples_name_the_demo_students_and_a_gradable_problem(client,
                                                                               api_key):
    """The README's problem and grade bodies are the documented examples, which grade to
    full marks; its students are the demo course's (scripts/run.sh)."""
    text = README.read_text()
    section = text[text.index("## The JSON API"):text.index("## LMS integration")]
    assert json.dumps(PROBLEM_EXAMPLE) in section and json.dumps(GRADE_EXAMPLE) in section
    assert not re.search(r"(?<![-\w])student\d@example\.edu", section)
    assert "demo-student1@example.edu" in section
    made = post(client, "/problems", PROBLEM_EXAMPLE, api_key)
    assert made.status_code == 201
    assert [p["id"] for p in made.get_json()["parts"]] == list(GRADE_EXAMPLE["answers"])
    graded = post(client, f"/problems/{made.get_json()['id']}/grade", GRADE_EXAMPLE,
                  api_key, "readme-1")
    assert graded.status_code == 201, graded.get_data(as_text=True)
    assert graded.get_json()["score"] == graded.get_json()["max_score"]


def test_a_missing_part_is_a_422_naming_it_and_nothing_is_recorded(app, client, api_key):
    made = post(client, "/problems", PROBLEM_EXAMPLE, api_key).get_json()
    graded = post(client, f"/problems/{made['id']}/grade",
                  {"answers": {"shape_0": "12x12x8"}}, api_key, "partial-1")
    assert graded.status_code == 422
    error = error_of(graded)
    assert error["path"] == "answers.shape_1"
    assert [e["path"] for e in error["format_errors"]] == ["answers.shape_1"]
    again = post(client, f"/problems/{made['id']}/grade", GRADE_EXAMPLE, api_key, "partial-1")
    assert again.status_code == 201  # the key was not used


def test_run_sh_lets_long_urls_reach_the_app():
    """gunicorn's default request line (4094 bytes) answers a 414 in HTML before the app;
    scripts/run.sh raises it to gunicorn's maximum, as the README says."""
    script = (README.parent / "scripts" / "run.sh").read_text()
    assert re.search(r"gunicorn wsgi:app[^&]*--limit-request-line 8190", script)
    assert "8190 bytes" in README.read_text()
