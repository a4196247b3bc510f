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


def check_depth(value, limit: int | None = None, *, no_nul: bool = False) -> None:
    """Refuse a parsed document whose arrays/objects nest deeper than ``limit`` (a scalar is
    depth 0, ``{}`` depth 1) and, with ``no_nul``, one with a NUL character in any key or
    string. One iterative walk, so it cannot itself run out of stack."""
    limit = max_depth() if limit is None else limit
    if no_nul and isinstance(value, str):
        _refuse_nul(value)
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            if no_nul:
                for key in node:
                    _refuse_nul(key)
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
            elif no_nul and isinstance(child, str):
                _refuse_nul(child)


class NulCharacter(InvalidInput):
    code = "nul_character"

    def __init__(self):
        super().__init__("Text may not contain a NUL character (U+0000).")


def _refuse_nul(text: str) -> None:
    """No database text column can store a NUL (PostgreSQL refuses it): bad input, not a 500."""
    if "\x00" in text:
        raise NulCharacter()


def loads(text: str | bytes, limit: int | None = None):
    """``json.loads`` that refuses deep nesting with JsonTooDeep. Other malformed input
    raises ValueError, as ``json.loads`` does."""
    limit = max_depth() if limit is None else limit
    try:
        value = json.loads(text)
    except RecursionError:  # the C decoder gives up near the interpreter's recursion limit
        raise JsonTooDeep(limit) from None
    check_depth(value, limit)
    return value
