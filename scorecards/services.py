"""Writes: loading scorecard definitions from YAML (validated, all or nothing, audited) and
computing results (in bulk, for every service or only those a change touched), with the daily
level-count history and a ``scorecard.level_dropped`` event when a service falls a level."""

from __future__ import annotations

import contextlib
import hashlib
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
from core.errors import Conflict, DomainError, InvalidInput, NotAuthenticated, PermissionDenied
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
        if not isinstance(ctype, str) or ctype not in REGISTRY:
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
        _check_card_limits({s.org_id for s in loaded})
        if recompute:
            slugs = [s.slug for s in loaded]
            transaction.on_commit(lambda: _queue_full(slugs))
    return loaded


def _check_card_limits(org_ids: set) -> None:
    """Every card is recomputed for every service it applies to, hourly and after each crawl:
    at most SCORECARDS_MAX in all and SCORECARDS_MAX_PER_ORG scoped to one org (409
    ``scorecard_limit``; the whole file is refused)."""
    total = Scorecard.objects.count()
    if total > settings.SCORECARDS_MAX:
        raise Conflict(
            f"At most {settings.SCORECARDS_MAX} scorecards; this would make {total}.", code="scorecard_limit"
        )
    for org_id in org_ids - {None}:
        count = Scorecard.objects.filter(org_id=org_id).count()
        if count > settings.SCORECARDS_MAX_PER_ORG:
            raise Conflict(
                f"At most {settings.SCORECARDS_MAX_PER_ORG} scorecards scoped to one org; this would make {count}.",
                code="scorecard_limit",
            )


def _document_of(source: str, slug: str) -> str:
    """The YAML document of one scorecard in a multi-document file (for the portal editor)."""
    for part in source.split("\n---"):
        if f"slug: {slug}" in part:
            return part.lstrip("-\n")
    return source


def _queue_full(scorecards: list[str] | None = None) -> None:
    from core.queue import enqueue
    from scorecards.tasks import scorecards_recompute_task

    enqueue(scorecards_recompute_task, scorecards=scorecards)


# --- Computing results ----------------------------------------------------------------------------
def recompute(*, services: list[str] | None = None, scorecards: list[str] | None = None, now=None) -> dict:
    """Compute every enabled scorecard (or the named ones) for every service (``services`` None)
    or only the named services, in bulk: the facts are read once for all scorecards. Rewrites
    only the results whose level or outcomes changed (the others get the new ``computed_at`` in
    one UPDATE), today's level counts (recounted by a full run, moved by the changes of an
    incremental one), and one ``scorecard.level_dropped`` event per service and scorecard whose
    level fell."""
    now = now or timezone.now()
    full = services is None
    cards = list(selectors.scorecard_list(enabled_only=True))
    if scorecards is not None:
        cards = [c for c in cards if c.slug in set(scorecards)]
    stats = {"scorecards": len(cards), "services": 0, "changed": 0, "dropped": 0}
    if not cards:
        return stats
    base = Service.objects.all() if full else Service.objects.filter(slug__in=list(services))
    ctx = selectors.facts_for(base, now=now)
    stats["services"] = len(ctx.facts)
    by_id = {f.id: f for f in ctx.facts.values()}
    # An incremental run writes in one transaction (one commit, not one per scorecard); a full
    # one commits per scorecard, so no writer waits for the whole fleet.
    with transaction.atomic() if not full else contextlib.nullcontext():
        for card in cards:
            stats_card = _recompute_card(card, ctx, by_id, now, full=full)
            stats["changed"] += stats_card[0]
            stats["dropped"] += stats_card[1]
    return stats


def _recompute_card(card: Scorecard, ctx, by_id: dict, now, *, full: bool) -> tuple[int, int]:
    """One scorecard over the services of the run: (results rewritten, drop events)."""
    if not card.filter:  # every service: no query
        in_scope = set(by_id)
    else:
        scope = selectors.services_for(card)
        in_scope = set((scope if full else scope.filter(id__in=list(by_id))).values_list("id", flat=True))
    facts = [by_id[i] for i in in_scope if i in by_id]
    changed, dropped, moves = _write_results(card, list(card.checks.all()), facts, ctx, now, full=full)
    # Services that left the scorecard's filter lose their result.
    results = ScorecardResult.objects.filter(scorecard=card)
    outside = set(by_id) - in_scope
    if (full and card.filter) or outside:  # (a deleted service's results go with it)
        if full:  # a subquery, not 10,000 parameters
            gone = results.exclude(service_id__in=selectors.services_for(card).values("id"))
        else:
            gone = results.filter(service_id__in=outside)
        for service_id, level in gone.values_list("service_id", "level_index"):
            if service_id in by_id:
                moves.append((by_id[service_id], level, None))
        gone.delete()
    if full:
        _snapshot(card, now)
    elif moves:
        _snapshot_moves(card, now, moves)
    return changed, dropped


def outcomes_digest(level: int, outcomes: list[dict]) -> str:
    """What identifies a result: its level and each check's key, outcome and reason."""
    text = "\x1e".join(f"{o['key']}\x1f{int(o['passed'])}\x1f{o['reason']}" for o in outcomes)
    return hashlib.blake2b(f"{level}\x1d{text}".encode(), digest_size=16).hexdigest()


