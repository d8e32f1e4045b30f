"""The student pages: my sets, a set's items, an item to answer (with autosave) and its
feedback, and a review of each past attempt."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("student", __name__)

from grader.student import routes  # noqa: E402,F401  (registers the views on bp)

__all__ = ["bp"]
