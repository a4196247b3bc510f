"""Deploys (issue 14): recorded by pipelines with an API token of the service's team or the
service's deploy key, idempotent on the pipeline's id, listed in REST, GraphQL and on the
service page, recorded from the command line; each one an event."""

import json

import pytest
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from catalog import services as catalog
from changes.models import Deploy, DeployKey, Event
from core.models import AuditEvent


@pytest.fixture
def orders(world):
    return catalog.service_create(actor=world["root"], team=world["team"], slug="orders", name="Orders")


def _token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def _bearer(secret) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


BODY = {
    "service": "orders",
    "deploy_id": "ci-123-deploy",
    "version": "1.4.2",
    "environment": "prod",
    "commit": "abc123",
}


def _post(client, **extra):
    return client.post("/api/v1/deploys/", json.dumps({**BODY, **extra}), content_type="application/json")


def test_a_team_member_records_a_deploy_once_however_often_the_step_is_retried(world, orders):
    client = _token_client(world["member"])
    first = _post(client)
    assert first.status_code == 201, first.content
    again = _post(client)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert Deploy.objects.count() == 1
    body = first.json()
    assert (body["service"], body["version"], body["status"], body["deployer"]) == (
        "orders",
        "1.4.2",
        "succeeded",
        "member",
    )
    events = list(Event.objects.filter(type="deploy.recorded"))
    assert len(events) == 1
    assert events[0].payload["version"] == "1.4.2" and events[0].service_id == orders.pk
    assert events[0].org_id == world["org"].pk and events[0].team_id == world["team"].pk
    assert AuditEvent.objects.filter(action="deploy.record").count() == 1


def test_a_conflicting_retry_is_409_and_changes_nothing(world, orders):
    client = _token_client(world["member"])
    assert _post(client).status_code == 201
    clash = _post(client, version="9.9.9")
    assert clash.status_code == 409 and clash.json()["code"] == "deploy_conflict"
    assert "version" in clash.json()["detail"]
    assert Deploy.objects.get().version == "1.4.2"
    assert Event.objects.filter(type__startswith="deploy.").count() == 1


def test_a_started_deploy_moves_on_to_a_final_status_once(world, orders):
    client = _token_client(world["lead"])
    assert _post(client, status="started").status_code == 201
    done = _post(client, status="failed")
    assert done.status_code == 200 and done.json()["status"] == "failed"
    assert done.json()["finished_at"]
    assert _post(client, status="succeeded").json()["code"] == "deploy_conflict"
    assert list(Event.objects.filter(type__startswith="deploy.").values_list("type", flat=True)) == [
        "deploy.recorded",
        "deploy.updated",
    ]


def test_who_may_record(world, orders):
    assert _post(APIClient()).status_code == 401
    refused = _post(_token_client(world["other"]))  # lead of another team
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert _post(_token_client(world["reader"])).status_code == 403
    assert not Deploy.objects.exists()


