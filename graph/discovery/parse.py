"""Pure parsers: telemetry in, raw call observations out. No I/O, no Django."""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

# A line that is neither a comment nor "name{labels} value ...": the body is not an exposition.
_BAD_LINE = re.compile(r"^(?![ \t]*$)(?!#)(?![a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^\n]*\})?[ \t]+\S+)[^\n]*$", re.M)
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

    @property
    def host_port(self) -> tuple[str, int | None]:
        if self.kind != "hostport":
            return self.target, None
        host, _, port = self.target.rpartition(":")
        return host, int(port)


@dataclass
class ParseOutcome:
    calls: list[RawCall]
    skipped: int = 0  # series that looked like calls but could not be read


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


def parse_exposition(text: str, rules: list[dict], *, max_series: int) -> ParseOutcome:
    """Read call counters from a Prometheus/OpenMetrics text exposition.

    Only lines of a rule's samples are handed to prometheus_client's parser; the rest of
    the body is checked for shape but not parsed. The same calls may be reported under
    several conventions at once (OpenTelemetry's ``http/dup`` mode), so each target keeps
    the largest count any one rule reports, never their sum."""
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
    prefixes = tuple(wanted) + tuple(error_samples)
    lines = [line for line in text.splitlines() if line.startswith(prefixes)]
    if not lines:
        return ParseOutcome(calls=[])
    try:
        families = list(text_string_to_metric_families("\n".join(lines) + "\n"))
    except (ValueError, IndexError, TypeError) as exc:
        raise ParseError(f"invalid exposition in a call series ({type(exc).__name__})") from exc

    per_rule: dict[str, dict[tuple, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0.0]))
    skipped = 0
    for family in families:
        for sample in family.samples:
            rule = wanted.get(sample.name)
            erule = error_samples.get(sample.name)
            if rule is None and erule is None:
                continue
            value = sample.value
            if value is None or math.isnan(value) or math.isinf(value) or value < 0:
                skipped += 1
                continue
            active = rule or erule
            caller = sample.labels.get(active["source"], "").strip() or None if active.get("source") else None
            spec = active["target"]
            if spec[0] == "hostport":
                target = _hostport(sample.labels, spec[1], spec[2])
            else:
                target = next(
                    (sample.labels[lbl].strip() for lbl in spec[1:] if sample.labels.get(lbl, "").strip()), None
                )
            if target is None or (active.get("source") and caller is None):
                skipped += 1
                continue
            slot = per_rule[active["name"]][(caller, spec[0], target)]
            if rule is not None:
                slot[0] += value
                if _is_error(rule, sample.labels):
                    slot[1] += value
            else:
                slot[1] += value

    best: dict[tuple, list[float]] = {}
    for counts in per_rule.values():
        for key, (calls, errors) in counts.items():
            prev = best.get(key)
            if prev is None or calls > prev[0]:
                best[key] = [calls, errors]
    calls = [RawCall(caller=c, kind=k, target=t, calls=v[0], errors=min(v[1], v[0])) for (c, k, t), v in best.items()]
    return ParseOutcome(calls=calls, skipped=skipped)


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


def _json(body: bytes):
    """Decode JSON; an error names where it failed, never what the body said."""
    try:
        return json.loads(body)
    except UnicodeDecodeError as exc:
        raise ParseError(f"not JSON: not UTF-8 text (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise ParseError(f"not JSON (line {exc.lineno}, column {exc.colno})") from exc
    except RecursionError as exc:
        raise ParseError("not JSON: nested too deeply") from exc


def parse_zipkin(body: bytes) -> ParseOutcome:
    """Zipkin ``/api/v2/dependencies``: ``[{"parent","child","callCount","errorCount"}]``."""
    return _dependency_links(_json(body))


def parse_jaeger(body: bytes) -> ParseOutcome:
    """Jaeger ``/api/dependencies``: ``{"data": [{"parent","child","callCount"}]}``."""
    data = _json(body)
    if not isinstance(data, dict):
        raise ParseError("dependencies response is not an object")
    return _dependency_links(data.get("data") or [])
