"""YAML documents from a descriptor file, within limits, with the line of every mapping key.

PyYAML's safe loader, subclassed so that it refuses aliases (``*name``; the only way a small
document can expand into a huge one, as in "billion laughs", and the way merge keys work),
refuses nesting deeper than ``CATALOG_MAX_DEPTH``, stops after ``CATALOG_MAX_DOCUMENTS``
documents and never builds anything but plain data. Bytes over ``CATALOG_MAX_BYTES``, and
anything that is not UTF-8 text, are refused before parsing."""

from __future__ import annotations

from dataclasses import dataclass

import yaml
from django.conf import settings
from yaml.composer import Composer
from yaml.events import AliasEvent, MappingStartEvent, SequenceStartEvent

from catalog.descriptors.errors import Problem
from core import jsonlimits
from core.errors import InvalidInput


class Mapping(dict):
    """A YAML mapping that remembers its own line and each key's line (1-based)."""

    line: int = 0
    lines: dict

    def line_of(self, key: str) -> int:
        return self.lines.get(key, self.line)


class DescriptorYAMLError(Exception):
    def __init__(self, message: str, line: int = 0):
        super().__init__(message)
        self.message, self.line = message, line


def _mapping_constructor(loader, node):
    """Every mapping, the document's top level included: string keys only, no duplicate, and
    the line of each key kept for error messages."""
    result = Mapping()
    result.line, result.lines = node.start_mark.line + 1, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise DescriptorYAMLError("Mapping keys must be strings.", key_node.start_mark.line + 1)
        if key in result:
            raise DescriptorYAMLError(f"Duplicate key '{key[:80]}'.", key_node.start_mark.line + 1)
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = key_node.start_mark.line + 1
    return result


def _with_constructors(loader_class):
    loader_class.add_constructor("tag:yaml.org,2002:map", _mapping_constructor)
    # Timestamps stay strings (Backstage descriptors are JSON-compatible).
    loader_class.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)
    return loader_class


def _loader_class(max_depth: int):
    class Loader(yaml.SafeLoader):
        def __init__(self, stream):
            super().__init__(stream)
            self._depth = 0

        def compose_node(self, parent, index):
            if self.check_event(AliasEvent):
                event = self.peek_event()
                raise DescriptorYAMLError(
                    f"YAML aliases ('*{event.anchor[:40]}') are not accepted in descriptors; write the value out.",
                    event.start_mark.line + 1,
                )
            nesting = self.check_event(MappingStartEvent, SequenceStartEvent)
            if nesting:
                self._depth += 1
                if self._depth > max_depth:
                    raise DescriptorYAMLError(
                        f"Nested deeper than {max_depth} levels.", self.peek_event().start_mark.line + 1
                    )
            try:
                return Composer.compose_node(self, parent, index)
            finally:
                if nesting:
                    self._depth -= 1

    return _with_constructors(Loader)


if getattr(yaml, "__with_libyaml__", False):

    class _FastLoader(yaml.CSafeLoader):
        """libyaml's parser and composer with the constructors above; used only after the
        event stream passed _precheck (no alias, bounded depth and count), since libyaml
        composes nested nodes recursively."""

    _with_constructors(_FastLoader)
else:  # pragma: no cover - PyYAML without libyaml
    _FastLoader = None


def _precheck(text: str, *, max_depth: int, max_docs: int) -> None:
    """One pass over libyaml's events (iterative, no recursion): refuse aliases, nesting deeper
    than ``max_depth`` and more than ``max_docs`` documents before anything is built."""
    parser = yaml.CSafeLoader(text)
    depth = docs = 0
    try:
        while True:
            event = parser.get_event()
            if event is None or isinstance(event, yaml.StreamEndEvent):
                return
            if isinstance(event, AliasEvent):
                raise DescriptorYAMLError(
                    f"YAML aliases ('*{event.anchor[:40]}') are not accepted in descriptors; write the value out.",
                    event.start_mark.line + 1,
                )
            if isinstance(event, (MappingStartEvent, SequenceStartEvent)):
                depth += 1
                if depth > max_depth:
                    raise DescriptorYAMLError(f"Nested deeper than {max_depth} levels.", event.start_mark.line + 1)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            elif isinstance(event, yaml.DocumentStartEvent):
                docs += 1
                if docs > max_docs:
                    raise DescriptorYAMLError(f"More than {max_docs} YAML documents in one file.", 0)
    finally:
        parser.dispose()


