"""Match a telemetry target to a catalogued service. A slug or a base_url host:port always
outranks an alias (so no service can take over another's traffic by naming itself after
it), and an alias outranks a display name. Anything else is an unknown Endpoint."""

from __future__ import annotations

from dataclasses import dataclass

from core.hostport import base_url_hostport
from graph.discovery.parse import RawCall


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
        # Ranked passes, each only filling what the ones before left: slugs and base URLs,
        # then aliases, then display names.
        for s in services:
            self.by_name.setdefault(s.slug, s.slug)
            hostport = base_url_hostport(s.base_url)
            if hostport:
                self.by_hostport.setdefault(hostport, s.slug)
        for s in services:
            for alias in s.aliases:
                alias = alias.lower()
                if ":" in alias and alias.rsplit(":", 1)[1].isdigit():
                    self.by_hostport.setdefault(alias, s.slug)
                else:
                    self.by_name.setdefault(alias, s.slug)
        for s in services:
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
