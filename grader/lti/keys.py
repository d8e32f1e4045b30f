"""The tool's own RSA keys: made once with `cryptography`, kept in the database (every worker
and host signs with the same key), published as a JWKS with RFC 7638 thumbprints as `kid`.

Rotation adds a new signing key and keeps the old public keys in the JWKS until they are
dropped, so a platform holding a token or a cached key set from before still verifies.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.lti.models import LtiKey
from grader.models import utcnow

KEY_SIZE = 2048


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 JWK thumbprint of an RSA public key (base64url SHA-256)."""
    canonical = json.dumps({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]},
                           separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def public_jwk(private_key: rsa.RSAPrivateKey) -> dict[str, Any]:
    """The public half as a JWK with `kid`, `alg` RS256 and `use` sig."""
    numbers = private_key.public_key().public_numbers()
    jwk = {"kty": "RSA", "e": _b64(numbers.e), "n": _b64(numbers.n)}
    jwk.update(kid=thumbprint(jwk), alg="RS256", use="sig")
    return jwk


def new_key(s: Session) -> LtiKey:
    """Make a key pair and store it as the newest (signing) key."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    jwk = public_jwk(private_key)
    key = LtiKey(kid=jwk["kid"], private_pem=pem, public_jwk=jwk)
    s.add(key)
    s.flush()
    return key


def signing_key(s: Session) -> LtiKey:
    """The newest active key, made on first use."""
    key = s.scalars(
        select(LtiKey).where(LtiKey.retired_at.is_(None)).order_by(LtiKey.id.desc()).limit(1)
    ).first()
    return key if key is not None else new_key(s)


def published(s: Session) -> list[LtiKey]:
    """Every key in our JWKS: the active ones and the retired ones not yet dropped."""
    return list(s.scalars(select(LtiKey).order_by(LtiKey.id)))


def jwks(s: Session) -> dict[str, Any]:
    """Our JWKS document (public keys only); makes the first key if there is none."""
    keys = published(s)
    if not keys:
        keys = [new_key(s)]
    return {"keys": [dict(k.public_jwk) for k in keys]}


def rotate(s: Session) -> LtiKey:
    """A new signing key; the previous ones are retired but stay published."""
    now = utcnow()
    for key in s.scalars(select(LtiKey).where(LtiKey.retired_at.is_(None))):
        key.retired_at = now
    return new_key(s)


def drop(s: Session, kid: str) -> bool:
    """Stop publishing a retired key (the active key cannot be dropped)."""
    key = s.scalars(select(LtiKey).where(LtiKey.kid == kid)).first()
    if key is None or key.retired_at is None:
        return False
    s.delete(key)
    return True


def sign(s: Session, claims: dict[str, Any]) -> str:
    """`claims` as a JWT signed RS256 with our signing key (its thumbprint as `kid`)."""
    key = signing_key(s)
    return jwt.encode(claims, key.private_pem, algorithm="RS256",
                      headers={"kid": key.kid, "typ": "JWT"})
