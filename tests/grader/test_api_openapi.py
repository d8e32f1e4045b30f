"""The OpenAPI document and the docs page agree with the code: every route is documented,
every documented request model is the one its route validates with, the spec's models
describe what problems.spec accepts, and the docs page renders without scripts."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from pydantic import ValidationError
from test_api_helpers import api_key_fixture, error_of, post  # noqa: F401  (fixture)

from grader.api import schemas as m
from grader.api.openapi import OPERATIONS, document
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
