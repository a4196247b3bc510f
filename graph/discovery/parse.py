"""Pure parsers: telemetry in, raw call observations out. No I/O, no Django."""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from graph.discovery.latency import Histogram, histogram_from_cumulative_buckets

# A line that is neither a comment nor "name{labels} value ...": the body is not an exposition.
_BAD_LINE = re.compile(r"^(?![ \t]*$)(?!#)(?![a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^\n]*\})?[ \t]+\S+)[^\n]*$", re.M)
# A sample line whose label values have no escapes: read here, which is several times faster
# than prometheus_client's character-by-character label parser (histograms bring ~16 lines
# a series); any other line (escapes, odd spacing) goes to prometheus_client.
# The label text is checked by rebuilding it from the pairs read (_simple_labels).
_SIMPLE_SAMPLE = re.compile(
    r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^\\{}\n]*)\})?[ \t]+([^\s_]+)(?:[ \t]+-?[0-9]+)?[ \t]*$"
)
_SIMPLE_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"\\\n]*)"')
_SIMPLE_LE = re.compile(r'(?:^|,)le="([^"\\\n]*)"')
_PORT = re.compile(r"^[0-9]{1,5}$")
_HOST = re.compile(r"^(?=.*[A-Za-z.:\[])[A-Za-z0-9_.\-:\[\]]{1,253}$")


class ParseError(ValueError):
    pass


@dataclass(frozen=True)
class RawCall:
    """Calls seen from one caller to one target. ``caller`` None means the crawled service."""

    caller: str | None
    kind: str  # "hostport" | "name"
    target: str  # "host:port" or a name
    calls: float
    errors: float
    # How long the calls took, where the rule's histogram gives it (cumulative, like calls).
    # Not part of equality: a call is who called whom how often.
    latency: Histogram | None = field(default=None, compare=False)

    @property
    def host_port(self) -> tuple[str, int | None]:
        if self.kind != "hostport":
            return self.target, None
        host, _, port = self.target.rpartition(":")
        return host, int(port)


@dataclass
class ParseOutcome:
    calls: list[RawCall]
    skipped: int = 0  # series that looked like calls but could not be read (bad histograms included)
    bad_histograms: int = 0  # histogram series without +Inf, with NaN or falling buckets: skipped


def _hostport(labels: dict, host_label: str, port_label: str) -> str | None:
    host = labels.get(host_label, "").strip().lower()
    port = labels.get(port_label, "").strip()
    # Exporters shift labels: a port where the host belongs, or no port at all.
    if not host or not _HOST.match(host) or _PORT.match(host) or not _PORT.match(port):
        return None
    if not 0 < int(port) < 65536:
        return None
    return f"{host}:{int(port)}"


def _is_error(rule: dict, labels: dict) -> bool:
    status = labels.get(rule.get("status", ""), "")
    if status.isdigit() and int(status) >= 500:
        return True
    error_label = rule.get("error")
    return bool(error_label and labels.get(error_label, "").strip())


def _simple_labels(text: str, cache: dict) -> tuple[dict, tuple] | None:
    """Labels without escapes, as (dict, sorted items), or None when the text is not exactly
    ``name="value",...``. Cached: a histogram's bucket lines share all labels but ``le``."""
    hit = cache.get(text)
    if hit is None:
        pairs = _SIMPLE_LABEL.findall(text)
        if ",".join(f'{k}="{v}"' for k, v in pairs) != text.removesuffix(","):
            return None
        labels = dict(pairs)
        if len(labels) != len(pairs):
            return None
        hit = cache[text] = (labels, tuple(sorted(labels.items())))
    return hit


def _samples(lines: list[str]) -> list[tuple[str, dict, float, str | None, tuple]]:
    """(name, labels but ``le``, value, ``le``, the labels' identity) of each sample line:
    lines without escapes here, the rest through prometheus_client. A value that is no
    number is a ParseError."""
    out, rest, cache = [], [], {}
    for line in lines:
        m = _SIMPLE_SAMPLE.match(line)
        if m is None:
            rest.append(line)
            continue
        text, le = m.group(2) or "", None
        if "le=" in text:
            head, sep, tail = text.rpartition(',le="')
            if sep and tail.endswith('"') and '"' not in tail[:-1]:
                # ``le`` last, as exporters write it: split off without a regex.
                le, text = tail[:-1], head
            else:
                le_match = _SIMPLE_LE.search(text)
                if le_match is not None:
                    le = le_match.group(1)
                    text = (text[: le_match.start()] + text[le_match.end() :]).strip(",")
            if le is not None and "le=" in text:
                rest.append(line)  # two le labels: let the library refuse it
                continue
        labels = _simple_labels(text, cache)
        if labels is None:
            rest.append(line)
            continue
        try:
            value = float(m.group(3))
        except ValueError as exc:
            raise ParseError("invalid exposition in a call series (ValueError)") from exc
        out.append((m.group(1), labels[0], value, le, labels[1]))
    if rest:
        try:
            families = list(text_string_to_metric_families("\n".join(rest) + "\n"))
        except (ValueError, IndexError, TypeError) as exc:
            raise ParseError(f"invalid exposition in a call series ({type(exc).__name__})") from exc
        for family in families:
            for sample in family.samples:
                labels = {k: v for k, v in sample.labels.items() if k != "le"}
                out.append((sample.name, labels, sample.value, sample.labels.get("le"), tuple(sorted(labels.items()))))
    return out


