"""Password hashing with Argon2id (argon2-cffi), tuned by ARGON2_* settings."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

MIN_LENGTH = 8
MAX_LENGTH = 256


def hasher() -> PasswordHasher:
    """A hasher with this app's cost settings (cheap in tests, OWASP's floor by default)."""
    config = current_app.config
    key = (config["ARGON2_TIME_COST"], config["ARGON2_MEMORY_COST"])
    cached = current_app.extensions.get("password_hasher")
    if cached is None or cached[0] != key:
        cached = (key, PasswordHasher(time_cost=key[0], memory_cost=key[1]))
        current_app.extensions["password_hasher"] = cached
    return cached[1]


def hash_password(password: str) -> str:
    """The Argon2id hash of `password`."""
    return hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; a missing or corrupt hash never matches.

    Without a hash a dummy one is verified anyway, so an unknown account takes as long as
    a wrong password (no timing oracle for which emails exist)."""
    ph = hasher()
    if not password_hash:
        dummy = current_app.extensions.get("password_dummy")
        if dummy is None or not _same_params(ph, dummy):
            dummy = ph.hash("not a password: timing equaliser")
            current_app.extensions["password_dummy"] = dummy
        _quiet_verify(ph, dummy, password)
        return False
    return _quiet_verify(ph, password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    """True when the stored hash used other cost settings than the current ones."""
    try:
        return hasher().check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def password_problem(password: str) -> str | None:
    """Why `password` is not acceptable as a new password, or None (NIST 800-63B: length)."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters long"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters long"
    if not password.strip():
        return "must not be only spaces"
    return None


def _quiet_verify(ph: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return ph.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _same_params(ph: PasswordHasher, password_hash: str) -> bool:
    try:
        return not ph.check_needs_rehash(password_hash)
    except InvalidHashError:
        return False
