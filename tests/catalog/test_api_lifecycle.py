"""API lifecycle (issue 15): deprecation with a sunset date and a successor, the gateway's
Deprecation/Sunset/Link headers, 403 api_sunset after the sunset, and the consumer notices
(observed callers in the real Neo4j ∪ key holders), each sent once."""

from datetime import timedelta
from email.utils import formatdate

import pytest
from django.utils import timezone

from catalog import gateway, services
from catalog.models import Api
from changes.lifecycle import sunset_notices
from changes.models import Delivery, Event, Webhook
from teams.models import Team


@pytest.fixture
def setup(world):
    root = world["root"]
    provider = services.service_create(actor=root, team=world["team"], slug="orders", name="Orders")
    v1 = services.api_create(actor=root, provider=provider, slug="orders-v1", name="Orders v1", base_path="/orders/")
    v2 = services.api_create(actor=root, provider=provider, slug="orders-v2", name="Orders v2", base_path="/v2/orders/")
    web = services.service_create(actor=root, team=world["other_team"], slug="web", name="Web")
    _, secret = services.key_issue(actor=world["lead"], api=v1, consumer=web, name="k")
    return {**world, "provider": provider, "v1": v1, "v2": v2, "web": web, "secret": secret}


def check(secret, now=None):
    return gateway.key_verify(
        raw_key=secret, target_api="orders-v1", client_ip="192.0.2.9", method="GET", path="/", now=now
    )


def test_deprecated_api_answers_with_the_headers_then_refuses_after_sunset(setup, django_capture_on_commit_callbacks):
    assert check(setup["secret"]).headers == ()
    sunset = (timezone.now() + timedelta(days=10)).replace(microsecond=0)
    with django_capture_on_commit_callbacks(execute=True):
        api = services.api_deprecate(actor=setup["lead"], api=setup["v1"], sunset_at=sunset, successor=setup["v2"])
    ok = check(setup["secret"])
    assert ok.status == 200
    assert dict(ok.headers) == {
        "Deprecation": f"@{int(api.deprecated_at.timestamp())}",
        "Sunset": formatdate(sunset.timestamp(), usegmt=True),
        "Link": '</v2/orders/>; rel="successor-version"',
    }
    after = check(setup["secret"], now=sunset.timestamp())
    assert (after.status, after.code) == (403, "api_sunset") and "orders-v2" in after.detail
    later = sunset + timedelta(days=30)
    with django_capture_on_commit_callbacks(execute=True):  # the provider extends the date
        services.api_deprecate(actor=setup["lead"], api=setup["v1"], sunset_at=later, successor=setup["v2"])
    assert check(setup["secret"], now=sunset.timestamp()).status == 200
    assert check(setup["secret"], now=later.timestamp() + 1).code == "api_sunset"


def test_rest_deprecation_permissions_validation_and_withdrawal(setup, api, client, django_capture_on_commit_callbacks):
    url = "/api/v1/apis/orders-v1/deprecation/"
    sunset = (timezone.now() + timedelta(days=3)).isoformat()
    refused = api(setup["other"]).post(url, {"sunset_at": sunset}, format="json")  # the consumer's lead
    assert refused.status_code == 403 and Api.objects.get(slug="orders-v1").deprecated_at is None
    past = api(setup["lead"]).post(url, {"sunset_at": "2001-01-01T00:00:00Z"}, format="json")
    assert past.status_code == 400 and "sunset_at" in past.json()["fields"]
    itself = api(setup["lead"]).post(url, {"sunset_at": sunset, "successor": "orders-v1"}, format="json")
    assert itself.status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        done = api(setup["lead"]).post(url, {"sunset_at": sunset, "successor": "orders-v2"}, format="json")
    assert done.status_code == 200, done.content
    assert done.json()["successor"] == "orders-v2" and done.json()["deprecated_at"]
    verified = client.get("/gateway/verify", HTTP_X_API_KEY=setup["secret"], HTTP_X_TARGET_API="orders-v1")
    assert (
        verified.status_code == 200 and verified["Deprecation"].startswith("@") and verified["Sunset"].endswith("GMT")
    )
    assert verified["Link"] == '</v2/orders/>; rel="successor-version"'
    with django_capture_on_commit_callbacks(execute=True):
        withdrawn = api(setup["lead"]).delete(url)
    assert withdrawn.status_code == 200 and withdrawn.json()["sunset_at"] is None
    assert api(setup["lead"]).delete(url).json()["code"] == "not_deprecated"
    plain = client.get("/gateway/verify", HTTP_X_API_KEY=setup["secret"], HTTP_X_TARGET_API="orders-v1")
    assert plain.status_code == 200 and not plain.has_header("Deprecation")


