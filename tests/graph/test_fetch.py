"""The crawler's safety rules against real misbehaving servers on loopback."""

import asyncio
import ipaddress

import pytest

from graph.discovery.fetch import address_allowed, fetch, make_session
from tests.conftest import HOSTILE_PORT_BASE

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]


def get(url, *, allowed=LOOPBACK, max_bytes=10 * 1024 * 1024, timeout=2.0):
    async def go():
        async with make_session(allowed=allowed, concurrency=4) as session:
            return await fetch(session, url, allowed=allowed, max_bytes=max_bytes, timeout=timeout)

    return asyncio.run(go())


def hostile(kind):
    from devtools.fleet import HOSTILE

    return f"http://127.0.0.1:{HOSTILE_PORT_BASE + HOSTILE.index(kind)}/metrics"


@pytest.mark.unit
def test_link_local_is_refused_even_inside_a_wide_allowed_network():
    assert not address_allowed("169.254.169.254", [ipaddress.ip_network("0.0.0.0/0")])
    assert address_allowed("169.254.169.254", [ipaddress.ip_network("169.254.169.0/24")])
    assert not address_allowed("10.0.0.1", LOOPBACK)
    assert address_allowed("::ffff:127.0.0.1", LOOPBACK)


@pytest.mark.unit
@pytest.mark.parametrize(
    "url,reason",
    [
        ("http://169.254.169.254/latest/meta-data/", "refused"),
        ("http://10.1.2.3/metrics", "refused"),
        ("file:///etc/passwd", "scheme"),
        ("gopher://127.0.0.1/", "scheme"),
        ("http://metadata.google.internal./", ""),  # name that does not resolve here: a clean failure
    ],
)
def test_targets_outside_the_rules_are_refused_before_connecting(url, reason):
    result = get(url)
    assert not result.ok and reason in result.error


@pytest.mark.unit
def test_names_are_checked_after_resolution():
    result = get("http://localhost:9/", allowed=[ipaddress.ip_network("10.0.0.0/8")])
    assert not result.ok and "outside DISCOVERY_ALLOWED_NETWORKS" in result.error


@pytest.mark.parametrize(
    "kind,reason",
    [
        ("slow", "timed out"),
        ("endless", "body larger than"),
        ("huge", "body larger than"),
        ("redirect-loop", "redirects"),
        ("redirect-metadata", "redirect to another host"),
        ("reset", "connection failed"),
    ],
)
def test_hostile_servers_fail_with_a_reason(hostile_fleet, kind, reason):
    result = get(hostile(kind), max_bytes=1024 * 1024)
    assert not result.ok and reason in result.error, result.error
