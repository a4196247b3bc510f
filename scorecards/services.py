"""Writes: loading scorecard definitions from YAML (validated, all or nothing, audited) and
computing results (in bulk, for every service or only those a change touched), with the daily
level-count history and a ``scorecard.level_dropped`` event when a service falls a level."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from catalog.constants import LIFECYCLE_CHOICES
from catalog.descriptors import reader
from catalog.descriptors.reader import Mapping
from catalog.models import Service
from changes.services import events_record_many
from core.audit import audit_record, snapshot
from core.errors import DomainError, InvalidInput, NotAuthenticated, PermissionDenied
from scorecards import selectors
from scorecards.checks import REGISTRY, evaluate
from scorecards.models import Scorecard, ScorecardCheck, ScorecardResult, ScorecardSnapshot
from teams.models import Org, Team, slug_validator

logger = logging.getLogger(__name__)

LEVEL_DROPPED = "scorecard.level_dropped"
TOP_KEYS = {"slug", "name", "description", "enabled", "filter", "levels", "checks"}
FILTER_KEYS = {"org", "team", "tier", "system", "lifecycle"}
CHECK_KEYS = {"key", "type", "level", "params"}
MAX_CHECKS, MAX_LEVELS = 100, 10


class ScorecardInvalid(InvalidInput):
    code = "scorecard_invalid"


class ScorecardTooLarge(DomainError):
    code = "scorecard_too_large"
    status = 413


# --- Definitions ------------------------------------------------------------------------------
def _problem(errors: list, file: str, line: int, field: str, message: str) -> None:
    errors.append({"file": file, "line": line, "field": field, "message": message})


def _line(node, key: str | None = None) -> int:
    if isinstance(node, Mapping):
        return node.line_of(key) if key else node.line
    return 0


def _parse_one(doc, file: str, errors: list) -> dict | None:
    data, start = doc.data, doc.line
    if not isinstance(data, dict):
        _problem(errors, file, start, "", "A scorecard is a mapping (slug, name, levels, checks).")
        return None
    before = len(errors)
    for key in sorted(set(data) - TOP_KEYS):
        _problem(errors, file, _line(data, key), key, f"Unknown field (known: {', '.join(sorted(TOP_KEYS))}).")
    out: dict = {"line": start}
    slug = data.get("slug")
    if not isinstance(slug, str):
        _problem(errors, file, _line(data, "slug") or start, "slug", "Required: a slug.")
    else:
        try:
            slug_validator(slug)
            out["slug"] = slug
        except Exception:  # noqa: BLE001 (a ValidationError; its message is the rule)
            _problem(errors, file, _line(data, "slug"), "slug", "Use 1-64 lowercase letters, digits and hyphens.")
    name = data.get("name", slug)
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        _problem(errors, file, _line(data, "name") or start, "name", "A name of 1-200 characters.")
    out["name"] = name if isinstance(name, str) else ""
    description = data.get("description", "")
    if not isinstance(description, str) or len(description) > 5000:
        _problem(errors, file, _line(data, "description"), "description", "Text of at most 5000 characters.")
    out["description"] = description if isinstance(description, str) else ""
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        _problem(errors, file, _line(data, "enabled"), "enabled", "true or false.")
    out["enabled"] = enabled is True
    out["filter"] = _parse_filter(data.get("filter") or {}, file, _line(data, "filter"), errors)
    levels = data.get("levels")
    if (
        not isinstance(levels, list)
        or not 1 <= len(levels) <= MAX_LEVELS
        or not all(isinstance(x, str) and 0 < len(x) <= 64 for x in levels)
        or len(set(levels)) != len(levels)
    ):
        _problem(
            errors,
            file,
            _line(data, "levels") or start,
            "levels",
            f"A list of 1-{MAX_LEVELS} distinct level names, lowest first (e.g. [Bronze, Silver, Gold]).",
        )
        levels = []
    out["levels"] = levels
    out["checks"] = _parse_checks(data.get("checks"), levels, file, _line(data, "checks") or start, errors)
    return out if len(errors) == before else None


def _parse_filter(flt, file: str, line: int, errors: list) -> dict:
    if not isinstance(flt, dict):
        _problem(errors, file, line, "filter", "A mapping of org, team, tier, system, lifecycle.")
        return {}
    out = {}
    for key in sorted(set(flt) - FILTER_KEYS):
        _problem(
            errors, file, _line(flt, key), f"filter.{key}", f"Unknown filter (known: {', '.join(sorted(FILTER_KEYS))})."
        )
    for key in ("org", "team", "system"):
        if key in flt:
            if not isinstance(flt[key], str) or not flt[key]:
                _problem(errors, file, _line(flt, key), f"filter.{key}", "A slug.")
            else:
                out[key] = flt[key]
    if "lifecycle" in flt:
        choices = [c[0] for c in LIFECYCLE_CHOICES]
        if flt["lifecycle"] not in choices:
            _problem(errors, file, _line(flt, "lifecycle"), "filter.lifecycle", f"One of {', '.join(choices)}.")
        else:
            out["lifecycle"] = flt["lifecycle"]
    if "tier" in flt:
        tiers = flt["tier"] if isinstance(flt["tier"], list) else [flt["tier"]]
        if not tiers or not all(isinstance(t, int) and not isinstance(t, bool) and 1 <= t <= 4 for t in tiers):
            _problem(errors, file, _line(flt, "tier"), "filter.tier", "A tier (1-4) or a list of tiers.")
        else:
            out["tier"] = sorted(set(tiers))
    if "org" in out and not Org.objects.filter(slug=out["org"]).exists():
        _problem(errors, file, _line(flt, "org"), "filter.org", f"No org '{out['org'][:64]}'.")
    if "team" in out and not Team.objects.filter(slug=out["team"]).exists():
        _problem(errors, file, _line(flt, "team"), "filter.team", f"No team '{out['team'][:64]}'.")
    return out


def _parse_checks(checks, levels: list[str], file: str, line: int, errors: list) -> list[dict]:
    if not isinstance(checks, list) or not 1 <= len(checks) <= MAX_CHECKS:
        _problem(errors, file, line, "checks", f"A list of 1-{MAX_CHECKS} checks.")
        return []
    out, keys = [], set()
    for i, check in enumerate(checks):
        where = f"checks[{i}]"
        if not isinstance(check, dict):
            _problem(errors, file, line, where, "A check is a mapping of type, level and params.")
            continue
        cline = _line(check)
        for key in sorted(set(check) - CHECK_KEYS):
            _problem(
                errors, file, _line(check, key), f"{where}.{key}", "Unknown field (known: key, type, level, params)."
            )
        ctype = check.get("type")
        if ctype not in REGISTRY:
            _problem(
                errors,
                file,
                _line(check, "type") or cline,
                f"{where}.type",
                f"Unknown check type '{str(ctype)[:64]}' (known: {', '.join(sorted(REGISTRY))}).",
            )
            continue
        key = check.get("key", ctype)
        if not isinstance(key, str) or not 0 < len(key) <= 64:
            _problem(errors, file, _line(check, "key") or cline, f"{where}.key", "A name of 1-64 characters.")
            continue
        if key in keys:
            _problem(
                errors,
                file,
                _line(check, "key") or cline,
                f"{where}.key",
                f"Check '{key}' appears twice; name one with key.",
            )
            continue
        keys.add(key)
        level = check.get("level", levels[0] if levels else None)
        if level not in levels:
            _problem(
                errors,
                file,
                _line(check, "level") or cline,
                f"{where}.level",
                f"Not one of the levels: {', '.join(levels)}.",
            )
            continue
        params = check.get("params") or {}
        if not isinstance(params, dict):
            _problem(errors, file, _line(check, "params"), f"{where}.params", "A mapping of parameters.")
            continue
        try:
            cleaned = REGISTRY[ctype].clean_params(params)
        except ValueError as exc:
            _problem(errors, file, _line(check, "params"), f"{where}.params", str(exc))
            continue
        out.append({"key": key, "type": ctype, "level": level, "params": cleaned})
    return out


def definitions_parse(text: str | bytes, *, file: str = "scorecards.yaml") -> list[dict]:
    """Scorecard definitions from YAML (one document each), with the bounded reader of catalog
    descriptors (size, depth, documents; aliases refused). Raises ScorecardTooLarge (413) or
    ScorecardInvalid (400) listing every problem with its file and line."""
    documents, problems = reader.read(text, file=file)
    if problems:
        errors = [p.as_dict() for p in problems]
        message = "; ".join(f"{p.file}:{p.line}: {p.message}" for p in problems)
        if "bytes; at most" in problems[0].message:
            raise ScorecardTooLarge(message, errors=errors)
        raise ScorecardInvalid(message, errors=errors)
    errors: list[dict] = []
    parsed = []
    for doc in documents:
        one = _parse_one(doc, file, errors)
        if one:
            parsed.append(one)
    slugs = [p["slug"] for p in parsed]
    if len(set(slugs)) != len(slugs):
        _problem(errors, file, 0, "slug", "A slug is defined twice.")
    if not documents:
        _problem(errors, file, 0, "", "No scorecard in the document.")
    if errors:
        detail = "; ".join(f"{e['file']}:{e['line']}: {e['field'] or '-'}: {e['message']}" for e in errors[:20])
        raise ScorecardInvalid(detail, errors=errors[:500])
    return parsed


# --- Who may define scorecards ------------------------------------------------------------------
def _org_of(definition: dict) -> Org | None:
    flt = definition["filter"]
    if flt.get("team"):
        return Team.objects.select_related("org").get(slug=flt["team"]).org
    if flt.get("org"):
        return Org.objects.get(slug=flt["org"])
    return None


def can_manage(user, scorecard: Scorecard | None = None) -> bool:
    """Superusers any scorecard; an org admin those scoped to an org they administer."""
    if not user or not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    if scorecard is None:
        return user.administered_orgs.exists()
    return scorecard.org_id is not None and user.administered_orgs.filter(pk=scorecard.org_id).exists()


def _require(user, allowed: bool, message: str) -> None:
    if allowed:
        return
    if not user or not user.is_authenticated:
        raise NotAuthenticated("Sign in first.")
    raise PermissionDenied(message)


def scorecards_load(
    *, actor, text: str | bytes, file: str = "scorecards.yaml", recompute: bool = True
) -> list[Scorecard]:
    """Create or replace the scorecards of a YAML file (by slug), all or nothing. ``actor`` None
    is the management command (trusted). Results are recomputed by Celery after commit."""
    definitions = definitions_parse(text, file=file)
    source = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    loaded = []
    with transaction.atomic():
        for d in definitions:
            org = _org_of(d)
            existing = Scorecard.objects.select_for_update().filter(slug=d["slug"]).first()
            if actor is not None:
                _require(actor, can_manage(actor), "Only superusers and org admins define scorecards.")
                if not actor.is_superuser:
                    _require(
                        actor,
                        org is not None and actor.administered_orgs.filter(pk=org.pk).exists(),
                        f"Scorecard '{d['slug']}': an org admin's scorecard must be scoped (filter org or team) to an org they administer.",
                    )
                    if existing is not None:
                        _require(actor, can_manage(actor, existing), f"Scorecard '{d['slug']}' belongs to another org.")
            before = snapshot(existing)
            scorecard = existing or Scorecard(slug=d["slug"])
            scorecard.name, scorecard.description, scorecard.enabled = d["name"], d["description"], d["enabled"]
            scorecard.filter, scorecard.levels, scorecard.org = d["filter"], d["levels"], org
            scorecard.source = source if len(definitions) == 1 else _document_of(source, d["slug"])
            if existing is None and actor is not None and actor.is_authenticated:
                scorecard.created_by = actor
            scorecard.save()
            scorecard.checks.all().delete()
            ScorecardCheck.objects.bulk_create(
                [ScorecardCheck(scorecard=scorecard, position=i, **c) for i, c in enumerate(d["checks"])]
            )
            if existing is not None and existing.levels != d["levels"]:
                # Levels renamed or reordered: old indexes mean something else now.
                ScorecardResult.objects.filter(scorecard=scorecard).delete()
            audit_record(
                actor=actor,
                action="scorecard.update" if existing else "scorecard.create",
                obj=scorecard,
                before=before,
                after=snapshot(scorecard),
            )
            loaded.append(scorecard)
        if recompute:
            slugs = [s.slug for s in loaded]
            transaction.on_commit(lambda: _queue_full(slugs))
    return loaded


def _document_of(source: str, slug: str) -> str:
    """The YAML document of one scorecard in a multi-document file (for the portal editor)."""
    for part in source.split("\n---"):
        if f"slug: {slug}" in part:
            return part.lstrip("-\n")
    return source


def scorecard_delete(*, actor, scorecard: Scorecard) -> None:
    _require(actor, can_manage(actor, scorecard), "Only superusers and the org's admins delete this scorecard.")
    with transaction.atomic():
        audit_record(actor=actor, action="scorecard.delete", obj=scorecard, before=snapshot(scorecard))
        scorecard.delete()


def _queue_full(scorecards: list[str] | None = None) -> None:
    from core.queue import enqueue
    from scorecards.tasks import scorecards_recompute_task

    enqueue(scorecards_recompute_task, scorecards=scorecards)


# --- Computing results ----------------------------------------------------------------------------
def recompute(*, services: list[str] | None = None, scorecards: list[str] | None = None, now=None) -> dict:
    """Compute every enabled scorecard (or the named ones) for every service (``services`` None)
    or only the named services, in bulk: the facts are read once for all scorecards. Writes the
    results that changed, today's level counts of the teams and orgs touched, and one
    ``scorecard.level_dropped`` event per service and scorecard whose level fell."""
    now = now or timezone.now()
    cards = list(selectors.scorecard_list(enabled_only=True))
    if scorecards is not None:
        cards = [c for c in cards if c.slug in set(scorecards)]
    stats = {"scorecards": len(cards), "services": 0, "changed": 0, "dropped": 0}
    if not cards:
        return stats
    base = Service.objects.all() if services is None else Service.objects.filter(slug__in=list(services))
    ctx = selectors.facts_for(base, now=now)
    stats["services"] = len(ctx.facts)
    by_id = {f.id: f for f in ctx.facts.values()}
    for card in cards:
        in_scope = set(selectors.services_for(card).filter(id__in=base.values("id")).values_list("id", flat=True))
        checks = list(card.checks.all())
        changed, dropped = _write_results(card, checks, [by_id[i] for i in in_scope if i in by_id], ctx, now)
        # Services of the run that left the scorecard's filter lose their result.
        ScorecardResult.objects.filter(scorecard=card, service_id__in=set(by_id) - in_scope).delete()
        teams = None if services is None else {by_id[i].team_id for i in by_id}
        _snapshot(card, now, teams)
        stats["changed"] += changed
        stats["dropped"] += dropped
    return stats


def _write_results(card: Scorecard, checks, facts: list, ctx, now) -> tuple[int, int]:
    existing = (
        {
            r["service_id"]: r
            for r in ScorecardResult.objects.filter(scorecard=card, service_id__in=[f.id for f in facts]).values(
                "id", "service_id", "level_index", "checks"
            )
        }
        if len(facts) <= selectors.FEW
        else {
            r["service_id"]: r
            for r in ScorecardResult.objects.filter(scorecard=card).values("id", "service_id", "level_index", "checks")
        }
    )
    create, update, events = [], [], []
    for f in facts:
        level, outcomes = evaluate(f, checks, card.levels, ctx)
        row = ScorecardResult(
            scorecard=card,
            service_id=f.id,
            level_index=level,
            level=card.levels[level - 1] if level else "",
            passed=sum(1 for o in outcomes if o["passed"]),
            total=len(outcomes),
            checks=outcomes,
            computed_at=now,
        )
        old = existing.get(f.id)
        if old is None:
            create.append(row)
            continue
        row.pk = old["id"]
        update.append(row)
        if level < old["level_index"]:
            events.append(_dropped_event(card, f, old["level_index"], level, outcomes))
    with transaction.atomic():
        ScorecardResult.objects.bulk_create(create, batch_size=1000)
        ScorecardResult.objects.bulk_update(
            update, ["level_index", "level", "passed", "total", "checks", "computed_at"], batch_size=1000
        )
        events_record_many(events)
    return len(create) + len(update), len(events)


def _dropped_event(card: Scorecard, f, before: int, after: int, outcomes: list[dict]) -> dict:
    names = ["none", *card.levels]
    return {
        "type": LEVEL_DROPPED,
        "subject": {"kind": "service", "id": str(f.id), "name": f.slug},
        "payload": {
            "scorecard": card.slug,
            "service": f.slug,
            "team": f.team,
            "from_level": names[before] if before < len(names) else str(before),
            "to_level": names[after],
            "failed": [
                {"key": o["key"], "level": o["level"], "reason": o["reason"]} for o in outcomes if not o["passed"]
            ],
        },
        "org_id": f.org_id,
        "team_id": f.team_id,
        "service_id": f.id,
    }


def _snapshot(card: Scorecard, now, team_ids: set | None) -> None:
    """Rewrite today's level counts for the whole scorecard, and for the teams given (all when
    None) and their orgs, from the current results; prune days past SCORECARD_HISTORY_DAYS."""
    day = now.date()
    width = len(card.levels) + 1
    results = ScorecardResult.objects.filter(scorecard=card)
    org_slugs = None
    if team_ids is not None:
        teams = list(Team.objects.filter(id__in=team_ids).values_list("slug", "org__slug"))
        team_slugs = {t for t, _ in teams}
        org_slugs = {o for _, o in teams}
    rows: dict[tuple[str, str], list[int]] = {("all", ""): [0] * width}

    def add(scope: str, qs, column: str | None) -> None:
        fields = [column, "level_index"] if column else ["level_index"]
        for r in qs.values(*fields).annotate(n=Count("id")).order_by():
            if r["level_index"] < width:
                rows.setdefault((scope, r[column] if column else ""), [0] * width)[r["level_index"]] += r["n"]

    if team_ids is None:  # one pass over every result
        for r in results.values("service__team__slug", "service__team__org__slug", "level_index").annotate(
            n=Count("id")
        ):
            level, n = r["level_index"], r["n"]
            if level < width:
                rows[("all", "")][level] += n
                rows.setdefault(("team", r["service__team__slug"]), [0] * width)[level] += n
                rows.setdefault(("org", r["service__team__org__slug"]), [0] * width)[level] += n
    else:  # the teams touched, their orgs and the total: three small grouped counts
        add("all", results, None)
        add("team", results.filter(service__team_id__in=team_ids), "service__team__slug")
        add("org", results.filter(service__team__org__slug__in=org_slugs), "service__team__org__slug")
        for t in team_slugs:  # a team or org whose last service left still gets its zero row
            rows.setdefault(("team", t), [0] * width)
        for o in org_slugs:
            rows.setdefault(("org", o), [0] * width)
    with transaction.atomic():
        current = ScorecardSnapshot.objects.filter(scorecard=card, day=day)
        if team_ids is not None:
            current = current.filter(key__in={k for _, k in rows})
        have = {(s.scope, s.key): s for s in current}
        create, update = [], []
        for (scope, key), counts in rows.items():
            snap = have.get((scope, key))
            if snap is None:
                create.append(
                    ScorecardSnapshot(scorecard=card, day=day, scope=scope, key=key, counts=counts, computed_at=now)
                )
            else:
                snap.counts, snap.computed_at = counts, now
                update.append(snap)
        ScorecardSnapshot.objects.bulk_create(create, batch_size=1000)
        ScorecardSnapshot.objects.bulk_update(update, ["counts", "computed_at"], batch_size=1000)
        keep = getattr(settings, "SCORECARD_HISTORY_DAYS", 180)
        ScorecardSnapshot.objects.filter(scorecard=card, day__lt=day - timedelta(days=keep)).delete()


def recompute_locked(**kwargs) -> dict:
    """``recompute`` one at a time across workers (a Redis lock), so two runs never both see a
    service's old level and both announce its drop."""
    from core.redis import client, key

    with client().lock(key("scorecards:recompute"), timeout=900, blocking_timeout=900):
        return recompute(**kwargs)


