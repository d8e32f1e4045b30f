"""Settings from environment variables, with safe defaults for a laptop."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

INSTANCE = Path(os.environ.get("GRADER_INSTANCE", Path.cwd() / "instance"))


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one kept in the instance folder so sessions
    survive a restart (never a hard-coded default)."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    INSTANCE.mkdir(parents=True, exist_ok=True)
    path = INSTANCE / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _base_url() -> str:
    """BASE_URL from the environment, else the address scripts/run.sh last served this
    instance at (it writes it there), so that commands run beside the server (the LTI
    URLs, a registration link) print its address; else the laptop default."""
    if os.environ.get("BASE_URL"):
        return os.environ["BASE_URL"]
    try:
        served = (INSTANCE / "base_url").read_text().strip()
    except OSError:
        served = ""
    return served or "http://127.0.0.1:5000"


def _seconds(name: str, default: float) -> float:
    """A duration in seconds from the environment: a finite number, 0 or more."""
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise ValueError(f"{name}: expected a number of seconds, 0 or more, got {value!r}")
    return seconds


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in ("1", "true", "yes", "on")


class Config:
    """Everything the app reads from the environment, in one place."""

    def __init__(self) -> None:
        self.DATABASE_URL: str = os.environ.get("DATABASE_URL", f"sqlite:///{INSTANCE / 'grader.sqlite3'}")
        self.SECRET_KEY: str = _secret_key()
        self.REDIS_URL: str | None = os.environ.get("REDIS_URL") or None
        self.RATELIMIT_STORAGE_URI: str = self.REDIS_URL or "memory://"
        self.LOGIN_RATE_LIMIT: str = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute")
        self.SESSION_COOKIE_SECURE: bool = _bool("SESSION_COOKIE_SECURE", False)
        self.SESSION_COOKIE_HTTPONLY: bool = True
        # "None" (with SESSION_COOKIE_SECURE) lets the pages work inside an LMS iframe.
        self.SESSION_COOKIE_SAMESITE: str = os.environ.get("SESSION_COOKIE_SAMESITE", "Lax")
        self.MAX_CONTENT_LENGTH: int = int(os.environ.get("MAX_CONTENT_LENGTH", 2 * 1024 * 1024))
        self.WTF_CSRF_TIME_LIMIT: int | None = None  # tied to the session instead
        self.ARGON2_TIME_COST: int = int(os.environ.get("ARGON2_TIME_COST", 2))
        self.ARGON2_MEMORY_COST: int = int(os.environ.get("ARGON2_MEMORY_COST", 19 * 1024))
        self.FRAME_ANCESTORS: str = os.environ.get("FRAME_ANCESTORS", "'self'")
        self.BASE_URL: str = _base_url()
        # Submissions still taken this long after a due date (a class submitting at the
        # deadline queues at the server); pages show the set closed from the due date.
        self.SUBMISSION_GRACE_SECONDS: float = _seconds("SUBMISSION_GRACE_SECONDS", 60.0)
        self.TESTING: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k.isupper()}
