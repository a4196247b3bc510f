"""``host:port`` of a base URL: how the catalog (alias checks) and discovery (matching telemetry
targets to services) both name a service's address."""

from __future__ import annotations

from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def base_url_hostport(base_url: str) -> str | None:
    """``host:port`` of a base URL (the scheme's default port when none is given), lowercased."""
    if not base_url:
        return None
    try:
        parts = urlsplit(base_url)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None
    if not parts.hostname or port is None:
        return None
    return f"{parts.hostname.lower()}:{port}"
