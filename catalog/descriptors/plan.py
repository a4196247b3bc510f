"""From valid entities to what would change in the catalog: each entity mapped onto an org,
team, user, service, API, system, domain or resource (fields and references as slugs), its
references resolved (in the files, else in the catalog), compared with what the catalog holds
(create, update, unchanged), ownership limits checked as they would be after the change, and
the location's entities that disappeared listed as orphans. Reads only; nothing is written."""

from __future__ import annotations

import gc
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from catalog import constants
from catalog.descriptors.errors import Problem
from catalog.descriptors.reader import Document, load_text, read
from catalog.descriptors.schema import DEFAULT_NAMESPACE, Entity, Ref, parse_ref, validate
from catalog.models import Api, Domain, ManagedEntity, Resource, Service, System
from teams.constants import DEFAULT_MAX_MEMBERS_PER_TEAM, DEFAULT_MAX_SERVICES_PER_TEAM
from teams.models import Membership, Org, Team, slug_validator

ANNOTATION = "switchboard.io/"
# Switchboard fields carried by annotations (metadata.annotations["switchboard.io/<name>"]).
SERVICE_ANNOTATIONS = {
    "tier": "tier",
    "base-url": "base_url",
    "aliases": "aliases",
    "metrics-path": "metrics_path",
    "health-path": "health_path",
    "crawl-enabled": "crawl_enabled",
}
ORG_TYPES = ("organization", "business-unit")
API_KINDS = {k for k, _ in constants.API_KIND_CHOICES}
RESOURCE_TYPES = {k for k, _ in constants.RESOURCE_TYPE_CHOICES}
ORDER = ("org", "team", "user", "domain", "system", "resource", "service", "api")
MODELS = {"service": Service, "api": Api, "system": System, "domain": Domain, "resource": Resource}


@dataclass
class Item:
    """One catalog object the descriptors describe."""

    kind: str
    slug: str
    entity: Entity
    fields: dict  # model fields; references are slugs
    refs: dict = field(default_factory=dict)  # model field -> the descriptor path it came from
    action: str = ""  # create, update or unchanged
    changed: list = field(default_factory=list)


@dataclass
class Plan:
    items: list[Item] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    orphans: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> dict:
        counts: dict = {}
        for item in self.items:
            counts.setdefault(item.kind, Counter())[item.action] += 1
        for kind, _ in self.orphans:
            counts.setdefault(kind, Counter())["orphaned"] += 1
        return {kind: dict(counts[kind]) for kind in ORDER if kind in counts}

    def as_dict(self) -> dict:
        return {
            "valid": self.ok,
            "errors": [p.as_dict() for p in self.problems],
            "summary": self.summary(),
            "changes": [
                {"kind": i.kind, "slug": i.slug, "action": i.action, "fields": i.changed}
                for i in self.items
                if i.action != "unchanged"
            ]
            + [{"kind": k, "slug": s, "action": "orphaned", "fields": []} for k, s in self.orphans],
            "skipped": self.skipped,
        }


def slug_for(entity: Entity) -> str:
    """The Switchboard slug of an entity: its name in lower case with '_' and '.' as '-';
    outside the default namespace, prefixed by the namespace and '--'."""
    base = entity.name.lower().replace("_", "-").replace(".", "-")
    return base if entity.namespace == DEFAULT_NAMESPACE else f"{entity.namespace}--{base}"


def ref_slug(ref: Ref) -> str:
    base = ref.name.lower().replace("_", "-").replace(".", "-")
    return base if ref.namespace == DEFAULT_NAMESPACE else f"{ref.namespace}--{base}"


def _text_definition(entity: Entity, path: str, base_dir: Path | None) -> tuple[str | None, Problem | None]:
    """``$text``: a file next to the descriptor (or below it), never above it, never a URL."""
    where = "spec.definition.$text"
    if base_dir is None:
        return None, entity.problem(where, "$text is read only from descriptor files on disk, not from an upload.")
    if "://" in path or path.startswith(("/", "\\")) or ":" in path[:3]:
        return None, entity.problem(where, f"'{path[:100]}' must be a path relative to the descriptor.")
    base = base_dir.resolve()
    target = (base / path).resolve()
    if not target.is_relative_to(base):
        return None, entity.problem(where, f"'{path[:100]}' leaves the descriptor's directory.")
    if not target.is_file():
        return None, entity.problem(where, f"'{path[:100]}' is not a file next to the descriptor.")
    size = target.stat().st_size
    if size > constants.MAX_SPEC_BYTES:
        return None, entity.problem(where, f"'{path[:100]}' is {size} bytes; at most {constants.MAX_SPEC_BYTES}.")
    raw = target.read_bytes()
    if b"\x00" in raw:
        return None, entity.problem(where, f"'{path[:100]}' is binary.")
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        return None, entity.problem(where, f"'{path[:100]}' is not UTF-8 text.")


