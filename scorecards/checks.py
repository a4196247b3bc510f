"""The built-in checks: each a type name, its parameters (validated when a scorecard is loaded)
and a function of one service's facts (scorecards.selectors.Facts, read in bulk) that answers
pass or fail with a reason naming the numbers. Adding a check: a function and a REGISTRY entry."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

DAY_MS = 86_400_000
WINDOWS = {"current": 0, "1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400}


@dataclass(frozen=True)
class Param:
    kind: type  # int, float or str
    default: object = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple = ()
    help: str = ""

    def clean(self, name: str, value) -> object:
        """The value as this parameter's kind, or ValueError saying why not."""
        if value is None:
            if self.default is None:
                raise ValueError(f"'{name}' is required.")
            return self.default
        if self.kind is str:
            if not isinstance(value, str):
                raise ValueError(f"'{name}' must be a string.")
            if self.choices and value not in self.choices:
                raise ValueError(f"'{name}' must be one of {', '.join(self.choices)}.")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"'{name}' must be a (finite) number.")
        if self.kind is int and value != int(value):
            raise ValueError(f"'{name}' must be a whole number.")
        value = self.kind(value)
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"'{name}' must be at least {self.minimum:g}.")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"'{name}' must be at most {self.maximum:g}.")
        return value


@dataclass(frozen=True)
class CheckType:
    name: str
    description: str
    run: Callable  # (facts, params, ctx) -> (passed, reason)
    params: dict[str, Param] = field(default_factory=dict)

    def clean_params(self, raw: dict) -> dict:
        unknown = set(raw) - set(self.params)
        if unknown:
            known = ", ".join(sorted(self.params)) or "none"
            raise ValueError(f"Unknown parameter(s) {', '.join(sorted(unknown))} (known: {known}).")
        return {name: spec.clean(name, raw.get(name)) for name, spec in self.params.items()}


def _names(items, limit: int = 5) -> str:
    items = sorted(items)
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _days(ms: int | None, now_ms: int) -> str:
    return "never" if ms is None else f"{(now_ms - ms) / DAY_MS:.1f} days ago"


def has_owner_oncall(f, p, ctx):
    if f.oncall:
        return True, f"Team {f.team} has an on-call contact ({f.oncall[:80]})."
    return False, f"Team {f.team} has no on-call contact."


def valid_api_specs(f, p, ctx):
    if not f.apis:
        return True, "Provides no API."
    missing = [a.slug for a in f.apis if not a.has_spec]
    if missing:
        return False, f"{len(missing)} of {len(f.apis)} APIs have no valid spec: {_names(missing)}."
    return True, f"All {len(f.apis)} APIs have a spec."


def no_undeclared_dependencies(f, p, ctx):
    # As graph's drift: an observed callee that provides an API the service does not declare.
    undeclared = {
        e.dst for e in f.out_edges if e.service and e.dst != f.slug and e.dst in ctx.providers
    } - f.declared_providers
    if undeclared:
        return False, f"Calls {len(undeclared)} service(s) it does not declare consuming: {_names(undeclared)}."
    return True, "Every observed call to an API provider is declared."


def no_stale_declarations(f, p, ctx):
    seen = {e.dst for e in f.out_edges if e.service}
    stale = f.declared_providers - seen
    if stale:
        return False, f"Declares {len(stale)} dependency(ies) never observed: {_names(stale)}."
    return True, f"All {len(f.declared_providers)} declared dependencies are observed."


def no_deprecated_calls(f, p, ctx):
    bad = {}
    for api in f.consumed:  # declared consumption and active keys
        if api.deprecated_at is not None:
            bad[api.slug] = api
    for e in f.out_edges:  # observed calls to a provider all of whose APIs are deprecated
        apis = ctx.providers.get(e.dst) if e.service and not e.stale else None
        if apis and all(a.deprecated_at is not None for a in apis):
            for a in apis:
                bad[a.slug] = a
    if not bad:
        return True, "Uses no deprecated API."
    sunset = [s for s, a in bad.items() if a.sunset_at is not None and a.sunset_at <= ctx.now]
    extra = f" ({len(sunset)} past sunset: {_names(sunset)})" if sunset else ""
    return False, f"Uses {len(bad)} deprecated API(s): {_names(bad)}{extra}."


def no_lower_tier_dependency(f, p, ctx):
    gap = p["max_gap"]
    bad = [
        f"{e.dst} (tier {e.tier})"
        for e in f.out_edges
        if e.service and not e.stale and e.tier is not None and e.tier - f.tier > gap
    ]
    if bad:
        return False, f"Tier {f.tier} service calls {len(bad)} less critical service(s): {_names(bad)}."
    return True, f"Calls no service more than {gap} tier(s) below its own tier {f.tier}."


def inbound_error_rate_below(f, p, ctx):
    rate, calls = ctx.inbound_errors(f.slug, p["window"])
    limit = p["threshold"]
    where = "now" if p["window"] == "current" else f"over {p['window']}"
    if rate is None:
        return True, f"No inbound calls observed {where}."
    if rate < limit:
        return True, f"Inbound error rate {rate:.2%} {where} is below {limit:.2%} ({calls:.1f} calls/min)."
    return False, f"Inbound error rate {rate:.2%} {where} is not below {limit:.2%} ({calls:.1f} calls/min)."


