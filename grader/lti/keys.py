"""The tool's own RSA keys: made once with `cryptography`, kept in the database (every worker
and host signs with the same key), published as a JWKS with RFC 7638 thumbprints as `kid`.

Rotation adds a new signing key and keeps the old public keys in the JWKS until they are
dropped, so a platform holding a token or a cached key set from before still verifies.

The private half is stored encrypted (Fernet, with a key derived from the app's SECRET_KEY
by HKDF): a copy of the database alone cannot sign as the tool. A key stored in clear by an
earlier version is encrypted the first time it signs. If SECRET_KEY changes, the stored keys
cannot be read: signing then fails, saying so, until SECRET_KEY is restored or a new key is
made (`flask lti-rotate-key`; platforms fetch it from our JWKS).
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import jwt
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from grader import sealing
from grader.lti.models import LtiKey
from grader.models import utcnow

KEY_SIZE = 2048
ENCRYPTED = "fernet:"  # the prefix of a stored private key that is encrypted
PURPOSE = "lti private keys"  # of the key derived from SECRET_KEY (grader.sealing)


class KeyUnreadable(RuntimeError):
    """The stored signing key cannot be decrypted with this app's SECRET_KEY."""


def _cipher() -> tuple[Fernet, dict[str, rsa.RSAPrivateKey]]:
    """This app's cipher for the current SECRET_KEY, and the keys it has opened so far (by
    their stored text)."""
    secret = str(current_app.config["SECRET_KEY"])
    cached = current_app.extensions.get("lti_key_cipher")
    if cached is None or cached[0] != secret:
        cached = current_app.extensions["lti_key_cipher"] = (
            secret, sealing.fernet(secret, PURPOSE), {})
    return cached[1], cached[2]


def _sealed(pem: str) -> str:
    return ENCRYPTED + _cipher()[0].encrypt(pem.encode("ascii")).decode("ascii")


def private_key(key: LtiKey) -> rsa.RSAPrivateKey:
    """The private half of a stored key (decrypted, or read as it is from an older version's
    clear PEM), kept per process. Raises KeyUnreadable if SECRET_KEY changed since."""
    cipher, opened = _cipher()
    stored = key.private_pem
    found = opened.get(stored)
    if found is not None:
        return found
    pem = stored
    if stored.startswith(ENCRYPTED):
        try:
            pem = cipher.decrypt(stored[len(ENCRYPTED):].encode("ascii")).decode("ascii")
        except InvalidToken:
            raise KeyUnreadable(
                f"the tool's LTI signing key {key.kid} cannot be decrypted with this SECRET_KEY "
                "(it was made under another one): restore that SECRET_KEY, or make a new key "
                "with `flask lti-rotate-key`"
            ) from None
    loaded = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    opened[stored] = loaded
    return loaded


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
    made = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    pem = made.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    jwk = public_jwk(made)
    key = LtiKey(kid=jwk["kid"], private_pem=_sealed(pem), public_jwk=jwk)
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
    signer = private_key(key)
    if not key.private_pem.startswith(ENCRYPTED):  # stored in clear by an earlier version
        _seal_clear_keys(s)
    return jwt.encode(claims, signer, algorithm="RS256", headers={"kid": key.kid, "typ": "JWT"})


def _seal_clear_keys(s: Session) -> None:
    """Encrypt every private key an earlier version stored in clear (retired ones too)."""
    for key in s.scalars(select(LtiKey).where(LtiKey.private_pem.not_like(ENCRYPTED + "%"))):
        key.private_pem = _sealed(key.private_pem)
