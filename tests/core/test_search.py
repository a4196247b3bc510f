"""The catalog's text search is one rule (core/search.py): slug or name contains the text,
ignoring case (service lists also read descriptions), the same in REST, GraphQL and the portal."""

import json

from rest_framework.authtoken.models import Token

from catalog import selectors
from catalog import services as catalog_services
from core.search import contains
from teams.models import Team


def test_slug_or_name_contains_everywhere(world, api, client):
    root = world["root"]
    pay = catalog_services.service_create(actor=root, team=world["team"], slug="payments", name="Payments")
    catalog_services.service_create(
        actor=root, team=world["team"], slug="ledger", name="Ledger", description="books every PAYment"
    )
    catalog_services.api_create(actor=root, provider=pay, slug="pay-v1", name="Pay API")
    rest = api(world["reader"])

    def slugs(url):
        return sorted(row["slug"] for row in rest.get(url).json()["results"])

    assert slugs("/api/v1/teams/?q=ALP") == ["alpha"]  # slug, any case
    assert slugs("/api/v1/teams/?q=bet") == ["beta"]
    assert slugs("/api/v1/apis/?q=pay%20api") == ["pay-v1"]  # name
    assert slugs("/api/v1/services/?q=pay") == ["ledger", "payments"]  # service lists read descriptions too
    assert [t.slug for t in contains(Team.objects.order_by("slug"), "")] == ["alpha", "beta"]  # no text: all

    token = Token.objects.create(user=world["reader"]).key
    body = client.post(
        "/graphql",
        json.dumps(
            {"query": '{ services(first: 10, q: "PAY") { edges { node { slug } } } search(q: "PAY") { kind slug } }'}
        ),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token}",
    ).json()
    assert "errors" not in body, body
    assert sorted(e["node"]["slug"] for e in body["data"]["services"]["edges"]) == ["ledger", "payments"]
    # the portal's quick search: slug or name only
    assert body["data"]["search"] == [{"kind": "service", "slug": "payments"}, {"kind": "api", "slug": "pay-v1"}]
    assert [h["slug"] for h in selectors.catalog_search(q="pay")] == ["payments", "pay-v1"]
