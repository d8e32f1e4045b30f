"""The API's documentation page, rendered on the server from the OpenAPI document (no
scripts, no CDN: CSP is `script-src 'self'`)."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import current_app, render_template, request
from markupsafe import Markup, escape

_CODE = re.compile(r"`([^`]+)`")
TAG_ORDER = ("Problems", "Course", "Solver", "Service")


def prose(text: str) -> Markup:
    """Plain text with `code` spans, escaped."""
    escaped = str(escape(text))
    return Markup(_CODE.sub(lambda m: f"<code>{m.group(1)}</code>", escaped))


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def type_text(schema: dict[str, Any]) -> Markup:
    """A schema as a short readable type: `integer (1 to 3)`, `array of Part`, ..."""
    if "$ref" in schema:
        name = _ref_name(schema["$ref"])
        return Markup(f'<a href="#schema-{escape(name)}">{escape(name)}</a>')
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [type_text(s) for s in schema[key]]
            return Markup(" or ").join(options)
    if "const" in schema:
        return Markup(f"<code>{escape(json.dumps(schema['const']))}</code>")
    if "enum" in schema:
        values = [f"<code>{escape(json.dumps(v))}</code>" for v in schema["enum"]]
        return Markup("one of " + ", ".join(values))
    kind = schema.get("type", "any")
    if kind == "array":
        text = Markup("array of ") + type_text(schema.get("items", {}))
        if "minItems" in schema and schema.get("minItems") == schema.get("maxItems"):
            text += Markup(f" (exactly {schema['minItems']})")
        elif "maxItems" in schema:
            text += Markup(f" (at most {schema['maxItems']})")
        return text
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return Markup("object of ") + type_text(schema["additionalProperties"])
    text = Markup(escape(kind if isinstance(kind, str) else " or ".join(kind)))
    if "minimum" in schema and "maximum" in schema:
        text += Markup(f" ({schema['minimum']} to {schema['maximum']})")
    elif "minimum" in schema:
        text += Markup(f" (at least {schema['minimum']})")
    elif "maxLength" in schema:
        text += Markup(f" (at most {schema['maxLength']} characters)")
    return text


def fields(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The properties of an object schema as table rows."""
    required = set(schema.get("required", []))
    rows = []
    for name, prop in schema.get("properties", {}).items():
        default = prop.get("default", ...)
        rows.append({
            "name": name,
            "type": type_text(prop),
            "required": name in required,
            "default": None if default is ... else json.dumps(default),
            "description": prose(prop.get("description", "")),
        })
    return rows


def curl(base: str, path: str, method: str, op: dict[str, Any]) -> str:
    """A copyable curl command for an operation (with its example body)."""
    lines = [f"curl -sS -X {method.upper()} '{base}{path}'"]
    security = op.get("security", [])
    if security and security != [{}]:
        lines.append('  -H "Authorization: Bearer $CNNQ_API_KEY"')
    if any(p["name"] == "Idempotency-Key" for p in op.get("parameters", [])):
        lines.append('  -H "Idempotency-Key: $(uuidgen)"')
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    if "example" in body:
        lines.append("  -H 'Content-Type: application/json'")
        lines.append(f"  -d '{json.dumps(body['example'])}'")
    return " \\\n".join(lines)


def render_docs(doc: dict[str, Any]) -> Any:
    """The documentation page of `doc` (an OpenAPI 3.1 document)."""
    base = request.url_root.rstrip("/") + doc["servers"][0]["url"]
    groups: dict[str, list[dict[str, Any]]] = {}
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            body_ref = (op.get("requestBody", {}).get("content", {})
                        .get("application/json", {}).get("schema", {}).get("$ref"))
            security = op.get("security", [])
            auth = ("none" if not security else "optional" if {} in security else "key")
            groups.setdefault(op["tags"][0], []).append({
                "id": op["operationId"],
                "method": method.upper(),
                "path": path,
                "summary": op["summary"],
                "description": prose(op.get("description", "")),
                "auth": auth,
                "params": [
                    {"name": p["name"], "in": p["in"], "required": p.get("required", False),
                     "description": prose(p.get("description", ""))}
                    for p in op.get("parameters", [])
                ],
                "body": _ref_name(body_ref) if body_ref else None,
                "responses": [
                    {"status": status, "description": prose(r.get("description", "")),
                     "schema": _ref_name(r["content"]["application/json"]["schema"]["$ref"])
                     if "$ref" in r.get("content", {}).get("application/json", {})
                     .get("schema", {}) else None}
                    for status, r in op["responses"].items()
                ],
                "curl": curl(base, path, method, op),
            })
    order = {tag: i for i, tag in enumerate(TAG_ORDER)}
    groups = dict(sorted(groups.items(), key=lambda kv: order.get(kv[0], len(order))))
    schemas = [
        {"name": name, "description": prose(s.get("description", "")), "fields": fields(s),
         "type": type_text(s) if "properties" not in s else None}
        for name, s in sorted(doc["components"]["schemas"].items())
    ]
    return render_template(
        "api/docs.html", doc=doc, base=base, groups=groups, schemas=schemas,
        info=prose(doc["info"]["description"]),
        rate_limit=current_app.config.get("API_RATE_LIMIT"),
        anon_rate_limit=current_app.config.get("API_ANON_RATE_LIMIT"),
        # memory:// counts in each worker process alone (no REDIS_URL)
        shared_limits=not str(current_app.config.get("RATELIMIT_STORAGE_URI", "memory://"))
        .startswith("memory://"),
    )