def test_sunset_refusal_through_the_view(setup, client):
    Api.objects.filter(pk=setup["v1"].pk).update(
        deprecated_at=timezone.now() - timedelta(days=40), sunset_at=timezone.now() - timedelta(seconds=1)
    )
    gateway.key_cache_forget(gateway.keys.parse(setup["secret"])[0])
    refused = client.get("/gateway/verify", HTTP_X_API_KEY=setup["secret"], HTTP_X_TARGET_API="orders-v1")
    assert refused.status_code == 403 and refused.json()["code"] == "api_sunset"
    assert refused["X-Auth-Error"] == "api_sunset" and refused["Sunset"].endswith("GMT")


def _graph_caller(world):
    """'batch' (team gamma) is seen calling 'orders' in Neo4j; it holds no key."""
    from graph import services as graph_services
    from graph.discovery.matching import Target
    from graph.discovery.sources import Observation, ObservedEdge

    gamma = Team.objects.create(org=world["org"], slug="gamma", name="Gamma")
    services.service_create(actor=world["root"], team=gamma, slug="batch", name="Batch")
    graph_services.graph_sync()
    graph_services.edges_merge(
        [
            Observation(
                target="batch",
                source="prometheus",
                service_slug="batch",
                ok=True,
                edges=[ObservedEdge("batch", Target("service", "orders"), 10, 0)],
            )
        ],
        crawl_id=1,
    )
    return gamma


def _by_team(type_):
    return sorted(Event.objects.filter(type=type_).values_list("team_id", flat=True))


def test_consumers_get_each_notice_once(setup, graph):
    world = setup
    gamma = _graph_caller(world)
    hook = Webhook.objects.create(
        name="gamma", url="http://10.0.0.9/hook", team=gamma, types=["api.deprecated", "api.sunset"], secret="s"
    )
    sunset = timezone.now() + timedelta(days=45)
    services.api_deprecate(actor=setup["lead"], api=setup["v1"], sunset_at=sunset, successor=setup["v2"])
    teams = sorted([world["team"].pk, world["other_team"].pk, gamma.pk])
    assert _by_team("api.deprecated") == teams  # the provider, the key holder, the observed caller
    for event in Event.objects.filter(type="api.deprecated"):
        assert event.payload["consumer_teams"] == sorted([world["other_team"].slug, "gamma"])
        assert event.payload["consumer_services"] == ["batch", "web"] and event.payload["callers_observed"]
        assert event.payload["successor"] == "orders-v2" and event.subject["name"] == "orders-v1"
    gamma_event = Event.objects.get(type="api.deprecated", team_id=gamma.pk)
    assert gamma_event.payload["team_services"] == ["batch"]
    assert Delivery.objects.filter(webhook=hook, event=gamma_event).count() == 1  # the team's webhook gets it

    assert sunset_notices(now=sunset - timedelta(days=31)) == {"api.sunset_approaching": 0, "api.sunset": 0}
    for mark in (30, 7, 1):
        at = sunset - timedelta(days=mark) + timedelta(minutes=1)
        assert sunset_notices(now=at)["api.sunset_approaching"] == 3
        assert sunset_notices(now=at + timedelta(hours=1))["api.sunset_approaching"] == 0  # once
    marks = Event.objects.filter(type="api.sunset_approaching", team_id=gamma.pk).values_list("payload", flat=True)
    assert sorted(p["mark_days"] for p in marks) == [1, 7, 30]
    assert sunset_notices(now=sunset + timedelta(seconds=1)) == {"api.sunset_approaching": 0, "api.sunset": 3}
    assert sunset_notices(now=sunset + timedelta(days=2)) == {"api.sunset_approaching": 0, "api.sunset": 0}
    assert _by_team("api.sunset") == teams
    assert Delivery.objects.filter(webhook=hook, event__type="api.sunset").count() == 1
    assert not Delivery.objects.filter(webhook=hook, event__type="api.sunset_approaching").exists()  # not subscribed


