"""The admin and management commands go through the same service layer."""

from django.core.management import call_command
from rest_framework.authtoken.models import Token

from core.models import AuditEvent
from teams.models import Membership


def test_admin_member_add_respects_the_limit_and_writes_nothing(world, client, make_user):
    world["org"].max_members_per_team = 2
    world["org"].save()
    newbie = make_user("newbie")
    client.force_login(world["root"])
    response = client.post(
        "/admin/teams/membership/add/", {"team": world["team"].pk, "user": newbie.pk, "role": "member"}, follow=True
    )
    assert response.status_code == 200
    assert "Team &#x27;alpha&#x27; is at its limit of 2 members" in response.content.decode()
    assert not Membership.objects.filter(user=newbie).exists()
    assert not AuditEvent.objects.filter(action="member.add").exists()


def test_admin_service_create_is_audited_through_the_service_layer(world, client):
    client.force_login(world["root"])
    response = client.post(
        "/admin/catalog/service/add/",
        {
            "team": world["team"].pk,
            "slug": "via-admin",
            "name": "Via admin",
            "tier": 2,
            "lifecycle": "production",
            "aliases": "[]",
            "metrics_path": "/metrics",
            "health_path": "/health",
            "crawl_enabled": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert AuditEvent.objects.filter(action="service.create", object_repr="via-admin", actor=world["root"]).exists()


def test_api_token_command_creates_and_revokes(world, capsys):
    call_command("api_token", "reader")
    key = capsys.readouterr().out.strip()
    assert Token.objects.get(user=world["reader"]).key == key
    call_command("api_token", "reader", "--revoke")
    assert not Token.objects.filter(user=world["reader"]).exists()
