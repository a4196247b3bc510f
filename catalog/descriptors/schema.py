"""Backstage's descriptor rules, per kind (https://backstage.io/docs/features/software-catalog/descriptor-format):
the envelope (apiVersion, kind, metadata, spec), metadata's name, namespace, labels,
annotations, tags and links, each kind's required spec fields, and entity references
``[kind:][namespace/]name``. A document that breaks a rule gives one Problem per break."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from catalog.descriptors.errors import Problem
from catalog.descriptors.reader import Document, Mapping

API_VERSIONS = ("backstage.io/v1alpha1", "backstage.io/v1beta1")
NAME_RE = re.compile(r"[a-zA-Z0-9]+(?:[-_.][a-zA-Z0-9]+)*\Z")  # 1-63 characters
NAMESPACE_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*\Z")  # a DNS label, 1-63 characters
PREFIX_RE = re.compile(r"[a-z0-9]+(?:[-.][a-z0-9]+)*\Z")  # a DNS subdomain, 1-253 characters
TAG_RE = re.compile(r"[a-z0-9:+#]+(?:-[a-z0-9:+#]+)*\Z")  # 1-63 characters
DEFAULT_NAMESPACE = "default"

# Kinds Switchboard maps onto its catalog; any other kind is listed as skipped, with the reason.
KINDS = ("Group", "User", "Component", "API", "System", "Domain", "Resource")
SKIPPED_KINDS = {
    "Location": "Location entities point at other files; only the files given are read",
    "Template": "software templates have no counterpart in Switchboard",
}
# spec fields each kind requires (Backstage's JSON schemas) and which hold entity references.
REQUIRED = {
    "Component": ("type", "lifecycle", "owner"),
    "API": ("type", "lifecycle", "owner", "definition"),
    "Group": ("type", "children"),
    "User": ("memberOf",),
    "System": ("owner",),
    "Domain": ("owner",),
    "Resource": ("type", "owner"),
}
STRING_FIELDS = {
    "Component": ("type", "lifecycle", "owner", "system", "subcomponentOf"),
    "API": ("type", "lifecycle", "owner", "system"),
    "Group": ("type", "parent"),
    "User": (),
    "System": ("owner", "domain", "type"),
    "Domain": ("owner", "subdomainOf", "type"),
    "Resource": ("type", "owner", "system"),
}
LIST_FIELDS = {
    "Component": ("providesApis", "consumesApis", "dependsOn", "dependencyOf"),
    "API": (),
    "Group": ("children", "members"),
    "User": ("memberOf", "leaderOf"),
    "System": (),
    "Domain": (),
    "Resource": ("dependsOn", "dependencyOf"),
}


@dataclass(frozen=True, slots=True)
class Ref:
    kind: str  # lower case
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.namespace}/{self.name}"


def parse_ref(value: str, *, default_kind: str | None, default_namespace: str) -> Ref | str:
    """``[kind:][namespace/]name`` as a Ref, or why it is not one."""
    if not isinstance(value, str) or not value:
        return "an entity reference must be a non-empty string"
    kind, rest = (value.split(":", 1) + [""])[:2] if ":" in value else (None, value)
    namespace, name = rest.split("/", 1) if "/" in rest else (None, rest)
    kind = kind or default_kind
    if kind is None:
        return f"'{value[:100]}' needs a kind ('component:{value[:60]}', 'resource:…')"
    if not name or not NAME_RE.match(name) or len(name) > 63:
        return f"'{value[:100]}' is not an entity reference [kind:][namespace/]name"
    namespace = namespace or default_namespace
    if not NAMESPACE_RE.match(namespace) or len(namespace) > 63:
        return f"'{value[:100]}' has an invalid namespace"
    return Ref(kind.lower(), namespace.lower(), name)


@dataclass(slots=True)
class Entity:
    """One valid descriptor: where it is, who it is, and its fields."""

    file: str
    line: int
    kind: str
    namespace: str
    name: str
    title: str
    description: str
    annotations: dict
    labels: dict
    tags: list
    links: list
    spec: Mapping
    raw_metadata: Mapping
    lines: dict = field(default_factory=dict)  # "spec.owner" -> line

    @property
    def ref(self) -> Ref:
        return Ref(self.kind.lower(), self.namespace, self.name)

    def line_of(self, path: str) -> int:
        return self.lines.get(path, self.line)

    def problem(self, path: str, message: str) -> Problem:
        return Problem(self.file, self.line_of(path), path, message)


def _line(mapping, key, default):
    return mapping.line_of(key) if isinstance(mapping, Mapping) else default


def _key_problems(key, where: str) -> str | None:
    if not isinstance(key, str) or not key:
        return f"{where} keys must be non-empty strings"
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not PREFIX_RE.match(prefix)):
        return f"'{key[:100]}': the prefix must be a DNS subdomain such as 'example.com'"
    if not name or len(name) > 63 or not NAME_RE.match(name):
        return f"'{key[:100]}': the name part must be 1-63 letters, digits and [-_.] separators"
    return None


def validate(doc: Document) -> tuple[Entity | None, list[Problem], str | None]:
    """(entity, problems, skipped reason). A kind Switchboard does not map is skipped, not refused."""
    file, data = doc.file, doc.data
    if not isinstance(data, Mapping):
        return (
            None,
            [Problem(file, doc.line, "", "A descriptor must be a mapping (apiVersion, kind, metadata, spec).")],
            None,
        )
    problems: list[Problem] = []

    def bad(path, message, line=None):
        problems.append(Problem(file, line or doc.line, path, message))

    api_version, kind = data.get("apiVersion"), data.get("kind")
    if api_version is None:
        bad("apiVersion", "Required.")
    elif not isinstance(api_version, str) or not re.fullmatch(r"[a-z0-9.-]+/[a-z0-9]+", api_version):
        bad("apiVersion", "Must be a string such as 'backstage.io/v1alpha1'.", data.line_of("apiVersion"))
    if not isinstance(kind, str) or not kind:
        bad("kind", "Required: a string such as 'Component'.", data.line_of("kind"))
        return None, problems, None
    metadata = data.get("metadata")
    if not isinstance(metadata, Mapping):
        bad("metadata", "Required: a mapping with at least 'name'.", data.line_of("metadata"))
        return None, problems, None
    name, namespace = metadata.get("name"), metadata.get("namespace", DEFAULT_NAMESPACE)
    if not isinstance(name, str) or not name:
        bad("metadata.name", "Required.", metadata.line_of("name"))
    elif len(name) > 63 or not NAME_RE.match(name):
        bad(
            "metadata.name",
            f"'{name[:100]}' is not a valid name: 1-63 letters and digits, separated by single '-', '_' or '.'.",
            metadata.line_of("name"),
        )
    if not isinstance(namespace, str) or len(namespace) > 63 or not NAMESPACE_RE.match(namespace):
        bad(
            "metadata.namespace",
            "Must be 1-63 lower-case letters, digits and single '-'.",
            metadata.line_of("namespace"),
        )
    if kind not in KINDS:
        if problems:
            return None, problems, None
        reason = SKIPPED_KINDS.get(kind, f"kind '{kind[:60]}' has no counterpart in Switchboard")
        if kind in SKIPPED_KINDS or api_version not in API_VERSIONS:
            return None, [], reason
        return None, [], reason
    if api_version not in API_VERSIONS:
        bad("apiVersion", f"Must be one of {', '.join(API_VERSIONS)} for kind {kind}.", data.line_of("apiVersion"))
    for key in ("title", "description"):
        if key in metadata and not isinstance(metadata[key], str):
            bad(f"metadata.{key}", "Must be a string.", metadata.line_of(key))
    annotations, labels = metadata.get("annotations", {}), metadata.get("labels", {})
    for key, values in (("annotations", annotations), ("labels", labels)):
        if not isinstance(values, dict):
            bad(f"metadata.{key}", "Must be a mapping.", metadata.line_of(key))
            continue
        for k, v in values.items():
            line = _line(values, k, metadata.line_of(key))
            if (reason := _key_problems(k, key)) is not None:
                bad(f"metadata.{key}", reason, line)
            elif not isinstance(v, str):
                bad(f"metadata.{key}.{k}", "Values must be strings.", line)
            elif key == "labels" and v and (len(v) > 63 or not NAME_RE.match(v)):
                bad(f"metadata.labels.{k}", "Label values are 1-63 letters and digits separated by [-_.].", line)
    tags = metadata.get("tags", [])
    if not isinstance(tags, list):
        bad("metadata.tags", "Must be a list.", metadata.line_of("tags"))
        tags = []
    for tag in tags:
        if not isinstance(tag, str) or len(tag) > 63 or not TAG_RE.match(tag):
            bad(
                "metadata.tags",
                f"'{str(tag)[:60]}' is not a tag: 1-63 of [a-z0-9:+#] separated by '-'.",
                metadata.line_of("tags"),
            )
    links = metadata.get("links", [])
    if not isinstance(links, list):
        bad("metadata.links", "Must be a list.", metadata.line_of("links"))
        links = []
    for i, link in enumerate(links):
        if not isinstance(link, dict) or not isinstance(link.get("url"), str) or not link.get("url"):
            bad(
                f"metadata.links[{i}]", "Each link needs a 'url' string.", _line(link, "url", metadata.line_of("links"))
            )
            continue
        for k in ("title", "icon", "type"):
            if k in link and not isinstance(link[k], str):
                bad(f"metadata.links[{i}].{k}", "Must be a string.", link.line_of(k))
    spec = data.get("spec")
    if not isinstance(spec, Mapping):
        bad("spec", f"Required for kind {kind}: a mapping.", data.line_of("spec"))
        return None, problems, None
    for key in REQUIRED[kind]:
        if key not in spec or spec[key] is None or spec[key] == "":
            bad(f"spec.{key}", f"Required for kind {kind}.", spec.line)
    for key in STRING_FIELDS[kind]:
        if key in spec and spec[key] is not None and not isinstance(spec[key], str):
            bad(f"spec.{key}", "Must be a string.", spec.line_of(key))
    for key in LIST_FIELDS[kind]:
        if key in spec and (not isinstance(spec[key], list) or not all(isinstance(v, str) and v for v in spec[key])):
            bad(f"spec.{key}", "Must be a list of entity references (strings).", spec.line_of(key))
    if kind == "API" and "definition" in spec:
        definition = spec["definition"]
        if isinstance(definition, dict):
            if set(definition) != {"$text"} or not isinstance(definition["$text"], str):
                bad(
                    "spec.definition",
                    "Either a string or {$text: <path next to this file>}.",
                    spec.line_of("definition"),
                )
        elif not isinstance(definition, str):
            bad("spec.definition", "Must be a string (or $text).", spec.line_of("definition"))
    if kind == "Group" and isinstance(spec.get("profile"), dict) is False and "profile" in spec:
        bad("spec.profile", "Must be a mapping.", spec.line_of("profile"))
    if kind == "User" and "profile" in spec and not isinstance(spec["profile"], dict):
        bad("spec.profile", "Must be a mapping.", spec.line_of("profile"))
    if problems:
        return None, problems, None
    lines = {f"spec.{k}": spec.line_of(k) for k in spec}
    lines.update({f"metadata.{k}": metadata.line_of(k) for k in metadata})
    for key in ("annotations", "labels"):
        values = metadata.get(key)
        if isinstance(values, Mapping):
            lines.update({f"metadata.{key}.{k}": values.line_of(k) for k in values})
    entity = Entity(
        file=file,
        line=doc.line,
        kind=kind,
        namespace=namespace,
        name=name,
        title=metadata.get("title") or "",
        description=metadata.get("description") or "",
        annotations=dict(annotations),
        labels=dict(labels),
        tags=list(tags),
        links=[dict(link) for link in links],
        spec=spec,
        raw_metadata=metadata,
        lines=lines,
    )
    return entity, [], None
