"""The OTLP receiver's failed-attempt limiter (``/v1/traces``, ``/v1/metrics``): the same
limiter as the gateway's (core/limiter.py), counted per client address in the real Redis."""

import pytest
from django.test import Client
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

PB = "application/x-protobuf"
ADDRESS = "203.0.113.7"


def _body() -> bytes:
    request = trace_service_pb2.ExportTraceServiceRequest()
    request.resource_spans.add().resource.attributes.add(key="service.name").value.string_value = "orders"
    return request.SerializeToString()


def _post(client, path, key, address=ADDRESS):
    return client.generic(
        "POST", path, _body(), content_type=PB, HTTP_AUTHORIZATION=f"Bearer {key}", REMOTE_ADDR=address
    )


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/v1/traces", "/v1/metrics"])
def test_too_many_failed_keys_from_one_address_get_429_with_retry_after_even_with_a_good_key(world, settings, path):
    from catalog.services import service_create
    from graph.services.otlp import ingest_key_issue

    settings.OTLP_FAILURES_PER_MINUTE = 5
    settings.GATEWAY_FAILURES_PER_MINUTE = 5
    service_create(actor=world["root"], team=world["team"], slug="orders", name="Orders", crawl_enabled=False)
    _, good = ingest_key_issue(actor=world["member"], service="orders", name="orders-otel")
    client = Client()
    statuses = [_post(client, path, "swb_bad").status_code for _ in range(6)]
    assert statuses == [401] * 6
    limited = _post(client, path, good)  # refused before the key is looked at
    assert limited.status_code == 429
    assert limited["X-Error-Code"] == "rate_limited"
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert limited["Content-Type"] == PB
    # Another address is unaffected.
    assert _post(client, path, good, address="203.0.113.8").status_code == 200
    # The gateway counts its own failures: OTLP failures do not block an address there.
    verify = client.get("/gateway/verify", HTTP_X_API_KEY="swb_bad", HTTP_X_TARGET_API="x", REMOTE_ADDR=ADDRESS)
    assert verify.status_code == 401


@pytest.mark.django_db
def test_good_keys_do_not_count_towards_the_limit(world, settings):
    from catalog.services import service_create
    from graph.services.otlp import ingest_key_issue

    settings.OTLP_FAILURES_PER_MINUTE = 2
    service_create(actor=world["root"], team=world["team"], slug="orders", name="Orders", crawl_enabled=False)
    _, good = ingest_key_issue(actor=world["member"], service="orders", name="orders-otel")
    client = Client()
    assert {_post(client, "/v1/traces", good).status_code for _ in range(8)} == {200}