def resource_type(value: str) -> str:
    """Backstage's free-form resource type as one of Switchboard's (the original is kept)."""
    value = value.lower()
    if value in RESOURCE_TYPES:
        return value
    for word, mapped in (("queue", "queue"), ("topic", "queue"), ("bucket", "bucket"), ("database", "database")):
        if word in value:
            return mapped
    return "other"


def entity_metadata(entity: Entity) -> dict:
    """What Switchboard has no field for, kept to be shown and exported: the entity's own name,
    namespace and title, the annotations Switchboard does not read, labels, tags, links, its
    spec.type and the spec fields not mapped (component dependencies, subcomponentOf, ...)."""
    mapped_spec = {
        "owner",
        "lifecycle",
        "system",
        "domain",
        "subdomainOf",
        "providesApis",
        "consumesApis",
        "definition",
        "parent",
        "children",
        "members",
        "memberOf",
        "leaderOf",
        "profile",
        "type",
    }
    extra = {k: _plain(v) for k, v in entity.spec.items() if k not in mapped_spec}
    depends = [v for v in entity.spec.get("dependsOn") or () if not str(v).startswith("resource:")]
    if depends:
        extra["dependsOn"] = depends
    return {
        "kind": entity.kind,
        "name": entity.name,
        "namespace": entity.namespace,
        "title": entity.title,
        "type": entity.spec.get("type") if isinstance(entity.spec.get("type"), str) else "",
        "annotations": {k: v for k, v in entity.annotations.items() if not k.startswith(ANNOTATION)},
        "labels": entity.labels,
        "tags": entity.tags,
        "links": [_plain(link) for link in entity.links],
        "spec": extra,
    }


