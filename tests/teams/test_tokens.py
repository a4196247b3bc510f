"""Profile API tokens are created and revoked through teams.services with an audit event that names
the user and never holds the key (issue 11 §4: they were written straight from the view, unaudited)."""

import json

from rest_framework.authtoken.models import Token

from core.models import AuditEvent


def test_token_create_and_revoke_are_audited_without_the_key(world, client):
    lead = world["lead"]
    client.force_login(lead)
    assert client.post("/profile/token/").status_code == 302
    first = Token.objects.get(user=lead).key
    assert client.post("/profile/token/").status_code == 302  # replaces the old one
    key = Token.objects.get(user=lead).key
    assert key != first
    assert client.get("/profile/").content.count(key.encode()) == 1  # shown once
    assert key.encode() not in client.get("/profile/").content
    assert client.post("/profile/token/revoke/").status_code == 302
    assert not Token.objects.filter(user=lead).exists()
    events = list(AuditEvent.objects.filter(object_type="user").order_by("pk"))
    assert [e.action for e in events] == ["token.create", "token.create", "token.revoke"]
    assert all(e.object_id == str(lead.pk) and e.actor == lead for e in events)
    dumped = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert first not in dumped and key not in dumped


def test_revoking_without_a_token_writes_nothing(world, client):
    client.force_login(world["member"])
    assert client.post("/profile/token/revoke/").status_code == 302
    assert not AuditEvent.objects.filter(action="token.revoke").exists()


def test_the_api_token_command_goes_through_the_same_service(world, capsys):
    from django.core.management import call_command

    call_command("api_token", "reader")
    key = capsys.readouterr().out.strip()
    assert Token.objects.get(user=world["reader"]).key == key
    call_command("api_token", "reader", "--revoke")
    events = list(AuditEvent.objects.filter(object_type="user").order_by("pk").values_list("action", "actor_repr"))
    assert events == [("token.create", "system"), ("token.revoke", "system")]
    assert key not in json.dumps(list(AuditEvent.objects.values()), default=str)
