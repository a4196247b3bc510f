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


def check_depth(value, limit: int | None = None) -> None:
    """Refuse a parsed document whose arrays/objects nest deeper than ``limit`` (a scalar is
    depth 0, ``{}`` depth 1). Iterative, so it cannot itself run out of stack."""
    limit = max_depth() if limit is None else limit
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            raise JsonTooDeep(limit)
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


class NulCharacter(InvalidInput):
    code = "nul_character"

    def __init__(self):
        super().__init__("Text may not contain a NUL character (U+0000).")


def check_no_nul(value) -> None:
    """Refuse a parsed document with a NUL character in any key or string: no database text
    column can store one (PostgreSQL refuses it), so it is bad input, not a server error."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                raise NulCharacter()
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


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