def _write_results(card: Scorecard, checks, facts: list, ctx, now, *, full: bool) -> tuple[int, int, list]:
    """(results rewritten, drop events, level moves [(facts, old level or None, new level)])."""
    current = ScorecardResult.objects.filter(scorecard=card)
    if not full:
        current = current.filter(service_id__in=[f.id for f in facts])
    existing = {r[0]: r for r in current.values_list("service_id", "id", "level_index", "digest")}
    create, replaced, events, moves = [], [], [], []
    for f in facts:
        level, outcomes = evaluate(f, checks, card.levels, ctx)
        old = existing.get(f.id)
        digest = outcomes_digest(level, outcomes)
        if old is not None and old[3] == digest:
            continue  # unchanged: only computed_at moves (below)
        create.append(
            ScorecardResult(
                scorecard=card,
                service_id=f.id,
                level_index=level,
                level=card.levels[level - 1] if level else "",
                passed=sum(1 for o in outcomes if o["passed"]),
                total=len(outcomes),
                checks=outcomes,
                digest=digest,
                computed_at=now,
            )
        )
        if old is None:
            moves.append((f, None, level))
            continue
        replaced.append(old[1])
        if level != old[2]:
            moves.append((f, old[2], level))
        if level < old[2]:
            events.append(_dropped_event(card, f, old[2], level, outcomes))
    with transaction.atomic():
        for start in range(0, len(replaced), 900):
            ScorecardResult.objects.filter(id__in=replaced[start : start + 900]).delete()
        ScorecardResult.objects.bulk_create(create, batch_size=500)
        current.update(computed_at=now)
        events_record_many(events)
    return len(create), len(events), moves


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


def _snapshot(card: Scorecard, now) -> None:
    """Recount today's services at each level for the whole scorecard, each team and each org
    from the current results (a full run); prune days past SCORECARD_HISTORY_DAYS."""
    width = len(card.levels) + 1
    rows: dict[tuple[str, str], list[int]] = {("all", ""): [0] * width}
    grouped = (
        ScorecardResult.objects.filter(scorecard=card)
        .values("service__team__slug", "service__team__org__slug", "level_index")
        .annotate(n=Count("id"))
    )
    for r in grouped:
        level, n = r["level_index"], r["n"]
        if level < width:
            rows[("all", "")][level] += n
            rows.setdefault(("team", r["service__team__slug"]), [0] * width)[level] += n
            rows.setdefault(("org", r["service__team__org__slug"]), [0] * width)[level] += n
    with transaction.atomic():
        have = {(s.scope, s.key): s for s in ScorecardSnapshot.objects.filter(scorecard=card, day=now.date())}
        for key in have:  # a team or org with no result any more keeps a row of zeros for today
            rows.setdefault(key, [0] * width)
        _snapshot_write(card, now, rows, have)
        keep = settings.SCORECARD_HISTORY_DAYS
        ScorecardSnapshot.objects.filter(scorecard=card, day__lt=now.date() - timedelta(days=keep)).delete()


def _snapshot_moves(card: Scorecard, now, moves: list) -> None:
    """An incremental run: move today's counts of the scorecard, and of each moved service's team
    and org, by the level changes; a count not written yet today is recounted instead."""
    width = len(card.levels) + 1
    keys = {("all", "")} | {("team", f.team) for f, _, _ in moves} | {("org", f.org) for f, _, _ in moves}
    with transaction.atomic():
        have = {
            (s.scope, s.key): s
            for s in ScorecardSnapshot.objects.filter(scorecard=card, day=now.date(), key__in={k for _, k in keys})
            if (s.scope, s.key) in keys
        }
        rows = {key: list(have[key].counts) for key in keys if key in have and len(have[key].counts) == width}
        for f, before, after in moves:
            for key in (("all", ""), ("team", f.team), ("org", f.org)):
                if key in rows:
                    if before is not None and before < width:
                        rows[key][before] = max(0, rows[key][before] - 1)
                    if after is not None and after < width:
                        rows[key][after] += 1
        results = ScorecardResult.objects.filter(scorecard=card)
        for scope, key in keys - rows.keys():
            if scope == "all":
                qs = results
            elif scope == "team":
                qs = results.filter(service__team__slug=key)
            else:
                qs = results.filter(service__team__org__slug=key)
            counts = [0] * width
            for level, n in qs.values("level_index").annotate(n=Count("id")).values_list("level_index", "n"):
                if level < width:
                    counts[level] += n
            rows[(scope, key)] = counts
        _snapshot_write(card, now, rows, have)


def _snapshot_write(card: Scorecard, now, rows: dict, have: dict) -> None:
    """Today's rows replaced (a delete and one insert: cheaper than updating each row)."""
    stale = [snap.pk for key, snap in have.items() if key in rows]
    for start in range(0, len(stale), 900):
        ScorecardSnapshot.objects.filter(pk__in=stale[start : start + 900]).delete()
    ScorecardSnapshot.objects.bulk_create(
        [
            ScorecardSnapshot(scorecard=card, day=now.date(), scope=scope, key=key, counts=counts, computed_at=now)
            for (scope, key), counts in rows.items()
        ],
        batch_size=500,
    )


def recompute_locked(*, wait: float = 60, **kwargs) -> dict | None:
    """``recompute`` one at a time across workers (a Redis lock), so two runs never both see a
    service's old level and both announce its drop. None when another run held the lock for
    longer than a task may wait (the task then retries)."""
    from core.redis import client, key

    lock = client().lock(key("scorecards:recompute"), timeout=300, blocking_timeout=wait)
    if not lock.acquire():
        return None
    try:
        return recompute(**kwargs)
    finally:
        try:
            lock.release()
        except Exception:  # noqa: BLE001 (expired under a very long run: nothing to release)
            logger.warning("scorecards: the recompute lock expired before the run ended")


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
