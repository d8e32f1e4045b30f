"""The API's operation table and the OpenAPI 3.1 document built from it.

Every route of the blueprint is declared with `operation(...)`, which registers the Flask
route AND its entry here (path, auth, request and response models, statuses), so the
document cannot list a route that does not exist or miss one that does. A view reads its
body through `read_body()`, which validates with the request model of its own entry: the
model the document shows is the model the route uses. Schemas come from the pydantic
models' `model_json_schema`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from flask import Blueprint, request
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from grader.api.schemas import ErrorBody

Auth = Literal["key", "optional", "none"]
VERSION = "1.0.0"
PREFIX = "/api/v1"


@dataclass(frozen=True)
class Operation:
    """One documented route. `path` is relative to /api/v1 in OpenAPI notation."""

    method: str
    path: str
    endpoint: str
    summary: str
    description: str
    tag: str
    auth: Auth = "key"
    request: type[BaseModel] | None = None
    # "pydantic": the request model validates the body; "problems.spec": the spec's own
    # parser does (the model documents the same format; a test keeps them in agreement).
    validated_by: Literal["pydantic", "problems.spec"] = "pydantic"
    response: type[BaseModel] | None = None
    status: int = 200
    idempotency_key: bool = False
    errors: tuple[int, ...] = ()
    example: dict[str, Any] | None = None
    media_type: str = "application/json"
    rate_limited: bool = True
    params: dict[str, str] = field(default_factory=dict)

    @property
    def flask_rule(self) -> str:
        return re.sub(r"\{(\w+)\}", lambda m: f"<{PATH_CONVERTERS.get(m[1], '')}{m[1]}>",
                      self.path)


# URL parts that may hold "/": a student id is often a URL (an LMS's user id), and the WSGI
# server decodes %2F before routing, so only a path converter can match it.
PATH_CONVERTERS = {"student": "path:"}


OPERATIONS: list[Operation] = []
BY_ENDPOINT: dict[str, Operation] = {}

STATUS_TEXT = {
    200: "OK", 201: "Recorded (a replay carries `Idempotent-Replayed: true`)",
    400: "Malformed request: the body does not parse as JSON (a syntax error's line and "
         "column are named), or a required header is missing or malformed",
    401: "No API key, or one that is malformed, unknown or revoked",
    404: "Not found in the API key's course",
    409: "The course's rules refuse the submission (not open, past due, no attempts left...)",
    413: "The body is too large",
    415: "The body is not application/json, or is compressed (a Content-Encoding)",
    422: "A field is invalid (its path is named; also a NaN, an Infinity or a key given "
         "twice), an answer cannot be read, or the Idempotency-Key was used with another "
         "request",
    429: "Rate limit reached: retry after `Retry-After` seconds",
}


def operation(bp: Blueprint, method: str, path: str, **details: Any) -> Callable[..., Any]:
    """Register `view` on `bp` at /api/v1`path` and document it."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        op = Operation(method=method.upper(), path=path, endpoint=view.__name__, **details)
        if op.endpoint in BY_ENDPOINT:
            raise RuntimeError(f"operation {op.endpoint} declared twice")
        OPERATIONS.append(op)
        BY_ENDPOINT[op.endpoint] = op

        # merge_slashes=False: "https://lms.example.edu/u/1" keeps its "//" (werkzeug would
        # redirect to the URL with one slash, naming another student).
        bp.add_url_rule(op.flask_rule, op.endpoint, view, methods=[op.method],
                        merge_slashes=False)
        return view

    return decorator


def current_operation() -> Operation:
    """The entry of the route serving this request."""
    endpoint = (request.endpoint or "").rpartition(".")[2]
    return BY_ENDPOINT[endpoint]


# ---------------------------------------------------------------- the document


def _models() -> list[type[BaseModel]]:
    seen: list[type[BaseModel]] = [ErrorBody]
    for op in OPERATIONS:
        for model in (op.request, op.response):
            if model is not None and model not in seen:
                seen.append(model)
    return seen


def _json(schema_name: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}}


