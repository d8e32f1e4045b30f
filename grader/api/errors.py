"""The API's edges: reading a JSON body strictly, turning every refusal into
`{"error": {"path", "message"}}` with a 4xx status, and writing JSON responses.

Paths use the spec's notation: `layers[3].kernel`, `answers.shape_0`; a header is named as
itself (`Idempotency-Key`, `Authorization`), the body as a whole is the empty path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from flask import Response, current_app, request
from pydantic import BaseModel, ValidationError

from problems.contract import load_json
from problems.errors import SpecError

M = TypeVar("M", bound=BaseModel)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
JSON_TYPES = ("application/json",)


class ApiError(Exception):
    """A refusal the client can act on: HTTP `status`, the field `path`, a `message`, and
    optional `extra` members of the error object and response `headers`."""

    def __init__(
        self,
        status: int,
        path: str,
        message: str,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.status = status
        self.path = path
        self.message = message
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": {"path": self.path, "message": self.message, **self.extra}}

    def response(self) -> Response:
        return json_response(self.body(), self.status, self.headers)


def dumps(value: Any) -> str:
    """Compact JSON, the same bytes for the same value (no NaN: the spec's JSON is strict)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def json_response(
    value: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON response; `value` may already be serialized text (stored responses are)."""
    text = value if isinstance(value, str) else dumps(value)
    response = Response(text, status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    for name, header in (headers or {}).items():
        response.headers[name] = header
    return response


# ---------------------------------------------------------------- paths


def join_path(parts: Iterable[str | int]) -> str:
    """`("layers", 3, "kernel")` → `layers[3].kernel`; odd keys are quoted: `answers["a b"]`."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
    return out


def _describe(value: Any) -> str:
    text = dumps(value) if isinstance(value, (str, int, float, bool, type(None))) else type(
        value
    ).__name__
    if isinstance(value, (dict, list)):
        text = "an object" if isinstance(value, dict) else "an array"
    return text if len(text) <= 40 else text[:37] + "..."


def _message(error: Mapping[str, Any], model: type[BaseModel]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        loc = error["loc"]
        if len(loc) == 1:
            allowed = ", ".join(model.model_fields)
            return f"is not a field of this request (allowed: {allowed})"
        return "is not a field of this request"
    if kind == "model_type":
        return f"expected a JSON object, got {_describe(error.get('input'))}"
    message = str(error["msg"])
    message = message[0].lower() + message[1:] if message else kind
    if "input" in error and kind not in ("string_too_long", "too_long"):
        message += f" (got {_describe(error['input'])})"
    return message


def validation_error(err: ValidationError, model: type[BaseModel]) -> ApiError:
    """A 422 naming the first bad field; every problem is listed under `errors`."""
    problems = []
    for e in err.errors(include_url=False):
        loc = list(e["loc"])
        key_error = bool(loc) and loc[-1] == "[key]"
        if key_error:
            loc.pop()
        message = _message(e, model)
        if key_error:
            message = f"the key {message}"
        problems.append({"path": join_path(loc), "message": message})
    first = problems[0]
    extra = {"errors": problems} if len(problems) > 1 else None
    return ApiError(422, first["path"], first["message"], extra)


# ---------------------------------------------------------------- bodies


def read_json() -> Any:
    """The request body as strict JSON: 415 for another Content-Type, 413 if too large,
    400 naming the line and column if it does not parse."""
    mimetype = request.mimetype
    if mimetype not in JSON_TYPES and not (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    ):
        shown = mimetype or "none"
        raise ApiError(
            415, "Content-Type", f"expected application/json, got {shown}",
        )
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is not None and request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "", f"the body is too large (at most {limit:,} bytes)")
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise ApiError(400, "", "the body is empty: send a JSON object")
    try:
        return load_json(raw)
    except SpecError as err:
        raise ApiError(400, err.path, err.message) from None


def parse(model: type[M], value: Any) -> M:
    """Validate parsed JSON against a strict pydantic model (422 naming the field)."""
    try:
        return model.model_validate(value, strict=True)
    except ValidationError as err:
        raise validation_error(err, model) from None


def canonical(value: Any) -> str:
    """The canonical text of a JSON value (sorted keys, no spaces): what request hashes cover."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
