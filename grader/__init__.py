"""The Flask service: students answer, instructors run problem sets, every answer recorded."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from functools import lru_cache
from typing import Any

from flask import Flask, abort, g, jsonify, render_template, request
from markupsafe import Markup
from werkzeug.exceptions import HTTPException

from grader import db
from grader.config import Config
from grader.extensions import csrf, limiter, login_manager

log = logging.getLogger("grader")


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The application factory: settings from the environment, overridden by `config`."""
    app = Flask(__name__)
    app.config.update(Config().as_dict())
    if config:
        app.config.update(config)
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("RATELIMIT_STORAGE_URI", "memory://"))

    db.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)

    from grader import auth, cli, instructor, student

    app.register_blueprint(auth.bp)
    app.register_blueprint(student.bp)
    app.register_blueprint(instructor.bp)
    from grader import api  # the JSON API (CSRF-exempt: bearer keys, no cookies) and its key page

    api.init_app(app)
    from grader import lti  # LTI 1.3 tool (/lti, CSRF-exempt: state+nonce+signature), /teach/lti

    lti.init_app(app)
    cli.init_app(app)

    _security_headers(app)
    app.jinja_env.globals["moment"] = moment
    _error_handlers(app)
    _no_nul_in_page_input(app)
    return app


def _no_nul_in_page_input(app: Flask) -> None:
    """A NUL character (`%00`) is in no id, code, email or text of ours, and PostgreSQL's
    text cannot even hold one to compare (a query with one failed with a 500). So, on the
    pages: a URL part holding one names nothing (404), and a query or form field holding
    one is refused naming the field (400). The JSON API refuses them itself, naming the
    place (grader.api)."""

    @app.url_value_preprocessor
    def _refuse_nul(endpoint: str | None, values: dict[str, Any] | None) -> None:
        if values and not (endpoint or "").startswith("api.") and any(
                isinstance(v, str) and "\x00" in v for v in values.values()):
            abort(404)

    @app.before_request
    def _refuse_nul_fields() -> None:
        if request.blueprint == "api":
            return
        for source in (request.args, request.form):
            for name, value in source.items(multi=True):
                if "\x00" in name or "\x00" in value:
                    shown = name.replace("\x00", "\\0")[:40]
                    abort(400, description=f"The field {shown!r} holds a NUL character (\\0), "
                                           "which no text here can hold: remove it and send "
                                           "the form again.")


def _security_headers(app: Flask) -> None:
    @app.before_request
    def _request_id() -> None:
        g.request_id = request.headers.get("X-Request-Id", "")[:64] or secrets.token_hex(8)

    @app.after_request
    def _headers(response: Any) -> Any:
        response.headers.setdefault(
            "Content-Security-Policy", content_security_policy(app.config["FRAME_ANCESTORS"])
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers["X-Request-Id"] = g.get("request_id", "")
        return response


def moment(value: datetime | None) -> Markup:
    """A stored time for a page: `2026-12-01 17:00 UTC` in a <time> element, which
    static/js/localtime.js follows with the reader's own local time where that differs."""
    from grader.services.attempts import aware, format_time  # the pages' text of a time

    value = aware(value)
    if value is None:
        return Markup("")
    return Markup('<time datetime="{}" data-local>{}</time>').format(
        value.strftime("%Y-%m-%dT%H:%M:%SZ"), format_time(value))


@lru_cache(maxsize=8)
def content_security_policy(frame_ancestors: str) -> str:
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
        f"img-src 'self' data:; font-src 'self'; frame-ancestors {frame_ancestors}; "
        "base-uri 'self'; form-action 'self'"
    )


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def _api_message(err: HTTPException) -> str:
    """What an API client is told when no route matched its request."""
    if err.code == 404:
        return f"no API route at {request.path[:200]!r}: the routes are listed at /api/v1/docs"
    if err.code == 405:
        allowed = getattr(err, "valid_methods", None) or []
        return (f"{request.method} is not allowed here (allowed: "
                f"{', '.join(allowed) or 'none'}; the routes are listed at /api/v1/docs)")
    return str(err.description or err.name)


def _error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Any:
        # The exception's own headers (a 405's Allow), not its HTML Content-Type.
        headers = [(k, v) for k, v in err.get_headers() if k.lower() != "content-type"]
        if request.path.startswith("/api/"):  # no route matched: the API's own error body
            from grader.api.errors import ApiError

            return ApiError(err.code or 500, "", _api_message(err),
                            headers=dict(headers)).response()
        if _wants_json():
            body = {"error": {"path": "", "message": err.description or err.name, "status": err.code}}
            return jsonify(body), err.code, headers
        return render_template("error.html", error=err), err.code, headers

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Any:
        log.exception("unhandled error (request %s)", g.get("request_id"))
        message = "Something went wrong on our side; nothing was recorded from this request."
        if _wants_json():
            return jsonify({"error": {"path": "", "message": message, "request_id": g.get("request_id")}}), 500
        return render_template("error.html", error=None, message=message, request_id=g.get("request_id")), 500