class Planner:
    def __init__(
        self,
        entities: list[Entity],
        *,
        location: str | None,
        base_dirs: dict[str, Path | None],
        skipped_refs: dict[Ref, str] | None = None,
    ):
        self.entities = entities
        # entities left out as unmappable (``skip_unmappable``): a reference to one is a gap too
        self.skipped_refs = skipped_refs or {}
        # problems that are Backstage-valid input Switchboard cannot represent (an owner that is a
        # user, an API no component provides, a $text URL, ...): (entity, reason)
        self.gaps: list[tuple[Entity, str]] = []
        self.location = location
        self.base_dirs = base_dirs
        self.plan = Plan()
        self.by_ref: dict[Ref, Entity] = {}
        self.kind_of: dict[Ref, str] = {}  # ref -> Switchboard kind it maps to
        self.items: dict[tuple[str, str], Item] = {}

    # --- helpers ------------------------------------------------------------------------------
    def problem(self, entity: Entity, path: str, message: str) -> None:
        self.plan.problems.append(entity.problem(path, message))

    def gap(self, entity: Entity, path: str, message: str) -> None:
        """A problem that is a mapping gap, not invalid input: refused like any problem, unless
        the location skips unmappable entities (then the entity is skipped with this reason)."""
        self.problem(entity, path, message)
        self.gaps.append((entity, f"{path}: {message}"))

    def skip(self, entity: Entity, reason: str) -> None:
        self.plan.skipped.append(
            {"file": entity.file, "line": entity.line, "kind": entity.kind, "name": entity.name, "reason": reason}
        )

    def resolve(self, entity: Entity, path: str, value, *, kind: str, default_kind: str, exists) -> str | None:
        """The slug a reference names: an entity in the files mapped to ``kind``, else an
        existing catalog object (``exists(slug)``); None, with a problem, otherwise."""
        ref = parse_ref(value, default_kind=default_kind, default_namespace=entity.namespace)
        if isinstance(ref, str):
            self.problem(entity, path, ref)
            return None
        if ref in self.skipped_refs:
            self.gap(entity, path, f"{ref} is skipped, so this {entity.kind} is skipped too.")
            return None
        if ref in self.by_ref:
            mapped = self.kind_of.get(ref)
            if mapped != kind:
                target = self.by_ref[ref]
                what = f"maps to a {mapped}" if mapped else "is skipped"
                self.gap(entity, path, f"{ref} ({target.file}:{target.line}) {what}; a {kind} is needed here.")
                return None
            return ref_slug(ref)
        slug = ref_slug(ref)
        if exists(slug):
            return slug
        self.problem(entity, path, f"{ref} is neither in these files nor a {kind} in the catalog.")
        return None

    def add(self, kind: str, entity: Entity, fields: dict, refs: dict | None = None) -> Item:
        slug = fields.pop("slug")
        item = Item(kind, slug, entity, fields, refs or {})
        if (kind, slug) in self.items:
            other = self.items[(kind, slug)].entity
            self.gap(entity, "metadata.name", f"{kind} '{slug}' is also described at {other.file}:{other.line}.")
            return item
        self.items[(kind, slug)] = item
        return item

    # --- the kinds --------------------------------------------------------------------------------
    def classify(self) -> None:
        for entity in self.entities:
            ref = entity.ref
            if ref in self.by_ref:
                other = self.by_ref[ref]
                self.problem(entity, "metadata.name", f"{ref} is also defined at {other.file}:{other.line}.")
                continue
            self.by_ref[ref] = entity
            spec = entity.spec
            if entity.kind == "Group":
                kind = "org" if spec["type"] in ORG_TYPES else "team" if spec["type"] == "team" else None
                if kind is None:
                    self.skip(
                        entity,
                        f"group type '{spec['type'][:40]}' is neither an org ({', '.join(ORG_TYPES)}) nor a team",
                    )
            elif entity.kind == "Component":
                kind = "service" if spec["type"] == "service" else None
                if kind is None:
                    self.skip(
                        entity, f"component type '{spec['type'][:40]}' is not a service; only services are imported"
                    )
            else:
                kind = {"User": "user", "API": "api", "System": "system", "Domain": "domain", "Resource": "resource"}[
                    entity.kind
                ]
            if kind:
                self.kind_of[ref] = kind
            slug = entity.name if kind == "user" else slug_for(entity)
            if kind and kind != "user":
                try:
                    slug_validator(slug)
                except ValidationError:
                    self.problem(entity, "metadata.name", f"'{slug[:80]}' is too long for a Switchboard slug (64).")

    def org_of_team(self, entity: Entity) -> str | None:
        """A team's org: the nearest Group of an org type up its ``spec.parent`` chain, or an
        org of the catalog."""
        seen, current = set(), entity
        while True:
            parent = current.spec.get("parent")
            if not parent:
                self.problem(
                    entity, "spec.parent", "A team needs a parent Group of type organization or business-unit."
                )
                return None
            ref = parse_ref(parent, default_kind="group", default_namespace=current.namespace)
            if isinstance(ref, str):
                self.problem(entity, "spec.parent", ref)
                return None
            if ref in seen or len(seen) > 64:
                self.problem(entity, "spec.parent", f"The parent chain loops at {ref}.")
                return None
            seen.add(ref)
            target = self.by_ref.get(ref)
            if target is None:
                if Org.objects.filter(slug=ref_slug(ref)).exists():
                    return ref_slug(ref)
                self.problem(entity, "spec.parent", f"{ref} is neither in these files nor an org in the catalog.")
                return None
            if target.kind == "Group" and target.spec["type"] in ORG_TYPES:
                return slug_for(target)
            current = target

    def annotation(self, entity: Entity, name: str):
        return entity.annotations.get(ANNOTATION + name)

    def build(self) -> None:
        existing_teams = lambda s: Team.objects.filter(slug=s).exists()  # noqa: E731
        for entity in self.entities:
            kind = self.kind_of.get(entity.ref)
            if kind is None or self.by_ref.get(entity.ref) is not entity:
                continue
            spec, slug = entity.spec, (entity.name if kind == "user" else slug_for(entity))
            name = (entity.title or entity.name)[:200]
            owner = lambda entity=entity: self.resolve(  # noqa: E731
                entity, "spec.owner", entity.spec["owner"], kind="team", default_kind="group", exists=existing_teams
            )
            if kind == "org":
                self.add("org", entity, {"slug": slug, "name": name, "description": entity.description})
            elif kind == "team":
                profile = spec.get("profile") if isinstance(spec.get("profile"), dict) else {}
                oncall = self.annotation(entity, "oncall") or profile.get("email") or ""
                fields = {
                    "slug": slug,
                    "name": (profile.get("displayName") or name)[:200]
                    if isinstance(profile.get("displayName"), str)
                    else name,
                    "description": entity.description,
                    "oncall_contact": str(oncall)[:200],
                    "chat_channel": str(self.annotation(entity, "chat-channel") or "")[:200],
                    "org": self.org_of_team(entity),
                }
                self.add("team", entity, fields, {"org": "spec.parent"})
            elif kind == "user":
                profile = spec.get("profile") or {}
                teams, leads = [], []
                for key, bucket in (("memberOf", teams), ("leaderOf", leads)):
                    for value in spec.get(key) or ():
                        ref = parse_ref(value, default_kind="group", default_namespace=entity.namespace)
                        if not isinstance(ref, str) and self.kind_of.get(ref) in ("org", None) and ref in self.by_ref:
                            continue  # membership of an org or a skipped group: nothing to record
                        team = self.resolve(
                            entity, f"spec.{key}", value, kind="team", default_kind="group", exists=existing_teams
                        )
                        if team:
                            bucket.append(team)
                self.add(
                    "user",
                    entity,
                    {
                        "slug": slug,
                        "email": str(profile.get("email") or "")[:254],
                        "first_name": str(profile.get("displayName") or "")[:150],
                        "teams": sorted(set(teams) | set(leads)),
                        "leads": sorted(set(leads)),
                    },
                )
            elif kind == "domain":
                fields = {
                    "slug": slug,
                    "name": name,
                    "description": entity.description,
                    "team": owner(),
                    "parent": None,
                }
                if spec.get("subdomainOf"):
                    fields["parent"] = self.resolve(
                        entity,
                        "spec.subdomainOf",
                        spec["subdomainOf"],
                        kind="domain",
                        default_kind="domain",
                        exists=lambda s: Domain.objects.filter(slug=s).exists(),
                    )
                self.add("domain", entity, fields, {"team": "spec.owner", "parent": "spec.subdomainOf"})
            elif kind == "system":
                fields = {
                    "slug": slug,
                    "name": name,
                    "description": entity.description,
                    "team": owner(),
                    "domain": None,
                }
                if spec.get("domain"):
                    fields["domain"] = self.resolve(
                        entity,
                        "spec.domain",
                        spec["domain"],
                        kind="domain",
                        default_kind="domain",
                        exists=lambda s: Domain.objects.filter(slug=s).exists(),
                    )
                self.add("system", entity, fields, {"team": "spec.owner", "domain": "spec.domain"})
            elif kind == "resource":
                rtype = resource_type(spec["type"])
                fields = {
                    "slug": slug,
                    "name": name,
                    "description": entity.description,
                    "type": rtype,
                    "team": owner(),
                    "system": self.system_ref(entity),
                }
                self.add("resource", entity, fields, {"team": "spec.owner", "system": "spec.system"})
            elif kind == "service":
                self.build_service(entity, slug, name, owner())
            elif kind == "api":
                self.build_api(entity, slug, name)

    def providers(self) -> dict[Ref, list[Entity]]:
        """API ref -> the service components that list it in spec.providesApis (computed once)."""
        if not hasattr(self, "_providers"):
            self._providers: dict[Ref, list[Entity]] = {}
            for e in self.entities:
                if self.kind_of.get(e.ref) != "service" or self.by_ref.get(e.ref) is not e:
                    continue
                for value in e.spec.get("providesApis") or ():
                    ref = parse_ref(value, default_kind="api", default_namespace=e.namespace)
                    if not isinstance(ref, str):
                        self._providers.setdefault(ref, []).append(e)
        return self._providers

    def system_ref(self, entity: Entity) -> str | None:
        if not entity.spec.get("system"):
            return None
        return self.resolve(
            entity,
            "spec.system",
            entity.spec["system"],
            kind="system",
            default_kind="system",
            exists=lambda s: System.objects.filter(slug=s).exists(),
        )

    def build_service(self, entity: Entity, slug: str, name: str, team: str | None) -> None:
        spec = entity.spec
        lifecycle = spec["lifecycle"]
        if lifecycle not in dict(constants.LIFECYCLE_CHOICES):
            self.problem(
                entity, "spec.lifecycle", f"'{lifecycle[:40]}' is not one of experimental, production, deprecated."
            )
        fields = {
            "slug": slug,
            "name": name,
            "description": entity.description[:5000],
            "lifecycle": lifecycle,
            "team": team,
            "system": self.system_ref(entity),
            "tier": 3,
            "base_url": "",
            "aliases": [],
            "metrics_path": "/metrics",
            "health_path": "/health",
        }
        refs = {"team": "spec.owner", "system": "spec.system"}
        source = entity.annotations.get("backstage.io/source-location", "")
        fields["repository_url"] = source[4:] if source.startswith("url:") else ""
        refs["repository_url"] = "metadata.annotations.backstage.io/source-location"
        for annotation, model_field in SERVICE_ANNOTATIONS.items():
            value = self.annotation(entity, annotation)
            if value is None:
                continue
            path = f"metadata.annotations.{ANNOTATION}{annotation}"
            refs[model_field] = path
            if model_field == "tier":
                if value.strip() not in ("1", "2", "3", "4"):
                    self.problem(entity, path, f"'{value[:20]}' is not a tier (1 to 4).")
                    continue
                value = int(value)
            elif model_field == "aliases":
                value = [a.strip() for a in value.split(",") if a.strip()]
            elif model_field == "crawl_enabled":
                value = value.strip().lower() not in ("false", "no", "0", "off")
            fields[model_field] = value
        consumes = []
        for value in spec.get("consumesApis") or ():
            api = self.resolve(
                entity,
                "spec.consumesApis",
                value,
                kind="api",
                default_kind="api",
                exists=lambda s: Api.objects.filter(slug=s).exists(),
            )
            if api:
                consumes.append(api)
        resources = []
        for value in spec.get("dependsOn") or ():
            ref = parse_ref(value, default_kind=None, default_namespace=entity.namespace)
            if isinstance(ref, str):
                self.problem(entity, "spec.dependsOn", ref)
            elif ref.kind == "resource":
                resource = self.resolve(
                    entity,
                    "spec.dependsOn",
                    value,
                    kind="resource",
                    default_kind="resource",
                    exists=lambda s: Resource.objects.filter(slug=s).exists(),
                )
                if resource:
                    resources.append(resource)
        fields["consumes"], fields["resources"] = sorted(set(consumes)), sorted(set(resources))
        self.add("service", entity, fields, refs)

    def build_api(self, entity: Entity, slug: str, name: str) -> None:
        spec = entity.spec
        providers = self.providers().get(entity.ref, [])
        provider = None
        if len(providers) > 1:
            where = ", ".join(f"{p.name} ({p.file}:{p.line})" for p in providers[:5])
            self.problem(
                entity,
                "metadata.name",
                f"Provided by several components ({where}); a Switchboard API has one provider.",
            )
        elif providers:
            provider = slug_for(providers[0])
        else:
            current = Api.objects.filter(slug=slug).values_list("provider__slug", flat=True).first()
            if current is None:
                self.gap(
                    entity,
                    "metadata.name",
                    "No Component lists this API in spec.providesApis; a Switchboard API belongs to a service.",
                )
            provider = current
        api_type = spec["type"].lower()
        kind = api_type if api_type in API_KINDS else "other"
        lifecycle = spec["lifecycle"]
        if lifecycle not in dict(constants.LIFECYCLE_CHOICES):
            self.problem(
                entity, "spec.lifecycle", f"'{lifecycle[:40]}' is not one of experimental, production, deprecated."
            )
        definition = spec["definition"]
        if isinstance(definition, dict):
            text_path = str(definition["$text"])
            definition, problem = _text_definition(entity, text_path, self.base_dirs.get(entity.file))
            if problem:
                self.plan.problems.append(problem)
                if "://" in text_path:  # Switchboard never fetches a definition from a URL
                    self.gaps.append((entity, f"spec.definition.$text: {problem.message}"))
                definition = None
        spec_value = None
        meaningful = isinstance(definition, str) and any(
            line.strip() and not line.lstrip().startswith("#") for line in definition.splitlines()
        )
        if meaningful:
            if kind == "openapi":
                data, problems = load_text(definition, file=f"{entity.file}#{entity.name}")
                if not problems and data is None:
                    pass  # a definition with no document (comments only): no spec recorded
                elif problems:
                    self.problem(
                        entity, "spec.definition", f"Not a YAML or JSON OpenAPI document: {problems[0].message}"
                    )
                else:
                    spec_value = _plain(data)
            else:
                spec_value = {"definition": definition}
        fields = {
            "slug": slug,
            "name": name,
            "kind": kind,
            "lifecycle": lifecycle,
            "version": str(self.annotation(entity, "version") or "")[:40],
            "base_path": str(self.annotation(entity, "base-path") or "/"),
            "spec": spec_value,
            "provider": provider,
        }
        refs = {"spec": "spec.definition", "provider": "spec.providesApis"}
        refs.update(
            {
                "version": f"metadata.annotations.{ANNOTATION}version",
                "base_path": f"metadata.annotations.{ANNOTATION}base-path",
            }
        )
        self.add("api", entity, fields, refs)

    # --- checks against the catalog -----------------------------------------------------------------
    def check_fields(self) -> None:
        """Each object to create or update passes its model's validators (the same rules as a
        form or REST). An unchanged object is what the catalog holds already: nothing to check,
        nothing will be written."""
        from catalog.services import spec_validate
        from core.errors import InvalidInput

        for item in self.items.values():
            model = MODELS.get(item.kind)
            if model is None or item.action == "unchanged":
                continue
            plain = {
                k: v
                for k, v in item.fields.items()
                if k not in ("team", "system", "domain", "parent", "provider", "consumes", "resources")
            }
            obj = model(slug=item.slug, **plain)
            try:
                obj.full_clean(exclude=["team", "system", "domain", "parent", "provider"], validate_unique=False)
            except ValidationError as exc:
                reported = {(p.file, p.line, p.field) for p in self.plan.problems}
                for name, messages in exc.message_dict.items():
                    path = item.refs.get(name, "metadata.name" if name == "slug" else f"spec.{name}")
                    if (item.entity.file, item.entity.line_of(path), path) in reported:
                        continue  # already said, in the descriptor's own terms
                    for message in messages:
                        self.problem(item.entity, path, message)
            if item.kind == "api" and item.fields.get("spec") and item.fields["kind"] == "openapi":
                try:
                    spec_validate(kind="openapi", spec=item.fields["spec"])
                except InvalidInput as exc:
                    self.problem(item.entity, "spec.definition", exc.detail)
                else:
                    if item.action == "update" and "spec" in item.changed:
                        self.check_breaking(item, obj)

    def check_breaking(self, item: Item, new) -> None:
        """A new spec that breaks the API's clients without a new major version is a problem here,
        as it would be a 409 when applied: a dry run says so first (an import cannot confirm)."""
        from catalog.models import Api
        from catalog.services import api_breaking_changes, breaking_refusal

        old = Api.objects.filter(slug=item.slug).values("kind", "spec", "version").first()
        if old is None:
            return
        diff = api_breaking_changes(new, old_kind=old["kind"], old_spec=old["spec"], old_version=old["version"])
        if diff:
            self.problem(item.entity, "spec.definition", breaking_refusal(new, diff).detail)

    def compare(self) -> None:
        """create / update (naming the fields) / unchanged, against the catalog."""
        User = get_user_model()
        existing = {
            "org": set(Org.objects.values_list("slug", flat=True)),
            "team": set(Team.objects.values_list("slug", flat=True)),
            "user": set(User.objects.values_list("username", flat=True)),
            **{kind: set(model.objects.values_list("slug", flat=True)) for kind, model in MODELS.items()},
        }
        claimed = {
            (kind, slug): target
            for kind, slug, target in ManagedEntity.objects.values_list("kind", "slug", "location__target")
        }
        wanted = defaultdict(list)
        for item in self.items.values():
            if item.slug in existing[item.kind]:
                wanted[item.kind].append(item.slug)
        currents = {kind: self.current_all(kind, slugs, User) for kind, slugs in wanted.items()}
        for item in self.items.values():
            current = currents.get(item.kind, {}).get(item.slug)
            if current is None:
                item.action, item.changed = "create", sorted(k for k in item.fields if k not in ("leads",))
                continue
            item.changed = sorted(k for k, v in item.fields.items() if current.get(k) != v)
            item.action = "update" if item.changed else "unchanged"
            managed = claimed.get((item.kind, item.slug))
            if managed and self.location and managed != self.location:
                self.problem(
                    item.entity,
                    "metadata.name",
                    f"{item.kind} '{item.slug}' is already managed by location '{managed}'.",
                )

    @staticmethod
    def current_all(kind: str, slugs: list[str], User) -> dict[str, dict]:
        """The catalog's values of many objects of one kind, in a few queries (slug -> values)."""
        out: dict[str, dict] = {}
        for start in range(0, len(slugs), 500):
            chunk = slugs[start : start + 500]
            if kind == "org":
                rows = Org.objects.filter(slug__in=chunk).values("slug", "name", "description")
            elif kind == "team":
                rows = [
                    {**r, "org": r.pop("org__slug")}
                    for r in Team.objects.filter(slug__in=chunk).values(
                        "slug", "name", "description", "oncall_contact", "chat_channel", "org__slug"
                    )
                ]
            elif kind == "user":
                rows = []
                members = defaultdict(list)
                for username, team, role in Membership.objects.filter(user__username__in=chunk).values_list(
                    "user__username", "team__slug", "role"
                ):
                    members[username].append((team, role))
                for r in User.objects.filter(username__in=chunk).values("username", "email", "first_name"):
                    seats = members[r["username"]]
                    rows.append(
                        {
                            "slug": r["username"],
                            "email": r["email"],
                            "first_name": r["first_name"],
                            "teams": sorted(t for t, _ in seats),
                            "leads": sorted(t for t, role in seats if role == "lead"),
                        }
                    )
            else:
                model = MODELS[kind]
                plain = [f.name for f in model._meta.concrete_fields if not f.is_relation]
                related = [n for n in ("team", "system", "domain", "parent", "provider") if hasattr(model, f"{n}_id")]
                rows = [
                    {**{k: v for k, v in r.items() if "__" not in k}, **{n: r[f"{n}__slug"] for n in related}}
                    for r in model.objects.filter(slug__in=chunk).values(*plain, *(f"{n}__slug" for n in related))
                ]
                if kind == "service":
                    extra = defaultdict(lambda: {"consumes": [], "resources": []})
                    for service, api in Service.consumes.through.objects.filter(service__slug__in=chunk).values_list(
                        "service__slug", "api__slug"
                    ):
                        extra[service]["consumes"].append(api)
                    for service, resource in Resource.dependents.through.objects.filter(
                        service__slug__in=chunk
                    ).values_list("service__slug", "resource__slug"):
                        extra[service]["resources"].append(resource)
                    for r in rows:
                        r["consumes"] = sorted(extra[r["slug"]]["consumes"])
                        r["resources"] = sorted(extra[r["slug"]]["resources"])
            for r in rows:
                out[r["slug"]] = r
        return out

    def check_limits(self) -> None:
        """Ownership limits as they would stand after the change: one problem per team over."""
        planned = self.items
        teams_new = {i.slug: i for (kind, _), i in planned.items() if kind == "team"}

        # every team and org of the catalog read once (not one query per team checked)
        teams_db = Team.objects.select_related("org").in_bulk(field_name="slug")
        orgs_db = Org.objects.in_bulk(field_name="slug")

        def team_max(team_slug: str, limit: str) -> int:
            team = teams_db.get(team_slug)
            if team is not None:
                return team.effective_max_services if limit == "services" else team.effective_max_members
            item = teams_new.get(team_slug)
            org = orgs_db.get(item.fields.get("org")) if item else None
            if org is not None:
                return org.max_services_per_team if limit == "services" else org.max_members_per_team
            return DEFAULT_MAX_SERVICES_PER_TEAM if limit == "services" else DEFAULT_MAX_MEMBERS_PER_TEAM

        from catalog.services import owned_limit

        for kind, noun in (
            ("service", "services"),
            ("system", "systems"),
            ("domain", "domains"),
            ("resource", "resources"),
        ):
            owner = dict(MODELS[kind].objects.values_list("slug", "team__slug"))
            for (k, slug), item in planned.items():
                if k == kind and item.fields.get("team"):
                    owner[slug] = item.fields["team"]
            counts = Counter(owner.values())
            for team_slug, count in sorted(counts.items()):
                maximum = team_max(team_slug, "services") if kind == "service" else owned_limit(kind)
                if count > maximum:
                    entity = next(
                        (i.entity for (k, _), i in planned.items() if k == kind and i.fields.get("team") == team_slug),
                        None,
                    )
                    if entity is not None:
                        self.problem(entity, "spec.owner", f"team {team_slug} would own {count} {noun} (max {maximum})")
        members = defaultdict(set)
        for team_slug, username in Membership.objects.values_list("team__slug", "user__username"):
            members[team_slug].add(username)
        for (k, slug), item in planned.items():
            if k == "user":
                for team_slug in item.fields["teams"]:
                    members[team_slug].add(slug)
        for team_slug, usernames in sorted(members.items()):
            maximum = team_max(team_slug, "members")
            if len(usernames) > maximum:
                entity = next(
                    (i.entity for (k, _), i in planned.items() if k == "user" and team_slug in i.fields["teams"]), None
                )
                if entity is not None:
                    self.problem(
                        entity, "spec.memberOf", f"team {team_slug} would have {len(usernames)} members (max {maximum})"
                    )

    def check_domain_loops(self) -> None:
        parents = dict(Domain.objects.values_list("slug", "parent__slug"))
        for (k, slug), item in self.items.items():
            if k == "domain":
                parents[slug] = item.fields.get("parent")
        for (k, slug), item in self.items.items():
            if k != "domain":
                continue
            chain, current = [slug], parents.get(slug)
            while current and len(chain) <= 64:
                chain.append(current)
                if current == slug:
                    self.problem(item.entity, "spec.subdomainOf", f"Domains would loop: {' -> '.join(chain)}.")
                    break
                current = parents.get(current)

    def orphans(self) -> None:
        if not self.location:
            return
        rows = ManagedEntity.objects.filter(location__target=self.location, orphaned_at=None)
        kept = set(self.items)
        self.plan.orphans = sorted(row for row in rows.values_list("kind", "slug") if row not in kept)

    def run(self) -> Plan:
        self.classify()
        self.build()
        self.compare()
        self.check_fields()
        self.check_domain_loops()
        self.check_limits()
        self.orphans()
        self.plan.items = sorted(self.items.values(), key=lambda i: (ORDER.index(i.kind), i.slug))
        return self.plan