def p95_latency_below(f, p, ctx):
    limit = p["threshold_ms"]
    if f.in_p95 is None:
        return True, "No inbound latency observed."
    if f.in_p95 < limit:
        return True, f"Worst inbound p95 {f.in_p95:.1f} ms is below {limit:g} ms."
    return False, f"Worst inbound p95 {f.in_p95:.1f} ms is not below {limit:g} ms."


def seen_recently(f, p, ctx):
    days = p["days"]
    if f.last_seen is not None and ctx.now_ms - f.last_seen <= days * DAY_MS:
        return True, f"Last seen in telemetry {_days(f.last_seen, ctx.now_ms)} (within {days} days)."
    return False, f"Not seen in telemetry in {days} days (last seen {_days(f.last_seen, ctx.now_ms)})."


def keys_rotated_within(f, p, ctx):
    days = p["days"]
    cutoff = ctx.now - timedelta(days=days)
    old = [k.label for k in f.keys if k.created_at < cutoff]
    if old:
        return False, f"{len(old)} of {len(f.keys)} active keys are older than {days} days: {_names(old)}."
    return True, f"All {len(f.keys)} active keys were issued or rotated within {days} days."


def no_unused_keys(f, p, ctx):
    days = p["days"]
    cutoff = ctx.now - timedelta(days=days)
    unused = [k.label for k in f.keys if (k.last_used_at or k.created_at) < cutoff]
    if unused:
        return False, f"{len(unused)} of {len(f.keys)} active keys unused for {days} days: {_names(unused)}."
    return True, f"All {len(f.keys)} active keys were used within {days} days."


def team_within_limits(f, p, ctx):
    t = ctx.teams[f.team]
    if t.services > t.max_services or t.members > t.max_members:
        return False, (
            f"Team {f.team} has {t.services} of at most {t.max_services} services "
            f"and {t.members} of at most {t.max_members} members."
        )
    return True, (
        f"Team {f.team} is within its limits: {t.services}/{t.max_services} services, "
        f"{t.members}/{t.max_members} members."
    )


_DAYS = Param(int, 30, 1, 3650)
REGISTRY: dict[str, CheckType] = {
    c.name: c
    for c in (
        CheckType("has_owner_oncall", "The owning team has an on-call contact.", has_owner_oncall),
        CheckType("valid_api_specs", "Every API the service provides has a spec.", valid_api_specs),
        CheckType(
            "no_undeclared_dependencies",
            "Every observed call to an API provider is declared (consumes).",
            no_undeclared_dependencies,
        ),
        CheckType("no_stale_declarations", "Every declared dependency is observed.", no_stale_declarations),
        CheckType(
            "no_deprecated_calls",
            "Consumes, holds a key for, or calls no deprecated or sunset API.",
            no_deprecated_calls,
        ),
        CheckType(
            "no_lower_tier_dependency",
            "Calls no service whose tier number exceeds its own by more than max_gap (1 is most critical).",
            no_lower_tier_dependency,
            {"max_gap": Param(int, 0, 0, 3)},
        ),
        CheckType(
            "inbound_error_rate_below",
            "Inbound error rate (weighted by calls) below threshold (0..1), now or over a window.",
            inbound_error_rate_below,
            {"threshold": Param(float, 0.01, 0, 1), "window": Param(str, "current", choices=tuple(WINDOWS))},
        ),
        CheckType(
            "p95_latency_below",
            "The worst inbound p95 latency below threshold_ms.",
            p95_latency_below,
            {"threshold_ms": Param(float, 500, 0, 600_000)},
        ),
        CheckType("seen_recently", "Seen in telemetry within days (not a zombie).", seen_recently, {"days": _DAYS}),
        CheckType(
            "keys_rotated_within",
            "Every active key it holds was issued or rotated within days.",
            keys_rotated_within,
            {"days": Param(int, 90, 1, 3650)},
        ),
        CheckType(
            "no_unused_keys",
            "No active key it holds went unused for days.",
            no_unused_keys,
            {"days": _DAYS},
        ),
        CheckType("team_within_limits", "Its team is within its member and service limits.", team_within_limits),
    )
}


def evaluate(facts, checks, levels: list[str], ctx) -> tuple[int, list[dict]]:
    """(level index reached, outcomes): a service reaches level n when it passes every check of
    levels 1..n; 0 when it fails one of the first level's."""
    outcomes, failed_levels = [], set()
    for check in checks:
        passed, reason = REGISTRY[check.type].run(facts, check.params, ctx)
        index = levels.index(check.level) + 1
        if not passed:
            failed_levels.add(index)
        outcomes.append(
            {"key": check.key, "type": check.type, "level": check.level, "passed": passed, "reason": reason}
        )
    reached = min(failed_levels) - 1 if failed_levels else len(levels)
    return reached, outcomes