def _operation_doc(op: Operation) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "operationId": op.endpoint,
        "summary": op.summary,
        "description": op.description,
        "tags": [op.tag],
    }
    if op.auth == "key":
        doc["security"] = [{"apiKey": []}]
    elif op.auth == "optional":
        doc["security"] = [{}, {"apiKey": []}]
    else:
        doc["security"] = []
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"},
         "description": op.params.get(name, "")}
        for name in re.findall(r"\{(\w+)\}", op.path)
    ]
    if op.idempotency_key:
        parameters.append({
            "name": "Idempotency-Key", "in": "header", "required": True,
            # What routes.idempotency_key() accepts: printable ASCII but the comma, not
            # only spaces.
            "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                       "pattern": r"^[\x20-\x2b\x2d-\x7e]*[\x21-\x2b\x2d-\x7e]"
                                  r"[\x20-\x2b\x2d-\x7e]*$"},
            "description": "Your unique id for this request (a UUID is fine): 1 to 255 "
            "printable ASCII characters without a comma, in one header (a header sent twice "
            "is refused). A retry with "
            "the same key and body returns the first response unchanged, with "
            "`Idempotent-Replayed: true`; the same key with another body or URL is refused "
            "(422). Keys belong to the API key, and grading (`/problems/{problem_id}/grade`) "
            "and submissions (`/sets/.../submissions`) each have their own: one value may "
            "serve once in each.",
        })
    if parameters:
        doc["parameters"] = parameters
    if op.request is not None:
        body: dict[str, Any] = {"required": True, "content": _json(op.request.__name__)}
        if op.example is not None:
            body["content"]["application/json"]["example"] = op.example
        doc["requestBody"] = body
    responses: dict[str, Any] = {}
    ok: dict[str, Any] = {"description": STATUS_TEXT.get(op.status, "OK")}
    if op.status == 201 and not op.idempotency_key:
        ok["description"] = "Created"
    if op.response is not None:
        ok["content"] = _json(op.response.__name__)
    elif op.media_type != "application/json":
        ok["content"] = {op.media_type: {"schema": {"type": "string"}}}
    else:
        ok["content"] = {"application/json": {"schema": {"type": "object"}}}
    if op.idempotency_key:
        ok["headers"] = {"Idempotent-Replayed": {
            "description": "`true` when this is the stored response of an earlier request.",
            "schema": {"type": "string", "enum": ["true"]},
        }}
    responses[str(op.status)] = ok
    statuses = set(op.errors)
    if op.auth != "none":  # with "optional", a key that is sent is checked
        statuses.add(401)
    if op.request is not None:
        statuses |= {400, 413, 415, 422}
    if op.rate_limited:
        statuses.add(429)
    for status in sorted(statuses):
        text = STATUS_TEXT[status]
        if status == 401 and op.auth == "optional":
            text = ("An API key was sent that is malformed, unknown or revoked (without "
                    "one, the route answers anonymously)")
        entry: dict[str, Any] = {"description": text, "content": _json("ErrorBody")}
        if status == 429:
            entry["headers"] = {"Retry-After": {"schema": {"type": "integer"},
                                                "description": "Seconds to wait."}}
        responses[str(status)] = entry
    doc["responses"] = responses
    return doc


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every declared operation."""
    _, top = models_json_schema(
        [(m, "validation") for m in _models()],
        ref_template="#/components/schemas/{model}",
    )
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation_doc(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "CNN Quiz API",
            "version": VERSION,
            "description": (
                "Make randomized CNN-arithmetic problems, grade answers, record course "
                "submissions and read the gradebook. Authenticate with a course API key "
                "(`Authorization: Bearer cnnq_...`); `solve`, `pool`, `kinds` also answer "
                "without one, at a lower per-address rate limit. Bodies are strict JSON in "
                "UTF-8 (a leading UTF-8 BOM is ignored; UTF-16 and UTF-32 are refused): "
                "an integer is written as one (`2`, not `2.0`, though JSON Schema counts both "
                "as integers), NaN and Infinity are refused, and an object gives each key "
                'once. Errors are `{"error": {"path", "message"}}` naming the field; so are '
                "the answers of paths and methods this document does not list: a 404 for a "
                "path, a 405 (with `Allow`) for a method a path does not take."
            ),
        },
        "servers": [{"url": PREFIX}],
        "paths": paths,
        "components": {
            "schemas": top.get("$defs", {}),
            "securitySchemes": {
                "apiKey": {
                    "type": "http", "scheme": "bearer", "bearerFormat": "cnnq_<id>_<secret>",
                    "description": "A course API key, created by an instructor on the "
                    "course's API keys page (or `flask create-api-key`).",
                },
            },
        },
    }