def _plain(value):
    """YAML's Mapping subclass as plain dicts (what is stored as JSON)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def plan_files(
    files: list[tuple[str, bytes | str, Path | None]], *, location: str | None = None, skip_unmappable: bool = False
) -> Plan:
    """Read, validate and plan descriptor files given as (name, content, directory for $text or None).
    With ``skip_unmappable``, entities Switchboard cannot represent (mapping gaps, not invalid
    input) are skipped with their reason, and so is whatever refers to them, until none is left;
    invalid input is still refused."""
    with _collector_paused():
        return _plan_files(files, location=location, skip_unmappable=skip_unmappable)


@contextmanager
def _collector_paused():
    """Python's cyclic garbage collector paused while a plan is built: a plan holds some 100,000
    objects per 5,000 entities for its whole life, and the collector's passes over them took a
    fifth of the time (bench/README.md, "Catalog import"). Reference counting still frees all
    that is not in a cycle; the collector resumes (if it ran before) when the plan is done."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _plan_files(files, *, location, skip_unmappable) -> Plan:
    entities, problems, skipped = [], [], []
    for name, content, _ in files:
        documents, read_problems = read(content, file=name)
        problems += read_problems
        for doc in documents:
            entity, doc_problems, reason = validate(doc)
            problems += doc_problems
            if reason:
                skipped.append(_skipped(doc, reason))
            elif entity is not None:
                entities.append(entity)
    base_dirs = {name: base for name, _, base in files}
    skipped_refs: dict[Ref, str] = {}
    gap_skips: list[dict] = []
    for _ in range(64):  # each round skips at least one entity; references are at most this deep
        planner = Planner(
            [e for e in entities if e.ref not in skipped_refs],
            location=location,
            base_dirs=base_dirs,
            skipped_refs=skipped_refs,
        )
        plan = planner.run()
        if not skip_unmappable or not planner.gaps:
            break
        for entity, reason in planner.gaps:
            if entity.ref not in skipped_refs:
                skipped_refs[entity.ref] = reason
                gap_skips.append(
                    {
                        "file": entity.file,
                        "line": entity.line,
                        "kind": entity.kind,
                        "name": entity.name,
                        "reason": reason,
                    }
                )
    plan.problems = problems + plan.problems
    plan.skipped = skipped + plan.skipped + gap_skips
    return plan


def _skipped(doc: Document, reason: str) -> dict:
    data = doc.data if isinstance(doc.data, dict) else {}
    metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    return {
        "file": doc.file,
        "line": doc.line,
        "kind": str(data.get("kind"))[:60],
        "name": str(metadata.get("name"))[:63],
        "reason": reason,
    }
