"""Secrets sealed with the app's SECRET_KEY: Fernet (AES-128-CBC with an HMAC-SHA256), with
one key per purpose derived from SECRET_KEY by HKDF, so a secret sealed for one purpose
cannot be opened as another's.

Used for what must not be readable by whoever holds a copy of the database or of a
cookie: the tool's LTI private keys at rest (grader/lti/keys.py) and a new API key on its
way to the page that shows it once (in the signed, but not encrypted, session cookie).
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def fernet(secret_key: str, purpose: str) -> Fernet:
    """The cipher for `purpose` (and only for it), derived from `secret_key`."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=f"cnnquiz {purpose}".encode()).derive(secret_key.encode("utf-8"))
    return Fernet(base64.urlsafe_b64encode(derived))
