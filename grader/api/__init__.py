"""The versioned JSON API under /api/v1 (blueprint "api") and the instructor's API-key page
(blueprint "api_keys", /teach/courses/<course>/api-keys).

Kept import-light: `grader.models` imports `grader.api.models`, so the views are imported
only by `init_app`.
"""

from __future__ import annotations

import os

from flask import Flask

DEFAULT_RATE_LIMIT = "600 per minute"
DEFAULT_ANON_RATE_LIMIT = "60 per minute"


def init_app(app: Flask) -> None:
    """Register both blueprints, exempt the API (bearer keys, no cookies) from CSRF, and
    set the API's configuration defaults (from the environment when set)."""
    from grader.api import connection, limits
    from grader.api.routes import bp
    from grader.api.ui import bp as keys_bp
    from grader.extensions import csrf

    app.config.setdefault("API_RATE_LIMIT", os.environ.get("API_RATE_LIMIT", DEFAULT_RATE_LIMIT))
    app.config.setdefault(
        "API_ANON_RATE_LIMIT", os.environ.get("API_ANON_RATE_LIMIT", DEFAULT_ANON_RATE_LIMIT)
    )
    csrf.exempt(bp)
    app.register_blueprint(bp)
    app.register_blueprint(keys_bp)
    connection.init_app(app)
    limits.init_app(app)