def test_a_late_announcement_sends_only_the_nearest_mark_and_an_extension_starts_over(setup):
    sunset = timezone.now() + timedelta(days=5)
    services.api_deprecate(actor=setup["lead"], api=setup["v1"], sunset_at=sunset)
    assert sunset_notices(now=timezone.now())["api.sunset_approaching"] == 2  # mark 7 only: provider + web's team
    assert {e.payload["mark_days"] for e in Event.objects.filter(type="api.sunset_approaching")} == {7}
    assert sunset_notices(now=timezone.now())["api.sunset_approaching"] == 0
    extended = sunset + timedelta(days=1)
    services.api_deprecate(actor=setup["lead"], api=setup["v1"], sunset_at=extended)
    assert Event.objects.filter(type="api.deprecated").count() == 4  # announced again, with the new date
    assert sunset_notices(now=timezone.now())["api.sunset_approaching"] == 2  # mark 7 of the new date


def test_api_page_and_consumer_service_page_show_the_deprecation(setup, client):
    client.force_login(setup["lead"])
    assert "Deprecate this API" in client.get("/apis/orders-v1/").content.decode()
    posted = client.post("/apis/orders-v1/deprecation/", {"sunset_at": "2999-01-01T00:00", "successor": "orders-v2"})
    assert posted.status_code == 302
    api = Api.objects.get(slug="orders-v1")
    assert api.sunset_at.year == 2999 and api.successor.slug == "orders-v2"
    page = client.get("/apis/orders-v1/").content.decode()
    assert 'id="api-lifecycle"' in page and "2999-01-01" in page and "orders-v2" in page
    consumer_page = client.get("/services/web/").content.decode()
    assert 'id="deprecated-apis"' in consumer_page and "orders-v1" in consumer_page and "move to" in consumer_page
    assert 'id="deprecated-apis"' not in client.get("/services/orders/").content.decode()
    assert client.post("/apis/orders-v1/deprecation/withdraw/").status_code == 302
    assert Api.objects.get(slug="orders-v1").deprecated_at is None
    assert 'id="deprecated-apis"' not in client.get("/services/web/").content.decode()


def test_graphql_deprecates_and_withdraws(setup, client):
    client.force_login(setup["lead"])

    def gql(query):
        return client.post("/graphql", {"query": query}, content_type="application/json").json()

    done = gql(
        'mutation { deprecateApi(slug: "orders-v1", sunsetAt: "2999-01-01T00:00:00Z", successor: "orders-v2") '
        "{ api { sunsetAt successor { slug } } } }"
    )
    assert done["data"]["deprecateApi"]["api"]["successor"]["slug"] == "orders-v2"
    assert done["data"]["deprecateApi"]["api"]["sunsetAt"].startswith("2999-01-01")
    client.force_login(setup["other"])  # the consumer's lead: not the provider's team
    refused = gql('mutation { withdrawApiDeprecation(slug: "orders-v1") { api { slug } } }')
    assert refused["errors"] and Api.objects.get(slug="orders-v1").deprecated_at is not None
    client.force_login(setup["lead"])
    gql('mutation { withdrawApiDeprecation(slug: "orders-v1") { api { slug } } }')
    assert Api.objects.get(slug="orders-v1").deprecated_at is None


def test_a_consumer_whose_key_expired_no_longer_sees_the_deprecation(setup, client):
    """The consumer's page lists deprecated APIs it declares or holds a usable key for; an
    expired key is not one (ApiKey.state_of's rule)."""
    client.force_login(setup["lead"])
    assert client.post("/apis/orders-v1/deprecation/", {"sunset_at": "2999-01-01T00:00"}).status_code == 302
    assert "orders-v1" in client.get("/services/web/").content.decode()
    setup["v1"].keys.update(expires_at=timezone.now() - timedelta(minutes=1))
    assert 'id="deprecated-apis"' not in client.get("/services/web/").content.decode()
