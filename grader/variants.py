"""A variant is a seed: derived from the set's secret, the student and the item."""

from __future__ import annotations

import hashlib
import hmac

from problems import kinds
from problems.kinds.base import Problem


def variant_seed(secret: str, user_public_id: str, item_public_id: str) -> int:
    """The same student and item always give the same seed; neighbours differ (HMAC-SHA256)."""
    digest = hmac.new(secret.encode(), f"{user_public_id}:{item_public_id}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


def variant(secret: str, user_public_id: str, item_public_id: str, kind: str, difficulty: int) -> Problem:
    """The problem a student sees for an item."""
    return kinds.generate(kind, difficulty, variant_seed(secret, user_public_id, item_public_id))
