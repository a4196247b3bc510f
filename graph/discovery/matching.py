"""Match a telemetry target to a catalogued service: base_url host:port, then aliases,
then the service's slug or name. Anything else is an unknown Endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from graph.discovery.parse import RawCall

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class ServiceRef:
    slug: str
    name: str
    base_url: str
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class Target:
    kind: str  # "service" | "endpoint"
    key: str  # service slug or endpoint key
    host: str = ""
    port: int | None = None


class CatalogIndex:
    def __init__(self, services: list[ServiceRef]):
        self.by_hostport: dict[str, str] = {}
        self.by_name: dict[str, str] = {}
        for s in services:
            if s.base_url:
                parts = urlsplit(s.base_url)
                if parts.hostname:
                    port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
                    self.by_hostport.setdefault(f"{parts.hostname.lower()}:{port}", s.slug)
            for alias in s.aliases:
                alias = alias.lower()
                if ":" in alias and alias.rsplit(":", 1)[1].isdigit():
                    self.by_hostport.setdefault(alias, s.slug)
                else:
                    self.by_name.setdefault(alias, s.slug)
        for s in services:  # names rank below explicit aliases
            self.by_name.setdefault(s.slug, s.slug)
            self.by_name.setdefault(s.name.lower(), s.slug)

    def service_for_name(self, name: str | None) -> str | None:
        return self.by_name.get(name.lower()) if name else None

    def resolve(self, call: RawCall) -> Target:
        if call.kind == "hostport":
            slug = self.by_hostport.get(call.target)
            host, port = call.host_port
            if slug is None:
                slug = self.by_name.get(host)
            if slug is not None:
                return Target("service", slug)
            return Target("endpoint", call.target, host, port)
        slug = self.by_name.get(call.target.lower())
        if slug is not None:
            return Target("service", slug)
        return Target("endpoint", call.target.lower(), call.target.lower(), None)
