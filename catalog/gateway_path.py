"""The request path a gateway asks about, normalised before any scope is matched against it.

Pure functions, no Django: the normaliser decodes percent-escapes of unreserved characters
once (RFC 3986 §2.3), collapses repeated slashes, removes dot segments (RFC 3986 §5.2.4)
and drops the query and fragment. It refuses what an upstream server could read as a
different path than the one checked: an encoded slash or backslash (``%2F``, ``%5C``), a
raw backslash, NUL or other control characters, a malformed escape, a dot segment with
parameters (``..;x``), and a path that climbs above the root."""

from __future__ import annotations

import re

MAX_PATH_CHARS = 8192
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_ESCAPE = re.compile(r"%(..)?", re.DOTALL)
_HEX = frozenset("0123456789abcdefABCDEF")
_REFUSED_ESCAPES = {"2F": "an encoded slash", "5C": "an encoded backslash", "00": "a NUL"}
_METHOD = re.compile(r"^[A-Z]{1,16}$")


class PathInvalid(ValueError):
    """The path cannot be checked safely; the message says why (no request content)."""


def _decode_unreserved(path: str) -> str:
    def one(match: re.Match) -> str:
        pair = match.group(1)
        if pair is None or not (pair[0] in _HEX and pair[1] in _HEX):
            raise PathInvalid("a malformed percent-escape")
        pair = pair.upper()
        if pair in _REFUSED_ESCAPES:
            raise PathInvalid(_REFUSED_ESCAPES[pair])
        char = chr(int(pair, 16))
        return char if char in _UNRESERVED else "%" + pair

    return _ESCAPE.sub(one, path)


def normalise_path(raw: str) -> str:
    """The absolute path ``raw`` names, or :class:`PathInvalid`.

    >>> normalise_path("/orders/./items//7/../8?x=1")
    '/orders/items/8'
    """
    if len(raw) > MAX_PATH_CHARS:
        raise PathInvalid("a path longer than 8 KiB")
    path = raw.split("#", 1)[0].split("?", 1)[0]
    if not path.startswith("/"):
        raise PathInvalid("a path that is not absolute")
    if "\\" in path:
        raise PathInvalid("a backslash")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        raise PathInvalid("a control character")
    path = _decode_unreserved(path)  # once: %252e stays %252e
    segments = path.split("/")[1:]
    out: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "" and not last:
            continue  # repeated slash
        if segment.split(";", 1)[0] in (".", "..") and ";" in segment:
            raise PathInvalid("a dot segment with parameters")
        if segment == ".":
            if last:
                out.append("")
            continue
        if segment == "..":
            if not out or out == [""]:
                raise PathInvalid("a path that climbs above the root")
            out.pop()
            if last:
                out.append("")
            continue
        out.append(segment)
    return "/" + "/".join(out)


def normalise_method(raw: str) -> str:
    method = raw.strip().upper()
    if not _METHOD.match(method):
        raise PathInvalid("a malformed method")
    return method


def scope_allows(scopes: list[str], method: str, path: str) -> bool:
    """Does any scope (``"GET /orders"``, ``"* /"``) admit ``method path``? Paths match on
    segment boundaries: ``/orders/items`` admits ``/orders/items`` and ``/orders/items/7``,
    never ``/orders/itemsXYZ``. Both sides are normalised the same way."""
    for scope in scopes:
        want_method, _, prefix = scope.partition(" ")
        if want_method not in ("*", method):
            continue
        try:
            prefix = normalise_path(prefix).rstrip("/")
        except PathInvalid:
            continue  # a scope that cannot be normalised admits nothing
        if prefix == "" or path == prefix or path.startswith(prefix + "/"):
            return True
    return False
