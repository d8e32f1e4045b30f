"""The API's rate limit: one budget per API key (API_RATE_LIMIT) or, without a key, per
client address (API_ANON_RATE_LIMIT), shared by every route of the API except those declared
`rate_limited=False`, counted in Flask-Limiter's storage (RATELIMIT_STORAGE_URI: Redis when
REDIS_URL is set, so that every worker and server shares the count) in fixed windows.

Asking the storage on every request costs a round trip to Redis, which was the largest part
of a grading request. So a worker takes its share of a budget in small **leases**: one
INCRBY of n units counts n requests in the shared counter at once, and the worker then
admits n requests without asking again, until the lease or the window runs out.

- Never more than the limit: every admitted request was counted in the shared counter
  before it was admitted; a lease that would cross the limit is cut to what is left.
- A lease is at most 1% of the limit (`LEASE_SHARE`) and never more than `MAX_LEASE`; a
  limit under 200 per window leases one unit at a time, which is exact. Near the end of a
  window, at most (n - 1) units per worker sit in leases unused, so a key may be refused
  that much early (for "600 per minute" and 4 workers: 20 of 600).
- A storage that fails lets requests through (logged): grading must not stop because Redis
  did.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from functools import lru_cache

from flask import Flask, current_app, request
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse_many

from grader.api.auth import identified_caller, refuse_if_revoked
from grader.api.errors import ApiError
from grader.api.openapi import current_operation
from grader.extensions import limiter

log = logging.getLogger("grader.api")
SCOPE = "api"
LEASE_SHARE = 0.01
MAX_LEASE = 100
_MAX_LEASES = 10_000  # identities with a lease per process (then forgotten all at once)


@dataclass
class _Lease:
    left: int  # requests this worker may still admit without asking the storage
    until: float  # the end of the window the units were counted in (time.time())


class Leases:
    """One process's leases for one app, by storage key; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[str, _Lease] = {}

    def admit(self, limit: RateLimitItem, who: str) -> float | None:
        """None to admit a request of `who` under `limit`, else the time its window resets
        (refused). Raises what the storage raises."""
        key = limit.key_for(SCOPE, who)
        now = time.time()
        with self._lock:
            lease = self._by_key.get(key)
            if lease is not None and lease.left > 0 and now < lease.until:
                lease.left -= 1
                return None
        storage = limiter.storage
        size = lease_size(limit)
        count = storage.incr(key, limit.get_expiry(), amount=size)
        granted = min(size, limit.amount - (count - size))
        if granted < 1:
            return storage.get_expiry(key)
        if granted > 1:  # this request and (granted - 1) more, until the window ends
            until = storage.get_expiry(key)
            with self._lock:
                if len(self._by_key) >= _MAX_LEASES:
                    self._by_key.clear()
                self._by_key[key] = _Lease(granted - 1, until)
        return None


def lease_size(limit: RateLimitItem) -> int:
    """Units counted per trip to the storage: 1% of the limit, between 1 and MAX_LEASE."""
    return max(1, min(MAX_LEASE, int(limit.amount * LEASE_SHARE)))


@lru_cache(maxsize=64)
def limits_of(text: str) -> tuple[RateLimitItem, ...]:
    """A rate-limit setting ("600 per minute", or several separated by ";") parsed."""
    return tuple(parse_many(text))


def check_rate_limit() -> None:
    """Before every view of the API: a 429 with Retry-After beyond the caller's budget."""
    if not limiter.enabled or not current_operation().rate_limited:
        return
    try:
        caller = identified_caller()  # a revoked key still spends its own budget
    except ApiError:
        caller = None
    if caller is not None:
        setting, who = "API_RATE_LIMIT", f"key:{caller.key_id}"
    else:
        setting, who = "API_ANON_RATE_LIMIT", f"ip:{get_remote_address()}"
    leases: Leases = current_app.extensions["api_leases"]
    for limit in limits_of(str(current_app.config[setting])):
        try:
            reset_at = leases.admit(limit, who)
        except Exception:  # noqa: BLE001 - the storage is down: count nothing, serve
            log.exception("rate limit storage failed; request %s let through", request.path)
            return
        if reset_at is not None:
            if caller is not None:
                refuse_if_revoked(caller)  # a revoked key gets its 401 before any other answer
            wait = retry_after(reset_at)
            raise ApiError(429, "", f"rate limit reached ({limit}): retry in {wait} s",
                           headers={"Retry-After": wait})


def retry_after(reset_at: float | None) -> str:
    """Seconds until the window resets (at least 1)."""
    if reset_at is None:
        return "60"
    return str(max(1, math.ceil(reset_at - time.time())))


def init_app(app: Flask) -> None:
    app.extensions["api_leases"] = Leases()