class _Unusual(Exception):
    """A collection with an explicit tag: read by the two-pass path instead of _events_read."""


_STR, _MAP, _SEQ = "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"


def _events_read(text: str, *, file: str, max_depth: int, max_docs: int) -> list:
    """The documents of ``text`` built in one pass over libyaml's events, without a node tree
    and without recursion: what _precheck refuses (aliases, nesting deeper than ``max_depth``,
    more than ``max_docs`` documents) is refused as it is met; mappings are ``Mapping`` with
    their keys' lines, keys must be strings and unique; scalars are resolved and constructed
    by _FastLoader's safe constructors (plain strings directly). About twice as fast as
    _precheck followed by libyaml's composer and the constructors, for the same result."""
    loader = _FastLoader(text)
    documents: list[Document] = []
    # open collections: [container, its line, pending key (None: waiting for a key), key line]
    stack: list[list] = []
    docs = 0
    tags: dict = {}
    try:
        while True:
            event = loader.get_event()
            kind = type(event)
            if kind is yaml.ScalarEvent:
                tag = event.tag
                if tag is None or tag == "!":
                    # the implicit tag depends on the value and its style only (keys repeat a lot)
                    key = (event.value, event.implicit)
                    tag = tags.get(key)
                    if tag is None:
                        tag = tags[key] = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
                if tag == _STR:
                    value = event.value
                else:
                    node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
                    value = loader.construct_object(node, deep=True)
                line = event.start_mark.line + 1
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                if event.tag not in (None, "!", _MAP if kind is MappingStartEvent else _SEQ):
                    raise _Unusual
                if len(stack) >= max_depth:
                    raise DescriptorYAMLError(f"Nested deeper than {max_depth} levels.", event.start_mark.line + 1)
                line = event.start_mark.line + 1
                if kind is MappingStartEvent:
                    container = Mapping()
                    container.line, container.lines = line, {}
                else:
                    container = []
                stack.append([container, line, None, 0])
                continue
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                value, line, _, _ = stack.pop()
            elif kind is AliasEvent:
                raise DescriptorYAMLError(
                    f"YAML aliases ('*{event.anchor[:40]}') are not accepted in descriptors; write the value out.",
                    event.start_mark.line + 1,
                )
            elif kind is yaml.DocumentStartEvent:
                docs += 1
                if docs > max_docs:
                    raise DescriptorYAMLError(f"More than {max_docs} YAML documents in one file.", 0)
                continue
            elif kind is yaml.DocumentEndEvent:
                loader.constructed_objects, loader.recursive_objects = {}, {}
                continue
            elif kind is yaml.StreamEndEvent:
                return documents
            else:  # StreamStartEvent
                continue
            if not stack:  # a document's root
                if value is not None:
                    documents.append(
                        Document(file, docs - 1, value.line if isinstance(value, Mapping) else line, value)
                    )
                continue
            parent = stack[-1]
            container = parent[0]
            if type(container) is list:
                container.append(value)
            elif parent[2] is None:
                if not isinstance(value, str):
                    raise DescriptorYAMLError("Mapping keys must be strings.", line)
                if value in container:
                    raise DescriptorYAMLError(f"Duplicate key '{value[:80]}'.", line)
                parent[2], parent[3] = value, line
            else:
                container[parent[2]] = value
                container.lines[parent[2]] = parent[3]
                parent[2] = None
    finally:
        loader.dispose()


