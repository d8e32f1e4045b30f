"""The API's edges: reading a JSON body strictly, turning every refusal into
`{"error": {"path", "message"}}` with a 4xx status, and writing JSON responses.

Paths use the spec's notation: `layers[3].kernel`, `answers.shape_0`; a header is named as
itself (`Idempotency-Key`, `Authorization`), the body as a whole is the empty path.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any, TypeVar

import orjson
from flask import Response, current_app, request
from pydantic import BaseModel, ValidationError

from grader.api.schemas import NO_NUL
from problems.contract import MAX_BODY_BYTES, join_path, load_json
from problems.errors import SpecError

M = TypeVar("M", bound=BaseModel)
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
    """Compact JSON, the same bytes for the same value. orjson writes it, about ten times
    faster than the json module (every response is written so, a grade's on every grading
    request); what orjson refuses (an integer beyond 64 bits, a lone surrogate echoed in an
    error message, a key that is not text) the json module writes. No NaN or infinity
    reaches here: bodies holding one are refused, and the solver refuses what would overflow
    (orjson would write null, the json module refuses it)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def json_response(
    value: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON response; `value` may already be serialized text (stored responses are).

    A lone UTF-16 surrogate (a refused `"\\ud800"` echoed in an error message) cannot be
    encoded as UTF-8: it is written as its JSON escape instead (it can only be in a string)."""
    text = value if isinstance(value, str) else dumps(value)
    body = text.encode("utf-8", "backslashreplace")
    response = Response(body, status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    for name, header in (headers or {}).items():
        response.headers[name] = header
    return response


# ---------------------------------------------------------------- paths


def _describe(value: Any) -> str:
    """A short text of a refused value. Never raises: a float literal too large for a double
    (`1e400`) reaches the models as infinity, which `dumps` refuses."""
    if isinstance(value, float) and not math.isfinite(value):
        text = "a number out of range"
    elif isinstance(value, (str, int, float, bool, type(None))):
        text = dumps(value)
    elif isinstance(value, (dict, list)):
        text = "an object" if isinstance(value, dict) else "an array"
    else:
        text = type(value).__name__
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
    if kind == "string_pattern_mismatch" and error.get("ctx", {}).get("pattern") == NO_NUL:
        return "must not contain a NUL character (\\u0000)"
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
    400 naming the line and column if it does not parse, 422 naming the place of a NaN or
    of a key given twice (see `load_strict`)."""
    environ = request.environ
    if environ.get("CONTENT_TYPE") not in JSON_TYPES:  # else parse it (parameters, case)
        mimetype = request.mimetype
        if mimetype not in JSON_TYPES and not (
            mimetype.startswith("application/") and mimetype.endswith("+json")
        ):
            shown = mimetype or "none"
            raise ApiError(
                415, "Content-Type", f"expected application/json, got {shown}",
            )
    encoding = environ.get("HTTP_CONTENT_ENCODING")
    if encoding is not None and encoding.strip().lower() not in ("", "identity"):
        raise ApiError(415, "Content-Encoding", f"bodies are read as sent: send the JSON "
                       f"uncompressed (Content-Encoding {encoding[:40]!r} is not supported)")
    length = request.content_length
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is not None and length is not None and length > limit:
        raise ApiError(413, "", f"the body is too large (at most {limit:,} bytes)")
    if length is not None:
        # The usual body, of a known length (within the limit): read as it is, without
        # werkzeug's stream wrappers, which cost as much as parsing it. A body cut short
        # (the client left) does not parse, and is refused so.
        raw = environ["wsgi.input"].read(length)
    elif environ.get("wsgi.input_terminated"):  # chunked: read to its end, or past the limit
        raw = _read_unsized(environ["wsgi.input"], limit if limit is not None else MAX_BODY_BYTES)
    else:  # no length and a server that does not end the stream: werkzeug reads nothing
        raw = request.get_data(cache=True)
    if not raw.strip():
        raise ApiError(400, "", "the body is empty: send a JSON object")
    return load_strict(raw)


def _read_unsized(stream: Any, limit: int) -> bytes:
    """A body without Content-Length, read to its end; 413 as soon as it holds one byte
    more than `limit` (werkzeug's own reading stops at the limit, silently cutting it)."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = stream.read(min(64 * 1024, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
    raise ApiError(413, "", f"the body is too large (at most {limit:,} bytes)")


def load_strict(raw: bytes | str) -> Any:
    """The body as strict JSON (problems.contract.load_json: UTF-8, no NaN or Infinity, no
    key given twice, no integer too long to read, each refused naming its place), and no
    text holding a lone UTF-16 surrogate. 413 past MAX_BODY_BYTES; 400 for a body that does
    not parse (the line and column of a syntax error); 422 naming the place of what it
    refuses in one that does."""
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, "", f"the body is too large (at most {MAX_BODY_BYTES:,} bytes)")
    try:
        value = load_json(raw)
    except SpecError as err:
        # A body that does not parse is malformed (400); one that parses but holds what
        # the API refuses at a named place (NaN, Infinity, a key given twice, an integer
        # too long) is unprocessable, as the spec's §4 says of NaN (422).
        raise ApiError(422 if err.path else 400, err.path, err.message) from None
    if _SURROGATE_ESCAPE.search(raw if isinstance(raw, bytes) else raw.encode(
            "utf-8", "surrogatepass")) is not None:
        refusal = _lone_surrogate_place(value)
        if refusal is not None:
            raise refusal
    return value


# A UTF-16 surrogate written as an escape, or as raw bytes (json.loads decodes bytes with
# "surrogatepass"). A pair is one character; a lone one is no text at all: no UTF-8 encodes
# it, so neither the database nor a response could hold it.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}|\xed[\xa0-\xbf]")


def _lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _lone_surrogate_place(value: Any) -> ApiError | None:
    """The 422 for the first text of `value` (in document order) holding a lone surrogate;
    None if there is none. Iterative: the body may nest as deep as the parser allows."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str) and _lone_surrogate(node):
            return ApiError(422, join_path(path), "not valid JSON text: a lone UTF-16 "
                            "surrogate (\\ud800 to \\udfff) is not a character")
        if isinstance(node, dict):
            for key in node:
                if _lone_surrogate(key):
                    return ApiError(422, join_path((*path, key)), "not valid JSON text: a "
                                    "key holds a lone UTF-16 surrogate (\\ud800 to \\udfff)")
            stack.extend((v, (*path, k)) for k, v in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((v, (*path, i)) for i, v in reversed(list(enumerate(node))))
    return None


def parse(model: type[M], value: Any) -> M:
    """Validate parsed JSON against a strict pydantic model (422 naming the field)."""
    try:
        return model.model_validate(value, strict=True)
    except ValidationError as err:
        raise validation_error(err, model) from None


def canonical(value: Any) -> str:
    """The canonical text of a JSON value (sorted keys, no spaces): what request hashes
    cover, so it must not change between versions. orjson writes it: for objects, arrays,
    text, integers, true, false and null (all that a body the API hashes can hold: its
    models refuse floats) that is the very text of `json.dumps(value, ensure_ascii=False,
    separators=(",", ":"), sort_keys=True)`, which wrote it before (tests check both agree).
    What orjson refuses (an integer beyond 64 bits) the json module writes."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
