"""Issue 12: systems, domains and resources as catalog objects: limits, loops, permissions,
audit, events, REST filters, GraphQL and portal pages, against the real database."""

import pytest
from django.db import transaction

from catalog import services
from catalog.models import Domain, Resource, Service, System
from core.errors import Conflict, PermissionDenied
from core.events import Change, changed
from core.models import AuditEvent


@pytest.fixture
def heard():
    seen = []

    def receiver(sender, changes, **kwargs):
        seen.extend(changes)

    changed.connect(receiver, dispatch_uid="test-systems-heard")
    yield seen
    changed.disconnect(dispatch_uid="test-systems-heard")


@pytest.fixture
def shop(world):
    root, team = world["root"], world["team"]
    commerce = services.owned_create("domain", actor=root, team=team, slug="commerce", name="Commerce")
    system = services.owned_create("system", actor=root, team=team, slug="shop", name="Shop", domain=commerce)
    orders = services.service_create(actor=root, team=team, slug="orders", name="Orders", system=system)
    db = services.owned_create("resource", actor=root, team=team, slug="orders-db", name="Orders DB", type="database")
    services.service_resources_set(actor=root, service=orders, resources=[db])
    return {**world, "commerce": commerce, "system": system, "orders": orders, "db": db}


def test_a_service_belongs_to_one_system_in_one_domain_and_each_write_is_audited(shop):
    orders = Service.objects.get(slug="orders")
    assert orders.system.slug == "shop" and orders.system.domain.slug == "commerce"
    assert list(orders.resources.values_list("slug", flat=True)) == ["orders-db"]
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"domain.create", "system.create", "resource.create", "service.resources"} <= actions
    event = AuditEvent.objects.get(action="system.create")
    assert event.org_id == shop["org"].pk  # org admins read their org's events


def test_members_manage_their_teams_systems_and_nobody_else_does(shop):
    member, other, reader = shop["member"], shop["other"], shop["reader"]
    services.owned_update("system", actor=member, obj=shop["system"], description="the shop")
    for actor in (other, reader):
        with pytest.raises(PermissionDenied):
            services.owned_update("system", actor=actor, obj=shop["system"], description="taken")
        with pytest.raises(PermissionDenied):
            services.owned_create("domain", actor=actor, team=shop["team"], slug="nope", name="Nope")
    assert System.objects.get(slug="shop").description == "the shop"
    assert not Domain.objects.filter(slug="nope").exists()


def test_a_team_owns_at_most_the_configured_number_of_systems(shop, settings):
    settings.CATALOG_MAX_SYSTEMS_PER_TEAM = 2
    services.owned_create("system", actor=shop["member"], team=shop["team"], slug="second", name="Second")
    with pytest.raises(Conflict) as refused:
        services.owned_create("system", actor=shop["member"], team=shop["team"], slug="third", name="Third")
    assert refused.value.code == "team_limit_exceeded"
    assert refused.value.extra == {"limit": "systems", "max": 2, "current": 2}
    assert not System.objects.filter(slug="third").exists()
    # and a transfer into a full team is refused the same way
    other_system = services.owned_create(
        "system", actor=shop["root"], team=shop["other_team"], slug="elsewhere", name="E"
    )
    with pytest.raises(Conflict):
        services.owned_update("system", actor=shop["root"], obj=other_system, team=shop["team"])
    assert System.objects.get(slug="elsewhere").team == shop["other_team"]


def test_a_domain_cannot_end_up_inside_itself(shop):
    root, team = shop["root"], shop["team"]
    inner = services.owned_create("domain", actor=root, team=team, slug="inner", name="Inner", parent=shop["commerce"])
    with pytest.raises(Conflict) as refused:
        services.owned_update("domain", actor=root, obj=shop["commerce"], parent=inner)
    assert refused.value.code == "reference_loop"
    assert "commerce -> inner -> commerce" in refused.value.detail
    with pytest.raises(Conflict):
        services.owned_update("domain", actor=root, obj=inner, parent=inner)
    assert Domain.objects.get(slug="commerce").parent is None


def test_objects_in_use_are_not_deleted(shop):
    root = shop["root"]
    with pytest.raises(Conflict) as refused:
        services.owned_delete("system", actor=root, obj=shop["system"])
    assert refused.value.code == "system_in_use" and "1 service(s)" in refused.value.detail
    with pytest.raises(Conflict):
        services.owned_delete("domain", actor=root, obj=shop["commerce"])
    from teams import services as teams

    services.service_update(actor=root, service=shop["orders"], system=None)
    services.service_delete(actor=root, service=shop["orders"])
    with pytest.raises(Conflict) as refused:  # still owns the domain, system and resource: 409, not a 500
        teams.team_delete(actor=root, team=shop["team"])
    assert refused.value.code == "team_in_use"
    services.owned_delete("system", actor=root, obj=System.objects.get(slug="shop"))
    services.owned_delete("domain", actor=root, obj=Domain.objects.get(slug="commerce"))
    assert not System.objects.exists() and not Domain.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_writes_announce_their_kind_on_commit(world, heard):
    root, team = world["root"], world["team"]
    with transaction.atomic():
        services.owned_create("domain", actor=root, team=team, slug="commerce", name="Commerce")
        services.owned_create("system", actor=root, team=team, slug="shop", name="Shop")
        services.owned_create("resource", actor=root, team=team, slug="queue", name="Q", type="queue")
        assert heard == []
    assert heard == [Change("domain", "commerce"), Change("system", "shop"), Change("resource", "queue")]