def test_a_deploy_key_records_deploys_of_its_service_only(world, orders):
    other = catalog.service_create(actor=world["root"], team=world["team"], slug="billing", name="Billing")
    issued = _token_client(world["member"]).post(
        "/api/v1/deploy-keys/", {"service": "orders", "name": "ci"}, format="json"
    )
    assert issued.status_code == 201, issued.content
    secret = issued.json()["secret"]
    assert secret.startswith("swb_")
    stored = DeployKey.objects.get()
    assert secret not in json.dumps(list(DeployKey.objects.values()), default=str)
    assert stored.secret_hash and stored.key_id in secret
    assert "secret" not in _token_client(world["lead"]).get(f"/api/v1/deploy-keys/{stored.pk}/").json()

    recorded = _post(_bearer(secret))
    assert recorded.status_code == 201 and recorded.json()["deploy_key"] == stored.key_id
    assert AuditEvent.objects.get(action="deploy.record").actor_repr == f"deploy-key:{stored.key_id}"
    wrong = _post(_bearer(secret), service=other.slug, deploy_id="x-1")
    assert wrong.status_code == 403 and wrong.json()["code"] == "permission_denied"

    assert _post(_bearer(secret[:-1] + ("A" if secret[-1] != "A" else "B"))).status_code == 401
    assert _post(_bearer("not-a-key")).json()["code"] == "authentication_failed"
    revoked = _token_client(world["lead"]).post(f"/api/v1/deploy-keys/{stored.pk}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert _post(_bearer(secret), deploy_id="ci-124").status_code == 401
    assert Deploy.objects.count() == 1
    assert set(Event.objects.filter(type__startswith="deploy_key.").values_list("type", flat=True)) == {
        "deploy_key.issued",
        "deploy_key.revoked",
    }
    # A deploy key is for deploys only: it opens nothing else.
    assert _bearer(secret).get("/api/v1/services/").status_code == 401


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"version": ""}, "version"),
        ({"version": "v" * 101}, "version"),
        ({"deploy_id": "has space"}, "deploy_id"),
        ({"status": "exploded"}, "status"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"service": "nope"}, "service"),
        ({"commit": "x" * 65}, "commit"),
        ({"started_at": "2026-01-02T00:00:00Z", "finished_at": "2026-01-01T00:00:00Z"}, None),
        # found by probing: accepted, then the deploy gate's verdict failed on year 10000 (500)
        ({"started_at": "0001-01-01T00:00:00Z", "finished_at": "9999-12-31T23:59:59Z"}, "started_at"),
        ({"finished_at": "9999-12-31T23:59:59Z"}, "finished_at"),
        ({"status": "started", "started_at": "1999-12-31T23:59:59Z"}, "started_at"),
    ],
)
def test_bad_input_is_a_clear_400(world, orders, extra, field):
    response = _post(_token_client(world["member"]), **extra)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid" and response.json()["detail"]
    if field:
        assert field in response.json().get("fields", {}) or field in response.json()["detail"]
    assert not Deploy.objects.exists()


def test_a_huge_body_is_413(world, orders, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = _post(_token_client(world["member"]), deployer="x" * 20_000)
    assert response.status_code == 413 and response.json()["code"] == "body_too_large"


def test_lists_rest_graphql_and_the_service_page(world, orders, client):
    member = _token_client(world["member"])
    for n in range(3):
        assert _post(member, deploy_id=f"ci-{n}", version=f"1.{n}").status_code == 201
    reader = _token_client(world["reader"])
    listed = reader.get("/api/v1/deploys/?service=orders").json()["results"]
    assert [d["version"] for d in listed] == ["1.2", "1.1", "1.0"]
    detail = reader.get(f"/api/v1/deploys/{listed[0]['id']}/")
    assert detail.status_code == 200 and detail.json()["deploy_id"] == "ci-2"
    assert reader.get("/api/v1/deploys/?service=nobody").json()["results"] == []

    query = '{ service(slug: "orders") { deploys(limit: 2) { version deployId status } } deploys(service: "orders") { version } }'
    got = reader.post("/graphql", {"query": query}, format="json").json()
    assert "errors" not in got, got
    assert [d["version"] for d in got["data"]["service"]["deploys"]] == ["1.2", "1.1"]
    assert len(got["data"]["deploys"]) == 3

    client.force_login(world["reader"])
    page = client.get("/services/orders/").content.decode()
    assert "Recent deploys" in page and "1.2" in page and "1.0" in page


def test_the_deploy_command(world, orders, capsys):
    call_command("deploy", "orders", "2.0.0", "--id", "cli-1", "--environment", "staging", "--commit", "def456")
    call_command("deploy", "orders", "2.0.0", "--id", "cli-1", "--environment", "staging", "--commit", "def456")
    out = capsys.readouterr().out
    assert "recorded" in out and "already recorded" in out
    deploy = Deploy.objects.get()
    assert (deploy.environment, deploy.commit, deploy.recorded_by) == ("staging", "def456", None)
    with pytest.raises(CommandError, match="deploy_conflict"):
        call_command("deploy", "orders", "2.0.1", "--id", "cli-1", "--environment", "staging", "--commit", "def456")
    with pytest.raises(CommandError, match="permission_denied"):
        call_command("deploy", "orders", "2.0.0", "--id", "cli-2", "--user", "reader")
    with pytest.raises(CommandError, match="No service"):
        call_command("deploy", "nope", "1", "--id", "x")