def _target_of(rule: dict, labels: dict) -> tuple[str | None, str | None, bool]:
    """(caller, target, readable) of one sample under ``rule``."""
    caller = labels.get(rule["source"], "").strip() or None if rule.get("source") else None
    spec = rule["target"]
    if spec[0] == "hostport":
        target = _hostport(labels, spec[1], spec[2])
    else:
        target = next((labels[lbl].strip() for lbl in spec[1:] if labels.get(lbl, "").strip()), None)
    return caller, target, not (target is None or (rule.get("source") and caller is None))


def _le(text: str | None) -> float | None:
    try:
        le = float(text) if text is not None else None
    except ValueError:
        return None
    return None if le is None or math.isnan(le) or le < 0 else le


def _histograms(
    buckets: dict[tuple, dict[tuple, dict[float, float] | None]], scales: dict[str, float]
) -> tuple[dict[tuple, Histogram], int]:
    """Per (caller, kind, target): its histogram series (one series is one sample name and
    label set without ``le``), each read as cumulative ``le`` buckets, summed per sample
    name; where a rule names several bucket samples, the one with the most observations
    (never their sum). A series without +Inf, with a NaN, a negative or a falling count,
    too many buckets, or other bounds than its name's first good series is skipped and
    counted."""
    out: dict[tuple, Histogram] = {}
    bad = 0
    for key, series in buckets.items():
        per_name: dict[str, Histogram] = {}
        for (sample_name, _), les in series.items():
            h = histogram_from_cumulative_buckets(les, scale_to_ms=scales[sample_name]) if les else None
            total = per_name.get(sample_name)
            if h is None or (total is not None and h.bounds_ms != total.bounds_ms):
                bad += 1
                continue
            per_name[sample_name] = h if total is None else total.plus(h)
        if per_name:
            out[key] = max(per_name.values(), key=lambda h: h.total)
    return out, bad


