"""The API key format lives in core.keys (shared with graph's ingestion keys); this module
keeps the name catalog and its tests have always imported."""

from core.keys import (  # noqa: F401
    ALPHABET,
    CHECKSUM_LENGTH,
    ID_LENGTH,
    KEY_RE,
    PREFIX,
    SECRET_LENGTH,
    _checksum,
    generate,
    hash_secret,
    parse,
    secret_matches,
)