# --- What a change touches --------------------------------------------------------------------
def affected_services(*, kind: str, keys) -> set[str]:
    """The services whose results a catalog change may move: a service and its callers/consumers
    (tier, deprecation, drift); an API's provider, declared consumers and key holders; a team's
    or org's services."""
    from catalog.models import Api, ApiKey

    keys = list(keys)
    out: set[str] = set()
    if kind == "service":
        out.update(keys)
        out.update(Service.objects.filter(consumes__provider__slug__in=keys).values_list("slug", flat=True))
        out.update(_callers(keys))
    elif kind == "api":
        apis = Api.objects.filter(slug__in=keys)
        providers = list(apis.values_list("provider__slug", flat=True))
        out.update(providers)
        out.update(Service.objects.filter(consumes__slug__in=keys).values_list("slug", flat=True))
        out.update(ApiKey.objects.filter(api__slug__in=keys).values_list("consumer__slug", flat=True))
        out.update(_callers(providers))
    elif kind == "team":
        out.update(Service.objects.filter(team__slug__in=keys).values_list("slug", flat=True))
    elif kind == "org":
        out.update(Service.objects.filter(team__org__slug__in=keys).values_list("slug", flat=True))
    elif kind == "team_id":
        out.update(Service.objects.filter(team_id__in=[int(k) for k in keys]).values_list("slug", flat=True))
    elif kind == "key":
        out.update(ApiKey.objects.filter(pk__in=[int(k) for k in keys]).values_list("consumer__slug", flat=True))
    elif kind == "system":
        out.update(Service.objects.filter(system__slug__in=keys).values_list("slug", flat=True))
    return out


def _callers(slugs: list[str]) -> set[str]:
    from graph import selectors as graph_selectors

    if not slugs:
        return set()
    found = graph_selectors.dependencies_many(slugs=slugs, direction="up", depth=1)
    return {d["slug"] for deps in found.values() for d in deps if d["kind"] == "service"}