@dataclass(slots=True)
class Document:
    file: str
    index: int  # 0-based position in the file
    line: int
    data: object


def decode(raw: bytes | str, *, file: str, max_bytes: int | None = None) -> tuple[str | None, Problem | None]:
    """The text of a descriptor file, or why it is refused (too large, binary, not UTF-8)."""
    max_bytes = max_bytes or settings.CATALOG_MAX_BYTES
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > max_bytes:
        return None, Problem(file, 0, "", f"The file is {size} bytes; at most {max_bytes} are read.")
    if isinstance(raw, bytes):
        if b"\x00" in raw:
            return None, Problem(file, 0, "", "The file is binary (it has NUL bytes), not YAML text.")
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            return None, Problem(file, 0, "", f"The file is not UTF-8 text (byte {exc.start}).")
    if "\x00" in raw:
        return None, Problem(file, 0, "", "The file is binary (it has NUL characters), not YAML text.")
    return raw, None


def read(raw: bytes | str, *, file: str) -> tuple[list[Document], list[Problem]]:
    """The documents of one file, or the problems that stopped reading it. Empty documents
    (``---`` alone) are skipped, as Backstage does. A string no database stores (a NUL or a
    lone surrogate, which YAML's ``"\\0"`` and ``"\\ud800"`` escapes can write) stops it too."""
    documents, problems = _read(raw, file=file)
    for document in documents:
        try:
            jsonlimits.check_depth(document.data, settings.CATALOG_MAX_DEPTH + 1, storable=True)
        except InvalidInput as exc:
            return [], [Problem(file, document.line, "", exc.detail)]
    return documents, problems


def _read(raw: bytes | str, *, file: str) -> tuple[list[Document], list[Problem]]:
    text, problem = decode(raw, file=file)
    if problem:
        return [], [problem]
    max_docs = settings.CATALOG_MAX_DOCUMENTS
    documents: list[Document] = []
    loader = None
    try:
        if _FastLoader is not None:
            try:
                return _events_read(text, file=file, max_depth=settings.CATALOG_MAX_DEPTH, max_docs=max_docs), []
            except _Unusual:
                pass  # an explicitly tagged collection: the constructors decide, on composed nodes
            _precheck(text, max_depth=settings.CATALOG_MAX_DEPTH, max_docs=max_docs)
            loader = _FastLoader(text)
        else:  # pragma: no cover
            loader = _loader_class(settings.CATALOG_MAX_DEPTH)(text)
        index = 0
        while loader.check_node():
            if index >= max_docs:
                return [], [Problem(file, 0, "", f"More than {max_docs} YAML documents in one file.")]
            node = loader.get_node()
            line = node.start_mark.line + 1
            data = loader.construct_document(node)
            if data is not None:
                documents.append(Document(file, index, data.line if isinstance(data, Mapping) else line, data))
            index += 1
    except DescriptorYAMLError as exc:
        return [], [Problem(file, exc.line, "", exc.message)]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = (exc.problem or exc.context or "not valid YAML").strip()
        return [], [Problem(file, mark.line + 1 if mark else 0, "", f"Not valid YAML: {reason}.")]
    except yaml.YAMLError as exc:
        return [], [Problem(file, 0, "", f"Not valid YAML: {type(exc).__name__}.")]
    except RecursionError:
        return [], [Problem(file, 0, "", "Nested too deeply.")]
    finally:
        if loader is not None:
            loader.dispose()
    return documents, []


def load_text(text: str, *, file: str) -> tuple[object, list[Problem]]:
    """One YAML (or JSON) document, such as an API definition, with the same limits."""
    documents, problems = read(text, file=file)
    if problems:
        return None, problems
    if not documents:
        return None, []
    if len(documents) != 1:
        return None, [Problem(file, 0, "", f"Expected one YAML document, found {len(documents)}.")]
    return documents[0].data, []
