"""Gateway path normalisation, scope matching and client addresses: pure functions, tested
with no server, no database and no Redis."""

import pytest

from catalog.gateway_path import PathInvalid, normalise_method, normalise_path, scope_allows
from core.clientip import client_ip

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Overrides the suite's Redis-clearing fixture: nothing here touches Redis."""
    yield


BYPASSES = [
    "/orders/../admin",
    "/orders/%2e%2e/admin",
    "/orders/%2E%2E/admin",
    "/orders/.%2e/admin",
    "/orders/..%2fadmin",
    "/orders/..%2Fadmin",
    "/orders/./../admin",
    "/orders//../../admin",
    "/orders/..\\admin",
    "/orders/..%5cadmin",
    "/orders/%00/../admin",
    "/orders/..;/admin",
]


@pytest.mark.parametrize("raw", BYPASSES)
def test_no_bypass_string_is_admitted_by_an_orders_scope(raw):
    try:
        path = normalise_path(raw)
    except PathInvalid:
        return  # refused outright: 403 path_invalid
    assert not scope_allows(["GET /orders/"], "GET", path), path


@pytest.mark.parametrize(
    "raw,normal",
    [
        ("/orders/../admin", "/admin"),
        ("/orders/%2e%2e/admin", "/admin"),
        ("/orders/./../admin", "/admin"),
        ("/orders/./items//7/../8?x=/../../y#frag", "/orders/items/8"),
        ("/orders/", "/orders/"),
        ("/orders/.", "/orders/"),
        ("/orders/items/..", "/orders/"),
        ("/", "/"),
        ("///", "/"),
        ("/%6Frders/%7Eme", "/orders/~me"),  # unreserved characters are decoded
        ("/a%20b/%41", "/a%20b/A"),  # others stay escaped
        ("/a%252e%252e/b", "/a%252e%252e/b"),  # decoded once only
        ("/a/b%3f/c", "/a/b%3F/c"),
    ],
)
def test_normal_forms(raw, normal):
    assert normalise_path(raw) == normal


@pytest.mark.parametrize(
    "raw,reason",
    [
        ("/orders/..%2fadmin", "encoded slash"),
        ("/orders%2F..%2Fadmin", "encoded slash"),
        ("/orders/..%5Cadmin", "encoded backslash"),
        ("/orders\\..\\admin", "backslash"),
        ("/orders/%00", "NUL"),
        ("/orders/\x00", "control character"),
        ("/orders/\r\nX: y", "control character"),
        ("/orders//../../admin", "climbs above the root"),
        ("/..", "climbs above the root"),
        ("/orders/../../etc/passwd", "climbs above the root"),
        ("/%2e%2e/admin", "climbs above the root"),
        ("/orders/..;x/admin", "dot segment with parameters"),
        ("/orders/%zz", "malformed percent-escape"),
        ("/orders/%4", "malformed percent-escape"),
        ("orders/7", "not absolute"),
        ("http://evil/orders/7", "not absolute"),
        ("", "not absolute"),
        ("/" + "a" * 9000, "longer than 8 KiB"),
    ],
)
def test_refused(raw, reason):
    with pytest.raises(PathInvalid, match=reason):
        normalise_path(raw)


@pytest.mark.parametrize(
    "scope,path,admitted",
    [
        ("GET /orders/items", "/orders/items", True),
        ("GET /orders/items", "/orders/items/7", True),
        ("GET /orders/items", "/orders/items/", True),
        ("GET /orders/items", "/orders/itemsXYZ", False),
        ("GET /orders/items", "/orders/item", False),
        ("GET /orders/items/", "/orders/items", True),
        ("GET /orders/items/", "/orders/itemsXYZ", False),
        ("GET /orders/", "/orders/7", True),
        ("GET /orders/", "/admin", False),
        ("GET /orders/", "/ordersXYZ", False),
        ("POST /orders", "/orders", False),  # wrong method
        ("* /orders", "/orders/1", True),
        ("GET /", "/anything/at/all", True),
        ("GET /orders/./items", "/orders/items/1", True),  # scopes are normalised too
        ("GET /orders/..%2f", "/orders/1", False),  # a scope that cannot be normalised admits nothing
    ],
)
def test_scopes_match_on_segment_boundaries(scope, path, admitted):
    assert scope_allows([scope], "GET", path) is admitted


def test_methods():
    assert normalise_method(" get ") == "GET"
    for bad in ("", "GET /x", "G\x00T", "X" * 17):
        with pytest.raises(PathInvalid):
            normalise_method(bad)


# --- client addresses -------------------------------------------------------------------
def test_forwarded_header_is_ignored_without_trusted_proxies():
    meta = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    assert client_ip(meta, trusted=()) == "127.0.0.1"


def test_forwarded_header_is_ignored_from_an_untrusted_peer():
    meta = {"REMOTE_ADDR": "198.51.100.7", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    assert client_ip(meta, trusted=("10.0.0.0/8", "127.0.0.1")) == "198.51.100.7"


def test_rightmost_untrusted_address_from_a_trusted_peer():
    trusted = ("10.0.0.0/8", "192.0.2.1")
    # the client wrote "1.1.1.1" itself; its real address was appended by the first proxy
    meta = {"REMOTE_ADDR": "10.1.2.3", "HTTP_X_FORWARDED_FOR": "1.1.1.1, 203.0.113.9, 192.0.2.1, 10.9.9.9"}
    assert client_ip(meta, trusted=trusted) == "203.0.113.9"


@pytest.mark.parametrize("forwarded", ["not-an-ip", "203.0.113.9:4444", "1.1.1.1, bogus", "", "1.1.1.1," * 400])
def test_anything_that_is_not_an_ip_falls_back_to_the_peer(forwarded):
    meta = {"REMOTE_ADDR": "10.1.2.3", "HTTP_X_FORWARDED_FOR": forwarded}
    assert client_ip(meta, trusted=("10.0.0.0/8",)) == "10.1.2.3"


def test_ipv6_and_mapped_addresses():
    assert client_ip({"REMOTE_ADDR": "::1", "HTTP_X_FORWARDED_FOR": "2001:db8::1"}, trusted=("::1",)) == "2001:db8::1"
    mapped_proxy = {"REMOTE_ADDR": "::ffff:10.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.5"}
    assert client_ip(mapped_proxy, trusted=("10.0.0.0/8",)) == "203.0.113.5"
    assert client_ip({"REMOTE_ADDR": "::ffff:198.51.100.1"}, trusted=()) == "198.51.100.1"


def test_a_bad_trusted_proxy_entry_is_a_configuration_error():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="not-a-network"):
        client_ip({"REMOTE_ADDR": "10.0.0.1"}, trusted=("not-a-network",))
