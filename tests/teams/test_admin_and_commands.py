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


def test_the_admin_shows_staff_org_admins_only_their_orgs_keys(world, client):
    """Found by probing: an org admin made staff with view permissions read every org's API and
    ingestion keys in the admin, while REST showed them their own orgs' only."""
    from django.contrib.auth.models import Permission

    from catalog import services as catalog
    from graph.services import ingest_key_issue
    from teams.models import Org, Team

    root = world["root"]
    far = Team.objects.create(org=Org.objects.create(slug="far", name="Far"), slug="far-team", name="Far team")
    for team, slug in ((world["team"], "near"), (far, "far")):
        service = catalog.service_create(actor=root, team=team, slug=slug, name=slug)
        api = catalog.api_create(actor=root, provider=service, slug=f"{slug}-api", name=slug)
        catalog.key_issue(actor=root, api=api, consumer=service, name=f"{slug}-key")
        ingest_key_issue(actor=root, service=slug, name=f"{slug}-ingest")
    admin = world["orgadmin"]
    admin.is_staff = True
    admin.save()
    admin.user_permissions.add(*Permission.objects.filter(codename__in=["view_apikey", "view_ingestkey"]))
    client.force_login(admin)
    keys = client.get("/admin/catalog/apikey/").content.decode()
    ingest = client.get("/admin/graph/ingestkey/").content.decode()
    assert "near-key" in keys and "far-key" not in keys
    assert "near-ingest" in ingest and "far-ingest" not in ingest


def test_the_admin_search_reads_a_bounded_number_of_words(world, client):
    """Found by probing: a thousand words made one OR per word and field, past what SQLite
    takes (500)."""
    client.force_login(world["root"])
    assert client.get("/admin/catalog/service/", {"q": "a " * 1000}).status_code == 200
