"""Breaking-change check (issue 15): a new OpenAPI document that breaks the old one's clients
without a new major version is refused with 409 ``breaking_change`` (REST, GraphQL, portal,
admin, catalog import: all through catalog.services.api_update) unless confirmed; a confirmed
one tells every consumer team (observed caller in the real Neo4j, key holder, declared consumer)."""

import copy
import json

import pytest

from catalog import selectors, services
from catalog.models import Api
from changes.models import Event
from core.models import AuditEvent
from teams.models import Team
from tests.catalog.test_api_lifecycle import _graph_caller


def spec(version="1.0.0") -> dict:
    return {
        "openapi": "3.0.3",
        "info": {"title": "orders", "version": version},
        "paths": {
            "/orders": {
                "get": {
                    "parameters": [
                        {"name": "status", "in": "query", "schema": {"type": "string", "enum": ["open", "shipped"]}}
                    ],
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Order"}}},
                        }
                    },
                }
            },
            "/orders/{id}": {
                "delete": {
                    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"204": {"description": "gone"}},
                }
            },
        },
        "components": {
            "schemas": {
                "Order": {"type": "object", "properties": {"id": {"type": "string"}, "total": {"type": "number"}}}
            }
        },
    }


def breaking(version="1.0.0") -> dict:
    doc = spec(version)
    del doc["paths"]["/orders/{id}"]  # path removed
    del doc["components"]["schemas"]["Order"]["properties"]["total"]  # response field removed
    return doc


def harmless() -> dict:
    doc = spec("1.1.0")
    doc["paths"]["/orders"]["get"]["parameters"].append({"name": "q", "in": "query", "schema": {"type": "string"}})
    doc["paths"]["/orders"]["get"]["parameters"][0]["schema"]["enum"].append("cancelled")
    doc["components"]["schemas"]["Order"]["properties"]["note"] = {"type": "string"}
    doc["paths"]["/customers"] = {"get": {"responses": {"200": {"description": "ok"}}}}
    return doc


@pytest.fixture
def setup(world):
    root = world["root"]
    provider = services.service_create(actor=root, team=world["team"], slug="orders", name="Orders")
    v1 = services.api_create(
        actor=root, provider=provider, slug="orders-v1", name="Orders", version="1.0.0", spec=spec(), base_path="/o/"
    )
    web = services.service_create(actor=root, team=world["other_team"], slug="web", name="Web")
    services.key_issue(actor=world["lead"], api=v1, consumer=web, name="k")
    return {**world, "provider": provider, "v1": v1, "web": web}


def stored(slug="orders-v1") -> Api:
    return Api.objects.get(slug=slug)


def test_service_refuses_breaking_and_writes_nothing(setup):
    with pytest.raises(services.Conflict) as refused:
        services.api_update(actor=setup["lead"], api=setup["v1"], spec=breaking(), name="Renamed")
    exc = refused.value
    assert exc.status == 409 and exc.code == "breaking_change"
    assert sorted(c["kind"] for c in exc.extra["changes"]) == ["path_removed", "response_field_removed"]
    assert {c["location"] for c in exc.extra["changes"]} == {
        "/paths/~1orders~1{id}",
        "/paths/~1orders/get/responses/200/content/application~1json/schema/properties/total",
    }
    assert "Path /orders/{id} was removed." in exc.detail
    api = stored()
    assert api.spec == spec() and api.name == "Orders"  # nothing half-written
    assert not AuditEvent.objects.filter(action__in=["api.update", "api.breaking_change"]).exists()
    assert not Event.objects.filter(type="api.breaking_change").exists()


def test_non_breaking_changes_pass(setup):
    services.api_update(actor=setup["lead"], api=setup["v1"], spec=harmless())
    assert stored().spec == harmless()
    assert not AuditEvent.objects.filter(action="api.breaking_change").exists()


@pytest.mark.parametrize("field", ["version", "info.version"])
def test_a_new_major_version_may_break(setup, field):
    fields = {"version": "2.0.0", "spec": breaking()} if field == "version" else {"spec": breaking("2.0.0")}
    services.api_update(actor=setup["lead"], api=setup["v1"], **fields)
    assert "/orders/{id}" not in stored().spec["paths"]
    assert not Event.objects.filter(type="api.breaking_change").exists()


def test_a_minor_bump_or_other_fields_do_not_count_as_major(setup):
    with pytest.raises(services.Conflict):
        services.api_update(actor=setup["lead"], api=setup["v1"], version="1.9.0", spec=breaking("1.9.0"))
    services.api_update(actor=setup["lead"], api=setup["v1"], name="Orders API")  # no spec: no check
    assert stored().name == "Orders API"