def parse_exposition(text: str, rules: list[dict], *, max_series: int) -> ParseOutcome:
    """Read call counters, and the latency histograms beside them, from a Prometheus/
    OpenMetrics text exposition.

    Only lines of a rule's samples are handed to prometheus_client's parser; the rest of
    the body is checked for shape but not parsed. The same calls may be reported under
    several conventions at once (OpenTelemetry's ``http/dup`` mode), so each target keeps
    the largest count any one rule reports, never their sum; its latency is the histogram
    of the rule with the largest count among the rules that give one (never a sum either).

    A rule's ``buckets`` maps ``_bucket`` sample names to the factor that turns their
    ``le`` into milliseconds; bucket series are read with the same target labels as the
    rule's sample and summed per target (status codes and other labels apart)."""
    if "\x00" in text:
        raise ParseError("body is binary, not a text exposition")
    bad = _BAD_LINE.search(text)
    if bad:
        # The line number only: a body may carry anything, and crawl results are read by everyone.
        raise ParseError(f"invalid exposition at line {text.count(chr(10), 0, bad.start()) + 1}")
    if text.count("\n") > max_series:
        raise ParseError(f"too many series (more than {max_series})")
    wanted = {r["sample"]: r for r in rules}
    error_samples = {r["errors_sample"]: r for r in rules if r.get("errors_sample")}
    bucket_samples = {name: r for r in rules for name in (r.get("buckets") or {})}
    scales = {name: float(scale) for r in rules for name, scale in (r.get("buckets") or {}).items()}
    prefixes = tuple(wanted) + tuple(error_samples) + tuple(bucket_samples)
    lines = [line for line in text.splitlines() if line.startswith(prefixes)]
    if not lines:
        return ParseOutcome(calls=[])
    samples = _samples(lines)

    per_rule: dict[str, dict[tuple, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0.0]))
    # rule -> (caller, kind, target) -> (sample name, labels without le) -> {le: cumulative count};
    # None marks a series already known to be bad.
    per_rule_buckets: dict[str, dict[tuple, dict[tuple, dict[float, float] | None]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    series_targets: dict[tuple, tuple] = {}
    skipped = 0
    for name, labels, value, le_text, identity in samples:
        brule = bucket_samples.get(name)
        if brule is not None:
            skey = (name, identity)
            where = series_targets.get(skey)
            if where is None:  # once per series, not per bucket
                where = series_targets[skey] = _target_of(brule, labels)
            caller, target, readable = where
            if not readable:
                continue  # its _count series is the one counted as skipped
            series = per_rule_buckets[brule["name"]][(caller, brule["target"][0], target)]
            les = series.setdefault(skey, {})
            if les is None:
                continue
            le = _le(le_text)
            if le is None or value is None or math.isnan(value) or value < 0 or le in les:
                series[skey] = None
            else:
                les[le] = value
            continue
        rule = wanted.get(name)
        erule = error_samples.get(name)
        if rule is None and erule is None:
            continue
        if value is None or math.isnan(value) or math.isinf(value) or value < 0:
            skipped += 1
            continue
        active = rule or erule
        caller, target, readable = _target_of(active, labels)
        if not readable:
            skipped += 1
            continue
        slot = per_rule[active["name"]][(caller, active["target"][0], target)]
        if rule is not None:
            slot[0] += value
            if _is_error(rule, labels):
                slot[1] += value
        else:
            slot[1] += value

    bad_histograms = 0
    latency: dict[str, dict[tuple, Histogram]] = {}
    for name, buckets in per_rule_buckets.items():
        latency[name], bad_count = _histograms(buckets, scales)
        bad_histograms += bad_count

    best: dict[tuple, list[float]] = {}
    best_latency: dict[tuple, tuple[float, Histogram]] = {}
    for name, counts in per_rule.items():
        for key, (calls, errors) in counts.items():
            prev = best.get(key)
            if prev is None or calls > prev[0]:
                best[key] = [calls, errors]
            h = latency.get(name, {}).get(key)
            if h is not None and (key not in best_latency or calls > best_latency[key][0]):
                best_latency[key] = (calls, h)
    calls = [
        RawCall(
            caller=c,
            kind=k,
            target=t,
            calls=v[0],
            errors=min(v[1], v[0]),
            latency=best_latency[(c, k, t)][1] if (c, k, t) in best_latency else None,
        )
        for (c, k, t), v in best.items()
    ]
    return ParseOutcome(calls=calls, skipped=skipped + bad_histograms, bad_histograms=bad_histograms)


def _dependency_links(links) -> ParseOutcome:
    if not isinstance(links, list):
        raise ParseError("dependencies response is not a list")
    out: list[RawCall] = []
    skipped = 0
    for link in links:
        if not isinstance(link, dict):
            skipped += 1
            continue
        parent, child = link.get("parent"), link.get("child")
        count, errors = link.get("callCount", 0), link.get("errorCount", 0) or 0
        if (
            not isinstance(parent, str)
            or not isinstance(child, str)
            or not parent
            or not child
            or not isinstance(count, (int, float))
            or not isinstance(errors, (int, float))
            or count < 0
        ):
            skipped += 1
            continue
        out.append(
            RawCall(
                caller=parent, kind="name", target=child, calls=float(count), errors=float(min(max(errors, 0), count))
            )
        )
    return ParseOutcome(calls=out, skipped=skipped)


def json_body(body: bytes):
    """Decode a JSON answer (UTF-8, as RFC 8259 requires of JSON between systems: bytes would let
    ``json`` guess UTF-16/32); an error names where it failed, never what the body said."""
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ParseError(f"not JSON: not UTF-8 text (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise ParseError(f"not JSON (line {exc.lineno}, column {exc.colno})") from exc
    except RecursionError as exc:
        raise ParseError("not JSON: nested too deeply") from exc


def parse_zipkin(body: bytes) -> ParseOutcome:
    """Zipkin ``/api/v2/dependencies``: ``[{"parent","child","callCount","errorCount"}]``."""
    return _dependency_links(json_body(body))


def parse_jaeger(body: bytes) -> ParseOutcome:
    """Jaeger ``/api/dependencies``: ``{"data": [{"parent","child","callCount"}]}``."""
    data = json_body(body)
    if not isinstance(data, dict):
        raise ParseError("dependencies response is not an object")
    return _dependency_links(data.get("data") or [])
