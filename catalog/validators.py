import re

from django.core.exceptions import ValidationError

from catalog import constants
from catalog.gateway_path import PathInvalid, normalise_path

# host, host:port, [v6]:port or a bare telemetry name (letters, digits, dot, dash, underscore).
# fullmatch, not match with "$": "$" also matches before a trailing newline.
_ALIAS = re.compile(r"(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252})|\[[0-9a-fA-F:.]+\])(?::[0-9]{1,5})?")
_SCOPE = re.compile(r"(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|\*) /[\x21-\x7e]*")


def validate_aliases(value) -> None:
    if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
        raise ValidationError("Aliases must be a list of strings.")
    if len(value) > constants.MAX_ALIASES:
        raise ValidationError(f"At most {constants.MAX_ALIASES} aliases.")
    for alias in value:
        match = _ALIAS.fullmatch(alias)
        port = alias.rsplit(":", 1)[1] if match and ":" in alias and not alias.endswith("]") else None
        if not match or (port is not None and not 0 < int(port) < 65536):
            raise ValidationError(f"'{alias[:80]}' is not a host, host:port or name.")


def validate_path(value: str) -> None:
    if not value.startswith("/") or any(c in value for c in " \r\n\t#"):
        raise ValidationError("Use an absolute path such as /metrics.")


def validate_scopes(value) -> None:
    if not isinstance(value, list):
        raise ValidationError("Scopes must be a list.")
    for scope in value:
        if not isinstance(scope, str) or not _SCOPE.fullmatch(scope):
            raise ValidationError(f"'{str(scope)[:80]}' is not a scope such as 'GET /orders'.")
        try:  # as the gateway reads it: a path it cannot normalise would admit nothing
            normalise_path(scope.partition(" ")[2])
        except PathInvalid as exc:
            raise ValidationError(f"'{scope[:80]}' has {exc}: the gateway could never match it.") from None


# --- API specs --------------------------------------------------------------------------
# A spec may refer only to itself ('#/components/…'). Anything else would make the validator
# open a file or a URL from the web process, so it is refused before validation, and the
# validator is given resolver handlers that refuse every scheme in case one slips through.
REF_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef", "$id")
_JSON_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}


class ExternalRefRefused(Exception):
    """Raised by the validator's resolver instead of opening ``uri``."""

    def __init__(self, uri: str):
        super().__init__(uri)
        self.uri = uri


def _refuse_retrieval(uri: str):
    raise ExternalRefRefused(uri)


class LocalOnlyHandlers(dict):
    """jsonschema-path resolver handlers that refuse every scheme, including the empty one
    (relative file names). jsonschema-path falls back to requests/urllib for a scheme it has
    no handler for, so this mapping claims to have them all."""

    def __contains__(self, scheme) -> bool:
        return True

    def __getitem__(self, scheme):
        return _refuse_retrieval

    def get(self, scheme, default=None):
        return _refuse_retrieval


def json_pointer(path) -> str:
    """RFC 6901 pointer of ``path`` (keys and indexes), "" for the whole document."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def spec_external_ref(spec) -> tuple[str, str] | None:
    """The first reference in ``spec`` that is not local, as (JSON pointer, reference), or None.
    Local means it starts with '#'. ``$id`` counts: it changes what '#/…' refers to."""
    stack = [(spec, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            items = node.items()
        elif isinstance(node, list):
            items = enumerate(node)
        else:
            continue
        for key, value in items:
            if isinstance(value, str):
                if key in REF_KEYWORDS and not value.startswith("#"):
                    return json_pointer((*path, key)), value
            elif isinstance(value, (dict, list)):
                stack.append((value, (*path, key)))
    return None


def refused_uri(exc: BaseException) -> str | None:
    """The URI the local-only resolver refused somewhere in ``exc``'s causes, if any."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ExternalRefRefused):
            return exc.uri
        exc = exc.__cause__ or exc.__context__
    return None


def openapi_validate_local(spec: dict) -> None:
    """openapi-spec-validator over ``spec`` with a resolver that can only follow local
    references. Raises what the validator raises, or ExternalRefRefused in the cause chain."""
    from jsonschema_path import SchemaPath
    from openapi_spec_validator.settings import OpenAPISpecValidatorSettings
    from openapi_spec_validator.shortcuts import get_validator_cls

    path = SchemaPath.from_dict(
        spec,
        base_uri="",
        handlers=LocalOnlyHandlers(),
        resolved_cache_maxsize=OpenAPISpecValidatorSettings().resolved_cache_maxsize,
    )
    get_validator_cls(spec)(path).validate()


_FAILED_KEYWORD = re.compile(r'Failed validating "([A-Za-z$]{1,40})"')
_EXPECTED_TYPE = re.compile(r'is not of type "([a-z]{1,10})"$')


def openapi_error_summary(exc) -> str:
    """Where and which rule a document broke, never the document's content: the JSON
    pointer of the offending value, the schema keyword, and for 'type' the type expected.
    (The validator's own message starts with the offending value, so it is not shown; the
    keyword and type are read from the schema side of it.)"""
    message = str(getattr(exc, "message", "") or "")
    keyword = getattr(exc, "validator", None)
    if not isinstance(keyword, str):
        found = _FAILED_KEYWORD.search(message)
        keyword = found.group(1) if found else None
    path = getattr(exc, "absolute_path", None) or ()
    pointer = json_pointer(path)
    if len(pointer) > 200:
        pointer = pointer[:200] + "…"
    where = pointer or "the document root"
    if keyword is None:
        return f"{type(exc).__name__} at {where}"
    summary = f"'{keyword}' check failed at {where}"
    if keyword == "type":
        expected = getattr(exc, "validator_value", None)
        if not isinstance(expected, str):
            found = _EXPECTED_TYPE.search(message.split("\n", 1)[0].rstrip())
            expected = found.group(1) if found else None
        if expected in _JSON_TYPES:
            summary += f" (expected {expected})"
    return summary