def test_confirmed_breaking_change_tells_every_consumer_team(setup, graph):
    """Consumers: gamma's 'batch' seen calling 'orders' in Neo4j, beta's 'web' holding a key,
    delta's 'shop' declaring it consumes the API."""
    world = setup
    gamma = _graph_caller(world)
    delta = Team.objects.create(org=world["org"], slug="delta", name="Delta")
    shop = services.service_create(actor=world["root"], team=delta, slug="shop", name="Shop")
    services.service_consumes_set(actor=world["root"], service=shop, apis=[setup["v1"]])
    Event.objects.all().delete()

    services.api_update(actor=world["lead"], api=setup["v1"], spec=breaking(), confirm_breaking=True)
    assert "/orders/{id}" not in stored().spec["paths"]
    events = Event.objects.filter(type="api.breaking_change")
    assert sorted(events.values_list("team_id", flat=True)) == sorted(
        [world["team"].pk, world["other_team"].pk, gamma.pk, delta.pk]
    )
    for event in events:
        assert event.payload["consumer_teams"] == ["beta", "delta", "gamma"]
        assert event.payload["consumer_services"] == ["batch", "shop", "web"]
        assert event.payload["callers_observed"] and event.payload["actor"] == "lead"
        assert sorted(c["kind"] for c in event.payload["changes"]) == ["path_removed", "response_field_removed"]
        assert event.subject["name"] == "orders-v1"
    assert events.get(team_id=gamma.pk).payload["team_services"] == ["batch"]
    assert events.get(team_id=world["team"].pk).payload["recipient"] == "provider"
    assert Event.objects.filter(type="api.updated").count() == 1  # the update itself, as before


def test_rest_409_then_confirm(setup, api):
    url = "/api/v1/apis/orders-v1/"
    refused = api(setup["lead"]).patch(url, {"spec": breaking()}, format="json")
    assert refused.status_code == 409, refused.content
    body = refused.json()
    assert body["code"] == "breaking_change" and body["truncated"] is False
    assert sorted(c["kind"] for c in body["changes"]) == ["path_removed", "response_field_removed"]
    assert all(set(c) == {"kind", "location", "message"} for c in body["changes"])
    assert stored().spec == spec()
    consumer = api(setup["other"]).patch(url, {"spec": breaking(), "confirm_breaking": True}, format="json")
    assert consumer.status_code == 403  # the consumer's lead may not confirm it
    done = api(setup["lead"]).patch(url, {"spec": breaking(), "confirm_breaking": True}, format="json")
    assert done.status_code == 200, done.content
    assert "confirm_breaking" not in done.json()
    assert "/orders/{id}" not in stored().spec["paths"]
    assert Event.objects.filter(type="api.breaking_change").count() == 2  # provider and key holder
    bumped = breaking("2.0.0")
    del bumped["paths"]["/orders"]
    assert api(setup["lead"]).patch(url, {"spec": bumped}, format="json").status_code == 200  # a new major


def test_graphql_refuses_then_confirms(setup, client):
    client.force_login(setup["lead"])
    query = (
        'mutation($spec: JSONString, $confirm: Boolean) { updateApi(slug: "orders-v1", spec: $spec, '
        "confirmBreaking: $confirm) { api { slug version } } }"
    )

    def gql(**variables):
        body = {"query": query, "variables": {"spec": json.dumps(breaking()), **variables}}
        return client.post("/graphql", body, content_type="application/json").json()

    refused = gql()
    ext = refused["errors"][0]["extensions"]
    assert ext["code"] == "breaking_change" and len(ext["changes"]) == 2
    assert refused["data"]["updateApi"] is None and stored().spec == spec()
    done = gql(confirm=True)
    assert "errors" not in done, done
    assert done["data"]["updateApi"]["api"]["slug"] == "orders-v1"
    assert "/orders/{id}" not in stored().spec["paths"]
    assert Event.objects.filter(type="api.breaking_change").exists()


def _form(**overrides):
    data = {
        "name": "Orders",
        "kind": "openapi",
        "version": "1.0.0",
        "base_path": "/o/",
        "lifecycle": "production",
        "spec": json.dumps(breaking()),
    }
    return {**data, **overrides}


def test_portal_form_shows_the_changes_and_a_confirm_box(setup, client):
    client.force_login(setup["lead"])
    page = client.get("/apis/orders-v1/edit/")
    assert page.status_code == 200 and "confirm_breaking" not in page.content.decode()
    refused = client.post("/apis/orders-v1/edit/", _form())
    html = refused.content.decode()
    assert refused.status_code == 409
    assert 'name="confirm_breaking"' in html and "Publish the breaking change" in html
    assert "Path /orders/{id} was removed." in html and "response_field_removed" in html
    assert stored().spec == spec()
    again = client.post("/apis/orders-v1/edit/", _form())  # the box not ticked: refused again
    assert again.status_code == 409
    done = client.post("/apis/orders-v1/edit/", _form(confirm_breaking="on"))
    assert done.status_code == 302 and done["Location"] == "/apis/orders-v1/"
    assert "/orders/{id}" not in stored().spec["paths"]
    assert Event.objects.filter(type="api.breaking_change").count() == 2
    harmless_edit = client.post("/apis/orders-v1/edit/", _form(spec=json.dumps(breaking()), name="Orders 2"))
    assert harmless_edit.status_code == 302 and stored().name == "Orders 2"


