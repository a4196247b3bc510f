"""Outbound credentials (a metrics backend's bearer token or basic-auth password).

They must be usable, so they cannot be hashed: they are sealed with Fernet (AES-128-CBC
with HMAC-SHA256, from ``cryptography``) under a key derived from
``DISCOVERY_CREDENTIALS_KEY`` (default: derived from ``SECRET_KEY``), stored only sealed,
unsealed only by the worker that sends them, and never shown back (REST, admin and the
audit trail say only whether one is set)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet() -> Fernet:
    secret = settings.DISCOVERY_CREDENTIALS_KEY or settings.SECRET_KEY
    digest = hashlib.sha256(b"switchboard-discovery-credentials\x00" + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode() if plain else ""


def unseal(sealed: str) -> str | None:
    """The plain secret; None when it was sealed under another key (the key was changed)."""
    if not sealed:
        return ""
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except (InvalidToken, ValueError):
        return None
