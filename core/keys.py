"""The key format (API keys, ingestion keys): ``swb_<8-char id>_<40-char secret>``, base62, where the secret's
last 6 characters are a CRC-32 checksum of everything before them. Secret scanners can
match the prefix and check the checksum offline; Switchboard rejects typos and
truncations before any lookup. Only SHA-256 of the secret is stored."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import zlib

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PREFIX = "swb"
ID_LENGTH = 8
SECRET_LENGTH = 40  # 34 random characters (about 202 bits) + 6 of checksum
CHECKSUM_LENGTH = 6
KEY_RE = re.compile(rf"^{PREFIX}_([0-9A-Za-z]{{{ID_LENGTH}}})_([0-9A-Za-z]{{{SECRET_LENGTH}}})$")


def _base62(number: int, width: int) -> str:
    out = []
    for _ in range(width):
        number, rem = divmod(number, 62)
        out.append(ALPHABET[rem])
    return "".join(reversed(out))


def _random(n: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(n))


def _checksum(text: str) -> str:
    return _base62(zlib.crc32(text.encode()), CHECKSUM_LENGTH)


def generate() -> tuple[str, str, str]:
    """A new key: (full key shown once, key id, SHA-256 hex of the secret)."""
    key_id = _random(ID_LENGTH)
    body = _random(SECRET_LENGTH - CHECKSUM_LENGTH)
    secret = body + _checksum(f"{PREFIX}_{key_id}_{body}")
    return f"{PREFIX}_{key_id}_{secret}", key_id, hash_secret(secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse(raw: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key with a good checksum, else None."""
    if not raw or len(raw) > 64:
        return None
    match = KEY_RE.match(raw)
    if not match:
        return None
    key_id, secret = match.groups()
    body, checksum = secret[:-CHECKSUM_LENGTH], secret[-CHECKSUM_LENGTH:]
    if not hmac.compare_digest(_checksum(f"{PREFIX}_{key_id}_{body}"), checksum):
        return None
    return key_id, secret


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def presented(authorization: str, api_key: str, *, scheme: str) -> str:
    """The key a request presents: its ``X-Api-Key`` header, else ``Authorization: <scheme> <key>``
    (``scheme`` case-insensitive: ``Api-Key`` at the gateway, ``Bearer`` for OTLP pushes)."""
    raw = api_key
    prefix = scheme.lower() + " "
    if not raw and authorization[: len(prefix)].lower() == prefix:
        raw = authorization[len(prefix) :]
    return raw.strip()
