"""SLO arithmetic, without a database: compliance, error budget and burn rate of one API over
a window, and the multi-window burn-rate alert rules (SRE workbook, "Alerting on SLOs").

changes.selectors sums a provider service's inbound edge samples per window (``Sums``);
these functions turn the sums and the API's targets into one typed answer (``SloStatus``).

Every sample is one observation window of one edge (a crawl, a push window, a central query),
weighted by its calls per minute, as the hourly roll-up does: the windows of an edge are
assumed to be of equal length (one crawl interval). An hourly roll-up row counts as the
windows it sums up."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ImproperlyConfigured

from core.durations import duration_seconds

WINDOWS = {"1h": 3600, "24h": 86400, "28d": 28 * 86400}


@dataclass(frozen=True, slots=True)
class Sums:
    """What a window's samples add up to. ``weight``: the sum of calls per minute over the
    samples with a rate; ``errors``: the same weighted by each sample's error rate;
    ``latency_weight`` / ``latency_good``: the calls per minute of samples with a p99, and of
    those whose p99 met the target; ``edges``: edges with a sample."""

    samples: int = 0
    edges: int = 0
    weight: float = 0.0
    errors: float = 0.0
    latency_weight: float = 0.0
    latency_good: float = 0.0
    p99_worst_ms: float | None = None


@dataclass(frozen=True, slots=True)
class SloWindow:
    """One rolling window. Ratios are 0..1; ``None`` where the window saw no traffic or the
    API has no such target. ``error_budget_remaining`` is the share of this window's budget
    left (1 - burn rate; negative: overspent)."""

    window: str
    seconds: int
    samples: int
    calls_per_min: float | None
    availability: float | None
    availability_met: bool | None
    error_budget_remaining: float | None
    burn_rate: float | None
    p99_worst_ms: float | None
    latency_good_ratio: float | None
    latency_met: bool | None
    compliant: bool | None

    # For pages: the ratios as percentages.
    @property
    def availability_pct(self) -> float | None:
        return None if self.availability is None else self.availability * 100.0

    @property
    def budget_pct(self) -> float | None:
        return None if self.error_budget_remaining is None else self.error_budget_remaining * 100.0

    @property
    def latency_good_pct(self) -> float | None:
        return None if self.latency_good_ratio is None else self.latency_good_ratio * 100.0


@dataclass(frozen=True, slots=True)
class BurnRule:
    """Fire when the burn rate is at least ``factor`` over both ``long_s`` and ``short_s``."""

    name: str
    factor: float
    long_s: int
    short_s: int


@dataclass(frozen=True, slots=True)
class RuleState:
    rule: str
    factor: float
    long_s: int
    short_s: int
    long_burn: float | None
    short_burn: float | None
    firing: bool


@dataclass(frozen=True, slots=True)
class SloStatus:
    """An API's SLO as evaluated from its provider service's inbound edges (``scope`` says
    what the numbers cover: ``service``, every inbound edge of the provider)."""

    api: str
    service: str
    scope: str
    availability_target: float | None  # percent, as stored on the API
    p99_target_ms: int | None
    evaluated_at: int  # epoch seconds
    windows: list[SloWindow] = field(default_factory=list)
    rules: list[RuleState] = field(default_factory=list)
    firing: bool = False
    firing_rule: str | None = None


def budget_of(availability_target: float | None) -> float | None:
    """The error budget as a ratio (a 99.9 % target: 0.001); None without a target."""
    if availability_target is None:
        return None
    return max(0.0, 1.0 - float(availability_target) / 100.0)


def error_ratio(s: Sums) -> float | None:
    return s.errors / s.weight if s.weight > 0 else None


def burn_rate(ratio: float | None, budget: float | None) -> float | None:
    """How fast the budget goes: 1.0 spends exactly the budget over the SLO period. A target
    of 100 % has no budget: any error is an infinite burn (reported as None with a failure)."""
    if ratio is None or budget is None:
        return None
    if budget == 0:
        return None if ratio > 0 else 0.0
    return ratio / budget


def evaluate_window(
    name: str,
    seconds: int,
    s: Sums,
    *,
    availability_target: float | None,
    p99_target_ms: int | None,
    latency_objective: float,
) -> SloWindow:
    """One window's compliance. Availability: 1 - errors/calls. Latency: the share of calls
    seen in observation windows whose p99 met the target (a window-based SLI; a true p99
    over many windows cannot be rebuilt from theirs), met when it is at least
    ``latency_objective``; ``p99_worst_ms`` is the worst window's p99 (an upper bound of the
    window's true p99)."""
    budget = budget_of(availability_target)
    ratio = error_ratio(s)
    availability = None if ratio is None else 1.0 - ratio
    availability_met = None
    if availability is not None and availability_target is not None:
        availability_met = availability * 100.0 >= float(availability_target) - 1e-9
    burn = burn_rate(ratio, budget)
    remaining = None if burn is None else 1.0 - burn
    latency_ratio = s.latency_good / s.latency_weight if p99_target_ms is not None and s.latency_weight > 0 else None
    latency_met = None if latency_ratio is None else latency_ratio >= latency_objective - 1e-9
    verdicts = [v for v in (availability_met, latency_met) if v is not None]
    per_edge = s.samples / s.edges if s.edges else 0
    return SloWindow(
        window=name,
        seconds=seconds,
        samples=s.samples,
        calls_per_min=round(s.weight / per_edge, 4) if per_edge and s.weight else (0.0 if s.samples else None),
        availability=None if availability is None else round(availability, 6),
        availability_met=availability_met,
        error_budget_remaining=None if remaining is None else round(remaining, 4),
        burn_rate=None if burn is None else round(burn, 4),
        p99_worst_ms=s.p99_worst_ms,
        latency_good_ratio=None if latency_ratio is None else round(latency_ratio, 6),
        latency_met=latency_met,
        compliant=all(verdicts) if verdicts else None,
    )


