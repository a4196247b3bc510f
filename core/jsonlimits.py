"""Bounded JSON input. Every JSON document the server accepts from a client (REST bodies,
the GraphQL body and its variables, API specs from any entry point) is parsed or checked
here, so a document nested deeper than JSON_MAX_DEPTH is a 400 ``json_too_deep`` and never
a RecursionError (500) further down."""

from __future__ import annotations

import json

from django.conf import settings

from core.errors import InvalidInput


class JsonTooDeep(InvalidInput):
    code = "json_too_deep"

    def __init__(self, limit: int):
        super().__init__(f"The JSON document is nested deeper than {limit} levels.", max_depth=limit)


def max_depth() -> int:
    return settings.JSON_MAX_DEPTH


def check_depth(value, limit: int | None = None, *, storable: bool = False) -> None:
    """Refuse a parsed document whose arrays/objects nest deeper than ``limit`` (a scalar is
    depth 0, ``{}`` depth 1) and, with ``storable``, one with a key or string a database cannot
    store (_refuse_unstorable). One iterative walk, so it cannot itself run out of stack."""
    limit = max_depth() if limit is None else limit
    if storable and isinstance(value, str):
        _refuse_unstorable(value)
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            if storable:
                for key in node:
                    _refuse_unstorable(key)
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            raise JsonTooDeep(limit)
        for child in children:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
            elif storable and isinstance(child, str):
                _refuse_unstorable(child)


class NulCharacter(InvalidInput):
    code = "nul_character"

    def __init__(self):
        super().__init__("Text may not contain a NUL character (U+0000).")


class SurrogateCharacter(InvalidInput):
    code = "surrogate_character"

    def __init__(self):
        super().__init__(
            "Text may not contain a lone surrogate (\\uD800-\\uDFFF escapes that do not pair up): it is not Unicode text."
        )


def _refuse_unstorable(text: str) -> None:
    """Text no database column can store, bad input rather than a 500 later: a NUL (PostgreSQL
    refuses it) or a lone surrogate, which JSON's ``\\uD800`` escapes can carry but no UTF-8
    encoder (database, template, JSON renderer) accepts."""
    if "\x00" in text:
        raise NulCharacter()
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise SurrogateCharacter() from None


def loads(text: str | bytes, limit: int | None = None, *, storable: bool = False):
    """``json.loads`` that refuses deep nesting with JsonTooDeep (and, with ``storable``, what
    check_depth refuses). Other malformed input raises ValueError, as ``json.loads`` does."""
    limit = max_depth() if limit is None else limit
    try:
        value = json.loads(text)
    except RecursionError:  # the C decoder gives up near the interpreter's recursion limit
        raise JsonTooDeep(limit) from None
    check_depth(value, limit, storable=storable)
    return value
