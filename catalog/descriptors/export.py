"""The catalog as Backstage descriptors (backstage.io/v1alpha1), one YAML stream: groups (orgs
and teams), users, domains, systems, resources, components (services) and APIs with their
definitions, Switchboard's fields as ``switchboard.io/*`` annotations, and what an import kept
(original names, namespaces, annotations, labels, tags, links). Importing the result into an
empty installation gives the same catalog."""

from __future__ import annotations

import json

import yaml
from django.contrib.auth import get_user_model

from catalog.descriptors.plan import ANNOTATION
from catalog.descriptors.schema import DEFAULT_NAMESPACE
from catalog.models import Domain, ManagedEntity, Resource, Service, System
from teams.models import Membership, Org, Team


class _Dumper(yaml.SafeDumper):
    """Block style, keys in the order given, no aliases (repeated lists are written out)."""

    def ignore_aliases(self, data):
        return True


def _str_presenter(dumper, value):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_presenter)


def export_backstage(*, org: str | None = None, include_emails: bool = False) -> str:
    kept = {(m.kind, m.slug): m.metadata for m in ManagedEntity.objects.all()}
    names: dict[tuple[str, str], tuple[str, str]] = {}  # (kind, slug) -> (namespace, name)

    def ident(kind: str, slug: str) -> tuple[str, str]:
        if (kind, slug) not in names:
            meta = kept.get((kind, slug)) or {}
            names[(kind, slug)] = (meta.get("namespace") or DEFAULT_NAMESPACE, meta.get("name") or slug)
        return names[(kind, slug)]

    here = [DEFAULT_NAMESPACE]  # the namespace of the entity being written: references default to it

    def ref(kind: str, slug: str, backstage_kind: str) -> str:
        namespace, name = ident(kind, slug)
        prefix = f"{backstage_kind}:" if backstage_kind else ""
        return f"{prefix}{namespace}/{name}" if namespace != here[0] else f"{prefix}{name}"

    def at(kind: str, slug: str) -> None:
        here[0] = ident(kind, slug)[0]

    def envelope(kind: str, slug: str, backstage_kind: str, *, title: str, description: str, annotations=None, spec):
        namespace, name = ident(kind, slug)
        meta = kept.get((kind, slug)) or {}
        metadata: dict = {"name": name}
        if namespace != DEFAULT_NAMESPACE:
            metadata["namespace"] = namespace
        if title and title != name:
            metadata["title"] = title
        if description:
            metadata["description"] = description
        all_annotations = {**(meta.get("annotations") or {}), **(annotations or {})}
        if all_annotations:
            metadata["annotations"] = all_annotations
        for key in ("labels", "tags", "links"):
            if meta.get(key):
                metadata[key] = meta[key]
        extra = meta.get("spec") or {}
        spec = {**spec, **{k: v for k, v in extra.items() if k not in spec}}
        if "dependsOn" in extra and "dependsOn" in spec:
            spec["dependsOn"] = sorted(set(spec["dependsOn"]) | set(extra["dependsOn"]))
        return {"apiVersion": "backstage.io/v1alpha1", "kind": backstage_kind, "metadata": metadata, "spec": spec}

    orgs = Org.objects.order_by("slug")
    teams = Team.objects.select_related("org").order_by("slug")
    services = Service.objects.select_related("team", "system").prefetch_related("consumes", "resources", "apis")
    services = services.order_by("slug")
    if org:
        orgs, teams = orgs.filter(slug=org), teams.filter(org__slug=org)
        services = services.filter(team__org__slug=org)
    team_slugs = {t.slug for t in teams}
    docs = []
    for o in orgs:
        at("org", o.slug)
        children = [ref("team", t.slug, "") for t in teams if t.org_id == o.pk]
        meta = kept.get(("org", o.slug)) or {}
        docs.append(
            envelope(
                "org",
                o.slug,
                "Group",
                title=o.name,
                description=o.description,
                spec={"type": meta.get("type") or "organization", "children": children},
            )
        )
    for t in teams:
        at("team", t.slug)
        profile = {"displayName": t.name} if t.name else {}
        annotations = {ANNOTATION + "oncall": t.oncall_contact} if t.oncall_contact else {}
        if t.chat_channel:
            annotations[ANNOTATION + "chat-channel"] = t.chat_channel
        docs.append(
            envelope(
                "team",
                t.slug,
                "Group",
                title="",
                description=t.description,
                annotations=annotations,
                spec={"type": "team", "parent": ref("org", t.org.slug, ""), "profile": profile, "children": []},
            )
        )
    User = get_user_model()
    members: dict[int, list] = {}
    for m in Membership.objects.filter(team__slug__in=team_slugs).select_related("team").order_by("team__slug"):
        members.setdefault(m.user_id, []).append(m)
    for user in User.objects.filter(pk__in=members).order_by("username"):
        here[0] = DEFAULT_NAMESPACE
        spec: dict = {}
        profile = {}
        if user.first_name:
            profile["displayName"] = user.first_name
        if include_emails and user.email:
            profile["email"] = user.email
        if profile:
            spec["profile"] = profile
        spec["memberOf"] = [ref("team", m.team.slug, "") for m in members[user.pk]]
        leads = [ref("team", m.team.slug, "") for m in members[user.pk] if m.role == "lead"]
        if leads:
            spec["leaderOf"] = leads
        docs.append(
            {"apiVersion": "backstage.io/v1alpha1", "kind": "User", "metadata": {"name": user.username}, "spec": spec}
        )
    for d in Domain.objects.filter(team__slug__in=team_slugs).select_related("team", "parent").order_by("slug"):
        at("domain", d.slug)
        spec = {"owner": ref("team", d.team.slug, "group")}
        if d.parent:
            spec["subdomainOf"] = ref("domain", d.parent.slug, "")
        docs.append(envelope("domain", d.slug, "Domain", title=d.name, description=d.description, spec=spec))
    for s in System.objects.filter(team__slug__in=team_slugs).select_related("team", "domain").order_by("slug"):
        at("system", s.slug)
        spec = {"owner": ref("team", s.team.slug, "group")}
        if s.domain:
            spec["domain"] = ref("domain", s.domain.slug, "")
        docs.append(envelope("system", s.slug, "System", title=s.name, description=s.description, spec=spec))
    for r in Resource.objects.filter(team__slug__in=team_slugs).select_related("team", "system").order_by("slug"):
        at("resource", r.slug)
        meta = kept.get(("resource", r.slug)) or {}
        spec = {"type": meta.get("type") or r.type, "owner": ref("team", r.team.slug, "group")}
        if r.system:
            spec["system"] = ref("system", r.system.slug, "")
        docs.append(envelope("resource", r.slug, "Resource", title=r.name, description=r.description, spec=spec))
    apis = []
    for s in services:
        at("service", s.slug)
        annotations = {
            ANNOTATION + "tier": str(s.tier),
            ANNOTATION + "metrics-path": s.metrics_path,
            ANNOTATION + "health-path": s.health_path,
        }
        if s.base_url:
            annotations[ANNOTATION + "base-url"] = s.base_url
        if s.repository_url:
            annotations["backstage.io/source-location"] = f"url:{s.repository_url}"
        if s.aliases:
            annotations[ANNOTATION + "aliases"] = ", ".join(s.aliases)
        if not s.crawl_enabled:
            annotations[ANNOTATION + "crawl-enabled"] = "false"
        spec = {"type": "service", "lifecycle": s.lifecycle, "owner": ref("team", s.team.slug, "group")}
        if s.system:
            spec["system"] = ref("system", s.system.slug, "")
        provided = sorted(s.apis.all(), key=lambda a: a.slug)
        apis += provided
        if provided:
            spec["providesApis"] = [ref("api", a.slug, "") for a in provided]
        if s.consumes.all():
            spec["consumesApis"] = [ref("api", a.slug, "api") for a in sorted(s.consumes.all(), key=lambda a: a.slug)]
        if s.resources.all():
            spec["dependsOn"] = [
                ref("resource", r.slug, "resource") for r in sorted(s.resources.all(), key=lambda r: r.slug)
            ]
        docs.append(
            envelope(
                "service",
                s.slug,
                "Component",
                title=s.name,
                description=s.description,
                annotations=annotations,
                spec=spec,
            )
        )
    for a in apis:
        at("api", a.slug)
        meta = kept.get(("api", a.slug)) or {}
        if a.spec is None:
            definition = "# no definition recorded in Switchboard\n"
        elif a.kind != "openapi" and isinstance(a.spec, dict) and set(a.spec) == {"definition"}:
            definition = a.spec["definition"]
        else:
            definition = json.dumps(a.spec, indent=2, sort_keys=False)
        annotations = {ANNOTATION + "version": a.version} if a.version else {}
        if a.base_path != "/":
            annotations[ANNOTATION + "base-path"] = a.base_path
        spec = {
            "type": meta.get("type") or a.kind,
            "lifecycle": a.lifecycle,
            "owner": ref("team", a.provider.team.slug, "group"),
            "definition": definition,
        }
        docs.append(envelope("api", a.slug, "API", title=a.name, description="", annotations=annotations, spec=spec))
    return yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