def evaluate_rules(
    rules: list[BurnRule], sums_by_seconds: dict[int, Sums], *, availability_target: float | None
) -> list[RuleState]:
    """Each rule over its long and short window: firing when both burn at least its factor
    (the short window makes the alert stop soon after the burn does). A target of 100 % with
    errors in both windows fires too."""
    budget = budget_of(availability_target)
    out = []
    for rule in rules:
        long_ratio = error_ratio(sums_by_seconds.get(rule.long_s, Sums()))
        short_ratio = error_ratio(sums_by_seconds.get(rule.short_s, Sums()))
        long_burn, short_burn = burn_rate(long_ratio, budget), burn_rate(short_ratio, budget)
        if budget == 0:
            firing = bool(long_ratio) and bool(short_ratio)
        else:
            firing = long_burn is not None and short_burn is not None
            firing = firing and long_burn >= rule.factor and short_burn >= rule.factor
        out.append(
            RuleState(
                rule=rule.name,
                factor=rule.factor,
                long_s=rule.long_s,
                short_s=rule.short_s,
                long_burn=None if long_burn is None else round(long_burn, 4),
                short_burn=None if short_burn is None else round(short_burn, 4),
                firing=firing,
            )
        )
    return out


def _seconds(text: str) -> int:
    seconds = duration_seconds(text)
    if seconds is None:
        raise ValueError(text)
    return seconds


def parse_rules(raw: str) -> list[BurnRule]:
    """``SLO_BURN_RULES``: comma-separated ``factor:long:short`` (e.g. ``14.4:1h:5m,6:6h:30m``);
    a short window must be shorter than its long one (both within the raw history)."""
    rules = []
    for part in (p for p in (raw or "").split(",") if p.strip()):
        try:
            factor_s, long_s, short_s = part.split(":")
            factor, long_, short = float(factor_s), _seconds(long_s), _seconds(short_s)
            if not (factor > 0 and short < long_):
                raise ValueError(part)
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"SLO_BURN_RULES: '{part.strip()}' is not factor:long:short (e.g. 14.4:1h:5m) "
                "with a short window shorter than the long one."
            ) from exc
        rules.append(BurnRule(name=f"{factor_s.strip()}x/{long_s.strip()}", factor=factor, long_s=long_, short_s=short))
    return rules