def test_rest_lists_filter_like_the_other_catalog_lists(shop, api):
    client = api(shop["reader"])
    body = client.get("/api/v1/systems/?domain=commerce").json()
    assert [s["slug"] for s in body["results"]] == ["shop"]
    assert body["results"][0]["team"] == "alpha" and body["results"][0]["domain"] == "commerce"
    assert client.get("/api/v1/systems/?domain=other").json()["results"] == []
    assert [s["slug"] for s in client.get("/api/v1/services/?system=shop").json()["results"]] == ["orders"]
    assert [s["slug"] for s in client.get("/api/v1/services/?domain=commerce").json()["results"]] == ["orders"]
    assert [r["slug"] for r in client.get("/api/v1/resources/?type=database").json()["results"]] == ["orders-db"]
    assert client.get("/api/v1/resources/?type=queue").json()["results"] == []


def test_rest_writes_go_through_the_services(shop, api):
    client = api(shop["member"])
    created = client.post("/api/v1/domains/", {"team": "alpha", "slug": "pay", "name": "Pay"}, format="json")
    assert created.status_code == 201, created.content
    looped = client.patch("/api/v1/domains/commerce/", {"parent": "commerce"}, format="json")
    assert looped.status_code == 409 and looped.json()["code"] == "reference_loop"
    moved = client.patch("/api/v1/services/orders/", {"system": None}, format="json")
    assert moved.status_code == 200 and moved.json()["system"] is None
    put = client.put("/api/v1/services/orders/resources/", {"resources": []}, format="json")
    assert put.status_code == 200 and put.json() == {"resources": []}
    assert not Resource.objects.get(slug="orders-db").dependents.exists()
    refused = api(shop["other"]).patch("/api/v1/systems/shop/", {"description": "x"}, format="json")
    assert refused.status_code == 403


def _gql(client, document):
    import json

    return client.post("/graphql", json.dumps({"query": document}), content_type="application/json").json()


def test_graphql_reads_and_writes_systems(shop, client):
    client.force_login(shop["member"])
    query = '{ systems(first: 10, domain: "commerce") { edges { node { slug domain { slug } services { slug } } } } }'
    data = _gql(client, query)
    assert data["data"]["systems"]["edges"][0]["node"] == {
        "slug": "shop",
        "domain": {"slug": "commerce"},
        "services": [{"slug": "orders"}],
    }
    mutation = 'mutation { createResource(team: "alpha", slug: "bus", input: {type: "queue", system: "shop"}) { slug type system { slug } } }'
    data = _gql(client, mutation)
    assert data["data"]["createResource"] == {"slug": "bus", "type": "queue", "system": {"slug": "shop"}}
    update = 'mutation { updateService(slug: "orders", input: {system: ""}) { service { system { slug } } } }'
    data = _gql(client, update)
    assert data["data"]["updateService"]["service"]["system"] is None


def test_portal_pages_list_filter_and_show(shop, client):
    client.force_login(shop["reader"])
    page = client.get("/systems/?domain=commerce").content.decode()
    assert "/systems/shop/" in page
    assert "/systems/shop/" not in client.get("/systems/?domain=none").content.decode()
    detail = client.get("/systems/shop/").content.decode()
    assert "/services/orders/" in detail and "/domains/commerce/" in detail
    assert "/systems/shop/" in client.get("/domains/commerce/").content.decode()
    assert "/services/orders/" in client.get("/resources/orders-db/").content.decode()
    assert "/systems/shop/" in client.get("/services/orders/").content.decode()


def test_the_admin_creates_transfers_and_deletes_through_the_services(shop, client):
    """The admin's writes go through catalog.services: each is audited as the service records it."""
    root, team, other = shop["root"], shop["team"], shop["other_team"]
    client.force_login(root)
    form = {"slug": "admin-made", "name": "Admin made", "team": team.pk, "description": "", "domain": ""}
    assert client.post("/admin/catalog/system/add/", form).status_code == 302
    made = System.objects.get(slug="admin-made")
    changed_form = {**form, "team": other.pk, "name": "Moved"}
    assert client.post(f"/admin/catalog/system/{made.pk}/change/", changed_form).status_code == 302
    made.refresh_from_db()
    assert (made.team_id, made.name) == (other.pk, "Moved")
    assert client.post(f"/admin/catalog/system/{made.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not System.objects.filter(slug="admin-made").exists()
    actions = list(
        AuditEvent.objects.filter(object_id=str(made.pk), action__startswith="system.").values_list("action", flat=True)
    )
    assert sorted(actions) == ["system.create", "system.delete", "system.transfer", "system.update"]
