"""Breaking changes between two OpenAPI documents (issue 15), as pure functions.

``breaking_changes(old, new)`` compares the document an API had with the one replacing it and
lists what can break a client written against the old one:

- ``path_removed`` / ``operation_removed``: a path (templates compared without parameter names,
  so ``/pets/{id}`` and ``/pets/{petId}`` are one path) or an operation on it is gone;
- ``parameter_required``: an operation needs a parameter it did not (new, or optional before);
- ``request_body_required``: a request body became required;
- ``request_field_required``: a request-body field is required that was not (nested too);
- ``request_field_retyped``: a request field or parameter accepts fewer types than before;
- ``enum_narrowed``: a request field or parameter accepts fewer enum values than before;
- ``response_field_removed`` / ``response_field_retyped``: a field of a response (same status,
  same media type) is gone or may carry a type it could not before;
- ``security_changed``: an operation's auth changed: a way of calling it that worked (no auth,
  or a scheme with its scopes) is no longer accepted;
- ``comparison_incomplete``: the documents are too large or too deeply referenced to compare
  within the work bound; treated as breaking, so a person confirms it.

Additions (paths, operations, optional parameters, response fields, enum values, types a
request accepts) are not breaking. OpenAPI 3.x and Swagger 2.0 are read. Only local ``#/…``
references are followed (the catalog refuses any other), each chain at most ``MAX_REF_HOPS``
long; cycles end the walk; every schema pair is compared once, and the whole comparison stops
after ``MAX_STEPS`` steps or ``MAX_CHANGES`` changes, so a hostile document costs bounded work.
Each change names its place as a JSON pointer into the new document (the old one for removals).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

MAX_STEPS = 200_000  # schema pairs, parameters and references visited, all together
MAX_REF_HOPS = 32  # a $ref to a $ref to ... at most this long
MAX_DEPTH = 64  # schema nesting followed
MAX_CHANGES = 200  # changes listed; the rest are counted as truncated

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

KINDS = (
    "path_removed",
    "operation_removed",
    "parameter_required",
    "request_body_required",
    "request_field_required",
    "request_field_retyped",
    "enum_narrowed",
    "response_field_removed",
    "response_field_retyped",
    "security_changed",
    "comparison_incomplete",
)


@dataclass(frozen=True)
class Change:
    kind: str  # one of KINDS
    location: str  # JSON pointer (RFC 6901) into the new document, or the old one for removals
    message: str  # for a human

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Diff:
    changes: list[Change] = field(default_factory=list)
    truncated: bool = False  # more changes than MAX_CHANGES, or the work bound was reached

    @property
    def breaking(self) -> bool:
        return bool(self.changes)


class _Budget(Exception):
    """The work bound is spent."""


def pointer(*parts) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _template(path: str) -> str:
    return re.sub(r"\{[^}/]*\}", "{}", path)


def semver_major(version) -> int | None:
    """The major number of ``1.2.3``, ``v2``, ``3.0-beta``; None when there is none."""
    m = re.match(r"\s*[vV]?(\d{1,9})(?:\D|$)", str(version or ""))
    return int(m.group(1)) if m else None


class _Differ:
    def __init__(self, old: dict, new: dict):
        self.old, self.new = old, new
        self.diff = Diff()
        self.steps = 0
        self.seen: set[tuple] = set()
        self.keep: list = []  # schemas made here (Swagger 2.0 parameters): alive while their ids are in seen
        self.swagger2 = "swagger" in new or "swagger" in old

    # --- bookkeeping ----------------------------------------------------------------
    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise _Budget

    def add(self, kind: str, location: str, message: str) -> None:
        if len(self.diff.changes) >= MAX_CHANGES:
            self.diff.truncated = True
            raise _Budget
        self.diff.changes.append(Change(kind, location, message))

    def resolve(self, doc: dict, node):
        """Follow local references (bounded); a reference that leads nowhere is an empty schema."""
        hops = 0
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            self.step()
            hops += 1
            ref = node["$ref"]
            if hops > MAX_REF_HOPS or not ref.startswith("#"):
                return {}
            target = doc
            for raw in ref[1:].split("/")[1:] if ref != "#" else ():
                key = raw.replace("~1", "/").replace("~0", "~")
                if isinstance(target, dict) and key in target:
                    target = target[key]
                elif isinstance(target, list) and key.isdigit() and int(key) < len(target):
                    target = target[int(key)]
                else:
                    return {}
            node = target
        return node if isinstance(node, dict) else {}

    # --- schemas ----------------------------------------------------------------------
    def flat(self, doc: dict, schema, depth: int = 0) -> dict:
        """A schema with its reference followed and its ``allOf`` parts merged (properties,
        required, the first type and enum found)."""
        schema = self.resolve(doc, schema)
        parts = schema.get("allOf")
        if not isinstance(parts, list) or not parts or depth > 8:
            return schema
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        props = dict(merged.get("properties") or {}) if isinstance(merged.get("properties"), dict) else {}
        required = list(merged.get("required") or []) if isinstance(merged.get("required"), list) else []
        for part in parts[:64]:
            self.step()
            sub = self.flat(doc, part, depth + 1)
            if isinstance(sub.get("properties"), dict):
                for k, v in sub["properties"].items():
                    props.setdefault(k, v)
            if isinstance(sub.get("required"), list):
                required += sub["required"]
            for key in ("type", "enum", "items", "nullable"):
                if key in sub and key not in merged:
                    merged[key] = sub[key]
        merged["properties"], merged["required"] = props, required
        return merged

    @staticmethod
    def types(schema: dict) -> set | None:
        t = schema.get("type")
        if t is None:
            return None  # any
        found = {t} if isinstance(t, str) else {x for x in t if isinstance(x, str)} if isinstance(t, list) else set()
        if schema.get("nullable") is True:
            found.add("null")
        return found

    @staticmethod
    def _accepts(types: set, t: str) -> bool:
        return t in types or (t == "integer" and "number" in types)

    @staticmethod
    def _required(schema: dict) -> set:
        req = schema.get("required")
        return {r for r in req if isinstance(r, str)} if isinstance(req, list) else set()

    @staticmethod
    def _props(schema: dict) -> dict:
        props = schema.get("properties")
        return props if isinstance(props, dict) else {}

    def enter(self, side: str, old, new, depth: int) -> tuple[dict, dict] | None:
        """The two schemas to compare, resolved and flattened; None when this pair was compared
        already on this side or the nesting is too deep."""
        self.step()
        o, n = self.resolve(self.old, old), self.resolve(self.new, new)  # the documents' own objects: ids stay valid
        key = (side, id(o), id(n))
        if key in self.seen or depth > MAX_DEPTH:
            return None
        self.seen.add(key)
        self.keep.append((o, n))
        return self.flat(self.old, o), self.flat(self.new, n)

    def request_schema(self, old, new, where: str, label: str, depth: int = 0) -> None:
        """What the server accepts may not shrink: no new required fields, types or enum values dropped."""
        pair = self.enter("req", old, new, depth)
        if pair is None:
            return
        o, n = pair
        ot, nt = self.types(o), self.types(n)
        if ot is not None and nt is not None:
            lost = sorted(t for t in ot if not self._accepts(nt, t))
            if lost:
                self.add("request_field_retyped", where, f"{label} no longer accepts {', '.join(lost)}.")
        if isinstance(o.get("enum"), list) and isinstance(n.get("enum"), list):
            new_values = {repr(v) for v in n["enum"]}
            dropped = [v for v in o["enum"] if repr(v) not in new_values]
            if dropped:
                shown = ", ".join(repr(v) for v in dropped[:10]) + (" …" if len(dropped) > 10 else "")
                self.add("enum_narrowed", pointer_join(where, "enum"), f"{label} no longer accepts {shown}.")
        elif "enum" not in o and isinstance(n.get("enum"), list):
            self.add("enum_narrowed", pointer_join(where, "enum"), f"{label} now accepts only listed values.")
        oprops, nprops = self._props(o), self._props(n)
        newly = sorted(self._required(n) - self._required(o))
        for name in newly:
            self.add(
                "request_field_required",
                pointer_join(where, "properties", name),
                f"{label} needs field '{name}'" + (" (new)." if name not in oprops else " (optional before)."),
            )
        for name, sub in nprops.items():
            if name in oprops:
                self.request_schema(
                    oprops[name], sub, pointer_join(where, "properties", name), f"field '{name}'", depth + 1
                )
        if "items" in o and "items" in n:
            self.request_schema(o["items"], n["items"], pointer_join(where, "items"), f"{label}'s items", depth + 1)

    def response_schema(self, old, new, where: str, label: str, depth: int = 0) -> None:
        """What the server sends may not lose fields or gain types."""
        pair = self.enter("resp", old, new, depth)
        if pair is None:
            return
        o, n = pair
        ot, nt = self.types(o), self.types(n)
        if ot is not None and nt is not None:
            gained = sorted(t for t in nt if not self._accepts(ot, t))
            if gained:
                self.add("response_field_retyped", where, f"{label} may now be {', '.join(gained)}.")
        elif ot is not None and nt is None:
            self.add("response_field_retyped", where, f"{label} no longer has a declared type.")
        oprops, nprops = self._props(o), self._props(n)
        for name, sub in oprops.items():
            if name not in nprops:
                self.add("response_field_removed", pointer_join(where, "properties", name), f"{label} lost '{name}'.")
            else:
                self.response_schema(
                    sub, nprops[name], pointer_join(where, "properties", name), f"field '{name}'", depth + 1
                )
        if "items" in o and "items" in n:
            self.response_schema(o["items"], n["items"], pointer_join(where, "items"), f"{label}'s items", depth + 1)

    # --- operations -------------------------------------------------------------------
    def params(self, doc: dict, path_item: dict, op: dict) -> dict:
        """(name, in) -> (parameter, its index in the operation or path item, where)."""
        found: dict = {}
        for where, source in (("path", path_item), ("op", op)):
            plist = source.get("parameters")
            if not isinstance(plist, list):
                continue
            for i, raw in enumerate(plist[:1000]):
                p = self.resolve(doc, raw)
                if isinstance(p.get("name"), str) and isinstance(p.get("in"), str):
                    found[(p["name"], p["in"])] = (p, i, where)
        return found

    @staticmethod
    def _param_schema(p: dict) -> dict:
        if isinstance(p.get("schema"), dict):
            return p["schema"]
        return {k: p[k] for k in ("type", "enum", "items") if k in p}  # Swagger 2.0 non-body parameters

    def request_bodies(self, doc: dict, path_item: dict, op: dict) -> tuple[dict, bool, str]:
        """media type -> schema, whether the body is required, the pointer suffix of the content."""
        if self.swagger2:
            for (_, where_in), (p, i, _src) in self.params(doc, path_item, op).items():
                if where_in == "body":
                    return {"*": p.get("schema") or {}}, bool(p.get("required")), f"parameters/{i}/schema"
            return {}, False, ""
        body = self.resolve(doc, op.get("requestBody"))
        content = body.get("content") if isinstance(body.get("content"), dict) else {}
        return (
            {mt: (c.get("schema") if isinstance(c, dict) else None) or {} for mt, c in content.items()},
            body.get("required") is True,
            "requestBody/content",
        )

    def responses(self, doc: dict, op: dict) -> dict:
        """(status, media type) -> schema."""
        found = {}
        responses = op.get("responses")
        if not isinstance(responses, dict):
            return found
        for status, raw in list(responses.items())[:200]:
            r = self.resolve(doc, raw)
            if self.swagger2:
                if "schema" in r:
                    found[(str(status), "*")] = r["schema"]
                continue
            content = r.get("content")
            if isinstance(content, dict):
                for mt, c in content.items():
                    if isinstance(c, dict) and "schema" in c:
                        found[(str(status), mt)] = c["schema"]
        return found

    def security(self, doc: dict, op: dict) -> set:
        """The ways to call an operation: each a frozenset of (scheme, scopes); () is anonymous."""
        reqs = op.get("security", doc.get("security"))
        if not isinstance(reqs, list) or not reqs:
            return {frozenset()}
        ways = set()
        for req in reqs[:100]:
            if isinstance(req, dict):
                ways.add(
                    frozenset(
                        (name, frozenset(s for s in scopes if isinstance(s, str)) if isinstance(scopes, list) else ())
                        for name, scopes in req.items()
                    )
                )
        return ways or {frozenset()}

    @staticmethod
    def _way(way: frozenset) -> str:
        if not way:
            return "without auth"
        return " + ".join(f"{n}" + (f" [{', '.join(sorted(s))}]" if s else "") for n, s in sorted(way))

    def operation(self, opath: str, npath: str, o_item: dict, n_item: dict, method: str) -> None:
        o_op, n_op = self.resolve(self.old, o_item.get(method)), self.resolve(self.new, n_item.get(method))
        at = pointer("paths", npath, method)
        name = f"{method.upper()} {npath}"
        # parameters
        o_params, n_params = self.params(self.old, o_item, o_op), self.params(self.new, n_item, n_op)
        for key, (p, i, src) in n_params.items():
            self.step()
            where = pointer("paths", npath, *((method,) if src == "op" else ()), "parameters", i)
            old_p = o_params.get(key)
            newly = p.get("required") is True and (old_p is None or old_p[0].get("required") is not True)
            if newly and key[1] != "path":  # path parameters: the template matched, whatever their names
                what = "new" if old_p is None else "optional before"
                self.add("parameter_required", where, f"{name} needs {key[1]} parameter '{key[0]}' ({what}).")
            if old_p is not None and key[1] != "body":
                self.request_schema(
                    self._param_schema(old_p[0]),
                    self._param_schema(p),
                    pointer_join(where, "schema"),
                    f"{name} {key[1]} parameter '{key[0]}'",
                )
        # request body
        o_bodies, o_required, _ = self.request_bodies(self.old, o_item, o_op)
        n_bodies, n_required, suffix = self.request_bodies(self.new, n_item, n_op)
        if n_required and not o_required:
            self.add("request_body_required", pointer_join(at, "requestBody"), f"{name} now requires a request body.")
        for mt, schema in n_bodies.items():
            if mt in o_bodies:
                where = at + "/" + suffix + ("" if mt == "*" else pointer(mt) + "/schema")
                self.request_schema(o_bodies[mt], schema, where, f"{name} request body")
        # responses
        n_resp = self.responses(self.new, n_op)
        for (status, mt), schema in self.responses(self.old, o_op).items():
            if (status, mt) in n_resp:
                where = pointer("paths", npath, method, "responses", status)
                where += "/schema" if mt == "*" else pointer("content", mt, "schema")
                self.response_schema(schema, n_resp[(status, mt)], where, f"{name} {status} response")
        # security
        o_ways, n_ways = self.security(self.old, o_op), self.security(self.new, n_op)
        lost = [w for w in o_ways if w not in n_ways]
        if lost:
            shown = "; ".join(sorted(self._way(w) for w in lost))
            now = "; ".join(sorted(self._way(w) for w in n_ways))
            self.add(
                "security_changed", pointer_join(at, "security"), f"{name} no longer accepts: {shown} (now: {now})."
            )

    def run(self) -> Diff:
        o_paths = self.old.get("paths") if isinstance(self.old.get("paths"), dict) else {}
        n_paths = self.new.get("paths") if isinstance(self.new.get("paths"), dict) else {}
        n_by_template = {_template(p): p for p in n_paths}
        try:
            for opath, raw in o_paths.items():
                self.step()
                npath = n_by_template.get(_template(opath))
                if npath is None:
                    self.add("path_removed", pointer("paths", opath), f"Path {opath} was removed.")
                    continue
                o_item, n_item = self.resolve(self.old, raw), self.resolve(self.new, n_paths[npath])
                for method in METHODS:
                    if method not in o_item:
                        continue
                    if method not in n_item:
                        self.add(
                            "operation_removed",
                            pointer("paths", opath, method),
                            f"Operation {method.upper()} {opath} was removed.",
                        )
                        continue
                    self.operation(opath, npath, o_item, n_item, method)
        except _Budget:
            if len(self.diff.changes) < MAX_CHANGES:
                self.diff.truncated = True
                self.diff.changes.append(
                    Change(
                        "comparison_incomplete",
                        "",
                        f"The documents are too large or too deeply referenced to compare fully "
                        f"(stopped after {MAX_STEPS} steps); check them by hand.",
                    )
                )
        except RecursionError:  # pragma: no cover - the depth bounds come first
            self.diff.truncated = True
            self.diff.changes.append(Change("comparison_incomplete", "", "The documents nest too deeply to compare."))
        return self.diff


def pointer_join(base: str, *parts) -> str:
    return base + pointer(*parts)


def breaking_changes(old, new) -> Diff:
    """The breaking changes from ``old`` to ``new`` (OpenAPI 3.x or Swagger 2.0 documents, as
    parsed JSON). Nothing to compare (either missing or not an object) is no change."""
    if not isinstance(old, dict) or not isinstance(new, dict) or not old or not new:
        return Diff()
    return _Differ(old, new).run()