def test_portal_form_other_refusals_are_not_breaking_refusals(setup, client):
    client.force_login(setup["lead"])
    bad = client.post("/apis/orders-v1/edit/", _form(spec='{"openapi": "3.0.3"}'))
    assert bad.status_code == 400 and "confirm_breaking" not in bad.content.decode()
    client.force_login(setup["other"])
    assert client.post("/apis/orders-v1/edit/", _form(confirm_breaking="on")).status_code == 400
    assert stored().spec == spec()


def test_admin_refuses_then_confirms(setup, client):
    client.force_login(setup["root"])
    url = f"/admin/catalog/api/{setup['v1'].pk}/change/"
    data = _form(slo_availability="", slo_p99_ms="")
    refused = client.post(url, data, follow=True)
    assert "breaks its clients" in refused.content.decode() and stored().spec == spec()
    done = client.post(url, {**data, "confirm_breaking": "on"})
    assert done.status_code == 302
    assert "/orders/{id}" not in stored().spec["paths"]


def test_diff_of_a_ref_heavy_stored_spec(setup):
    """Specs as stored (validated, $ref-heavy): a shared schema changed once is listed once."""
    doc = spec()
    schemas = doc["components"]["schemas"]
    schemas["Line"] = {"type": "object", "properties": {"sku": {"type": "string"}, "qty": {"type": "integer"}}}
    schemas["Order"]["properties"]["lines"] = {"type": "array", "items": {"$ref": "#/components/schemas/Line"}}
    schemas["Order"]["properties"]["parent"] = {"$ref": "#/components/schemas/Order"}  # a cycle
    services.api_update(actor=setup["lead"], api=setup["v1"], spec=doc)
    new = copy.deepcopy(doc)
    new["components"]["schemas"]["Line"]["properties"]["qty"] = {"type": "string"}
    with pytest.raises(services.Conflict) as refused:
        services.api_update(actor=setup["lead"], api=setup["v1"], spec=new)
    changes = refused.value.extra["changes"]
    assert [c["kind"] for c in changes] == ["response_field_retyped"]
    assert changes[0]["location"].endswith("/schema/properties/lines/items/properties/qty")


def test_catalog_import_refuses_a_breaking_spec_all_or_nothing(world, tmp_path):
    """A descriptor carries no confirmation: validating names the breaking change at the API's
    file and line, the import fails and writes nothing; the same change under a new major
    info.version is imported."""
    import shutil
    from pathlib import Path

    from catalog.models import Service

    src = Path(__file__).parent / "descriptors" / "acme"
    shutil.copytree(src, tmp_path / "acme")
    path = tmp_path / "acme" / "catalog-info.yaml"

    def load():
        return services.location_import(
            actor=world["root"], target=str(path), content=path.read_bytes(), base_dir=path.parent
        )

    load()
    api = Api.objects.get(spec__info__title="Payments")
    assert "/charges" in api.spec["paths"]
    definition = tmp_path / "acme" / "apis" / "payments.yaml"
    original = definition.read_text()
    definition.write_text(original.replace("/charges:", "/payments:"))
    names = sorted(Service.objects.values_list("name", flat=True))
    plan = selectors.catalog_plan(files=[(str(path), path.read_bytes(), path.parent)])
    breaking = [p for p in plan.problems if "breaks its clients" in p.message]
    assert len(breaking) == 1 and breaking[0].field == "spec.definition" and breaking[0].line > 0
    assert "/charges" in breaking[0].message and "Raise the major version" in breaking[0].message
    with pytest.raises(services.DescriptorsInvalid) as refused:
        load()
    assert any("breaks its clients" in e["message"] for e in refused.value.extra["errors"])
    assert "/charges" in Api.objects.get(pk=api.pk).spec["paths"]
    assert sorted(Service.objects.values_list("name", flat=True)) == names
    definition.write_text(original.replace("/charges:", "/payments:").replace('version: "2.1"', 'version: "3.0"'))
    load()
    assert "/payments" in Api.objects.get(pk=api.pk).spec["paths"]


def test_the_api_page_links_its_edit_form_for_the_providers_team_only(client, django_user_model, root):
    from catalog import services as catalog_services
    from teams import services as team_services

    org = team_services.org_create(actor=root, slug="edit-org", name="Edit org")
    team = team_services.team_create(actor=root, org=org, slug="edit-team", name="Edit team")
    provider = catalog_services.service_create(actor=root, team=team, slug="edit-svc", name="Edit svc")
    catalog_services.api_create(actor=root, provider=provider, slug="edit-api", name="Edit API")
    member = django_user_model.objects.create_user("edit-member", password="pw-12345678")
    team_services.member_add(actor=root, team=team, user=member)
    reader = django_user_model.objects.create_user("edit-reader", password="pw-12345678")
    client.force_login(member)
    assert 'href="/apis/edit-api/edit/"' in client.get("/apis/edit-api/").content.decode()
    client.force_login(reader)
    assert 'href="/apis/edit-api/edit/"' not in client.get("/apis/edit-api/").content.decode()
