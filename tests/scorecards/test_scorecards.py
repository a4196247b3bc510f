"""Scorecards on a fleet whose truths are set: real Neo4j (edges written as a crawl writes them)
and the real database; Celery tasks run in-process (eager) where the incremental path is tested."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from catalog.models import Api, ApiKey, Service
from changes.models import Event
from graph import cypher, db
from graph.services import graph_sync
from scorecards import selectors, services
from scorecards.models import Scorecard, ScorecardResult, ScorecardSnapshot
from teams.models import Team

DAY_MS = 86_400_000

DEFINITION = """\
slug: readiness
name: Readiness
levels: [Bronze, Silver, Gold]
checks:
  - type: has_owner_oncall
    level: Bronze
  - type: seen_recently
    level: Bronze
    params: {days: 30}
  - type: no_undeclared_dependencies
    level: Silver
  - type: no_deprecated_calls
    level: Silver
  - type: no_lower_tier_dependency
    level: Silver
  - type: inbound_error_rate_below
    level: Gold
    params: {threshold: 0.01}
  - type: p95_latency_below
    level: Gold
    params: {threshold_ms: 500}
  - type: valid_api_specs
    level: Gold
"""

SPEC = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {}}


def _edges(rows, now_ms):
    db.write_batches(
        cypher.MERGE_SERVICE_EDGES,
        [
            {
                "src": a,
                "dst": b,
                "source": "prometheus",
                "props": {"calls": 100.0, "errors": err * 100, "rate_per_min": 10.0, "error_rate": err, "p95_ms": p95},
            }
            for a, b, err, p95 in rows
        ],
        now=now_ms,
        crawl_id=1,
        report_max=0,
    )


@pytest.fixture
def fleet(world, graph):
    """front (tier 1) calls core (declared) and legacy (tier 3, undeclared); billing declares the
    deprecated legacy-api and calls core; zombie was last seen 40 days ago; legacy's team has no
    on-call contact; core's inbound edges fail 5 % at p95 800 ms."""
    alpha, beta = world["team"], world["other_team"]
    now = timezone.now()
    svc = {}
    for slug, team, tier in [
        ("front", alpha, 1),
        ("core", alpha, 1),
        ("billing", alpha, 2),
        ("zombie", alpha, 3),
        ("legacy", beta, 3),
    ]:
        svc[slug] = Service.objects.create(team=team, slug=slug, name=slug, tier=tier)
    core_api = Api.objects.create(provider=svc["core"], slug="core-api", name="Core", spec=SPEC)
    legacy_api = Api.objects.create(
        provider=svc["legacy"],
        slug="legacy-api",
        name="Legacy",
        deprecated_at=now - timedelta(days=10),
        sunset_at=now - timedelta(days=1),
    )
    svc["front"].consumes.add(core_api)
    svc["billing"].consumes.add(core_api, legacy_api)
    graph_sync()
    now_ms = int(now.timestamp() * 1000)
    _edges([("front", "core", 0.05, 800.0), ("front", "legacy", 0.0, 20.0), ("billing", "core", 0.05, 800.0)], now_ms)
    _edges([("zombie", "core", 0.0, 10.0)], now_ms - 40 * DAY_MS)
    # Aging as a crawl does it: the zombie's edge is stale (not live traffic any more).
    db.write(cypher.MARK_STALE, stale_before=now_ms - DAY_MS, ok_services=["zombie"], ok_sources=[], report_max=0)
    services.scorecards_load(actor=None, text=DEFINITION, file="readiness.yaml", recompute=False)
    return {"svc": svc, "now": now, "world": world, "legacy_api": legacy_api, "core_api": core_api}


def _result(slug, card="readiness"):
    r = ScorecardResult.objects.get(scorecard__slug=card, service__slug=slug)
    return r, {c["key"]: c for c in r.checks}


def test_each_check_and_level_on_the_fleet(fleet):
    stats = services.recompute(now=fleet["now"])
    assert stats["services"] == 5 and stats["dropped"] == 0

    front, c = _result("front")
    assert front.level == "Bronze" and front.level_index == 1
    assert not c["no_undeclared_dependencies"]["passed"]
    assert "legacy" in c["no_undeclared_dependencies"]["reason"]
    assert not c["no_lower_tier_dependency"]["passed"]
    assert (
        c["no_lower_tier_dependency"]["reason"] == "Tier 1 service calls 1 less critical service(s): legacy (tier 3)."
    )
    assert c["has_owner_oncall"]["passed"] and c["seen_recently"]["passed"]

    core, c = _result("core")
    assert core.level == "Silver"
    assert not c["inbound_error_rate_below"]["passed"]
    assert "5.00%" in c["inbound_error_rate_below"]["reason"] and "1.00%" in c["inbound_error_rate_below"]["reason"]
    assert c["p95_latency_below"]["reason"] == "Worst inbound p95 800.0 ms is not below 500 ms."
    assert c["valid_api_specs"]["passed"]

    billing, c = _result("billing")
    assert billing.level == "Bronze"
    assert not c["no_deprecated_calls"]["passed"]
    assert "legacy-api" in c["no_deprecated_calls"]["reason"] and "past sunset" in c["no_deprecated_calls"]["reason"]
    assert c["no_undeclared_dependencies"]["passed"]

    zombie, c = _result("zombie")
    assert zombie.level == "" and zombie.level_index == 0
    assert not c["seen_recently"]["passed"]
    assert "Not seen in telemetry in 30 days (last seen 40.0 days ago)" in c["seen_recently"]["reason"]

    legacy, c = _result("legacy")
    assert legacy.level_index == 0
    assert c["has_owner_oncall"]["reason"] == "Team beta has no on-call contact."
    assert not c["valid_api_specs"]["passed"] and "legacy-api" in c["valid_api_specs"]["reason"]

    # Roll-ups and today's snapshot: alpha has front, core, billing, zombie.
    card = selectors.scorecard_get(slug="readiness")
    teams = {r["key"]: r["counts"] for r in selectors.rollup(scorecard=card, by="team")}
    assert teams == {"alpha": [1, 2, 1, 0], "beta": [1, 0, 0, 0]}
    snap = ScorecardSnapshot.objects.get(scorecard=card, scope="team", key="alpha")
    assert snap.counts == [1, 2, 1, 0]
    assert ScorecardSnapshot.objects.get(scorecard=card, scope="org", key="acme").counts == [2, 2, 1, 0]


def test_other_checks_reasons(fleet):
    world, now = fleet["world"], fleet["now"]
    text = """\
slug: hygiene
name: Hygiene
levels: [Pass]
checks:
  - {type: no_stale_declarations}
  - {type: keys_rotated_within, params: {days: 90}}
  - {type: no_unused_keys, params: {days: 30}}
  - {type: team_within_limits}
  - {type: inbound_error_rate_below, key: errors-24h, params: {threshold: 0.5, window: 24h}}
"""
    services.scorecards_load(actor=None, text=text, recompute=False)
    key = ApiKey.objects.create(api=fleet["core_api"], consumer=fleet["svc"]["front"], name="k", key_id="abcd1234")
    ApiKey.objects.filter(pk=key.pk).update(created_at=now - timedelta(days=100))
    Team.objects.filter(pk=world["team"].pk).update(max_services=2)  # alpha has 4 services
    services.recompute(now=now, scorecards=["hygiene"])
    _, c = _result("billing", "hygiene")
    assert c["no_stale_declarations"]["reason"] == "Declares 1 dependency(ies) never observed: legacy."
    assert c["team_within_limits"]["reason"] == "Team alpha has 4 of at most 2 services and 2 of at most 10 members."
    _, c = _result("front", "hygiene")
    assert c["keys_rotated_within"]["reason"] == "1 of 1 active keys are older than 90 days: abcd1234 (core-api)."
    assert not c["no_unused_keys"]["passed"]
    assert c["no_stale_declarations"]["passed"]
    _, c = _result("core", "hygiene")
    assert c["errors-24h"]["reason"] == "No inbound calls observed over 24h."  # no edge history written
    _, c = _result("legacy", "hygiene")
    assert c["team_within_limits"]["passed"] and c["keys_rotated_within"]["passed"]


def test_level_dropped_event_once_and_incremental_recompute(fleet, eager, django_capture_on_commit_callbacks):
    from teams.services import team_update

    world = fleet["world"]
    services.recompute(now=fleet["now"])
    before = {r.service.slug: r.computed_at for r in ScorecardResult.objects.select_related("service")}
    # The lead removes alpha's on-call contact: the change is announced after commit, the task
    # (eager) recomputes alpha's services (and not beta's legacy), and each that fell gets one event.
    with django_capture_on_commit_callbacks(execute=True):
        team_update(actor=world["lead"], team=world["team"], oncall_contact="")
    front, c = _result("front")
    assert front.level_index == 0 and not c["has_owner_oncall"]["passed"]
    after = {r.service.slug: r.computed_at for r in ScorecardResult.objects.select_related("service")}
    assert after["legacy"] == before["legacy"]  # not affected, not recomputed
    assert after["front"] != before["front"]
    events = Event.objects.filter(type="scorecard.level_dropped")
    assert sorted(e.payload["service"] for e in events) == ["billing", "core", "front"]
    front_event = events.get(payload__service="front")
    assert front_event.payload["from_level"] == "Bronze" and front_event.payload["to_level"] == "none"
    assert front_event.team_id == world["team"].pk
    # Today's counts moved with the levels (the incremental run adjusts them, no full recount).
    card = selectors.scorecard_get(slug="readiness")
    assert ScorecardSnapshot.objects.get(scorecard=card, scope="team", key="alpha").counts == [4, 0, 0, 0]
    assert ScorecardSnapshot.objects.get(scorecard=card, scope="org", key="acme").counts == [5, 0, 0, 0]
    assert ScorecardSnapshot.objects.get(scorecard=card, scope="all", key="").counts == [5, 0, 0, 0]
    # Computing again changes nothing and announces nothing again.
    services.recompute()
    assert Event.objects.filter(type="scorecard.level_dropped").count() == 3


def test_edges_changed_recomputes_only_both_ends(fleet, eager):
    from graph.signals import EdgePair, edges_changed

    services.recompute(now=fleet["now"])
    before = dict(ScorecardResult.objects.values_list("service__slug", "computed_at"))
    _edges([("legacy", "billing", 0.0, 5.0)], int(timezone.now().timestamp() * 1000))
    edges_changed.send(sender="test", change="appeared", pairs=[EdgePair("legacy", "billing")], total=1, at_ms=0)
    after = dict(ScorecardResult.objects.values_list("service__slug", "computed_at"))
    assert {s for s in after if after[s] != before[s]} == {"legacy", "billing"}


def test_unchanged_results_are_kept_and_a_changed_reason_is_rewritten(fleet):
    now = fleet["now"]
    services.recompute(now=now)
    core_before, _ = _result("core")
    front_before, _ = _result("front")
    # front's calls to core now fail 2 % (billing's still 5 %): core's reason changes, not its level.
    _edges([("front", "core", 0.02, 800.0)], int(now.timestamp() * 1000))
    later = now + timedelta(minutes=5)
    services.recompute(services=["core", "front"], now=later)
    core, c = _result("core")
    assert core.level == "Silver" and core.pk != core_before.pk
    assert c["inbound_error_rate_below"]["reason"].startswith("Inbound error rate 3.50% now")
    front, _ = _result("front")
    assert front.pk == front_before.pk and front.computed_at == later  # kept, only its time moved


def test_recompute_waits_for_the_lock_of_another_run(fleet):
    from core.redis import client, key

    held = client().lock(key("scorecards:recompute"), timeout=30)
    assert held.acquire()
    try:
        assert services.recompute_locked(wait=0.2) is None  # the task retries later
        assert not ScorecardResult.objects.exists()
    finally:
        held.release()
    assert services.recompute_locked(wait=0.2)["services"] == 5


def test_filter_tier_and_disabled(fleet):
    services.scorecards_load(
        actor=None,
        text="slug: tier1\nname: T1\nfilter: {tier: [1]}\nlevels: [Ok]\nchecks: [{type: has_owner_oncall}]\n",
        recompute=False,
    )
    services.recompute(scorecards=["tier1"])
    assert sorted(ScorecardResult.objects.filter(scorecard__slug="tier1").values_list("service__slug", flat=True)) == [
        "core",
        "front",
    ]
    # A service that leaves the filter loses its result, in a full run and in an incremental one.
    Service.objects.filter(slug="front").update(tier=2)
    services.recompute(scorecards=["tier1"])
    assert set(ScorecardResult.objects.filter(scorecard__slug="tier1").values_list("service__slug", flat=True)) == {
        "core"
    }
    Service.objects.filter(slug="core").update(tier=3)
    services.recompute(services=["core"], scorecards=["tier1"])
    assert not ScorecardResult.objects.filter(scorecard__slug="tier1").exists()


# --- Definitions: errors with lines, hostile YAML ---------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    "check", ["{type: seen_recently, params: {days: .inf}}", "{type: p95_latency_below, params: {threshold_ms: .nan}}"]
)
def test_yaml_infinity_and_nan_are_not_numbers_a_check_takes(check):
    """Found by probing: days .inf overflowed (500) and a NaN threshold passed the bounds, then
    failed the database's JSON check (500)."""
    text = f"slug: x\nname: X\nlevels: [A]\nchecks:\n  - {check}\n"
    with pytest.raises(services.ScorecardInvalid) as exc:
        services.definitions_parse(text, file="cards.yaml")
    assert [(e["line"], e["field"]) for e in exc.value.extra["errors"]] == [(5, "checks[0].params")]
    assert "finite" in exc.value.detail


@pytest.mark.django_db
def test_yaml_errors_name_file_and_line():
    text = "slug: x\nname: X\nlevels: [A, B]\nchecks:\n  - type: nope\n  - type: seen_recently\n    level: C\n  - type: p95_latency_below\n    params: {threshold_ms: -1}\n"
    with pytest.raises(services.ScorecardInvalid) as exc:
        services.definitions_parse(text, file="cards.yaml")
    errors = exc.value.extra["errors"]
    assert exc.value.code == "scorecard_invalid"
    assert [(e["line"], e["field"]) for e in errors] == [
        (5, "checks[0].type"),
        (7, "checks[1].level"),
        (9, "checks[2].params"),
    ]
    assert "cards.yaml:5: checks[0].type: Unknown check type 'nope'" in exc.value.detail
    assert "'threshold_ms' must be at least 0" in errors[2]["message"]
    # Values of the wrong shape anywhere are problems with lines, never an exception.
    odd = "slug: x\nlevels: [[A]]\nfilter: {tier: [9], org: [1]}\nchecks:\n  - type: {a: 1}\n    params: [1]\n"
    with pytest.raises(services.ScorecardInvalid) as exc:
        services.definitions_parse(odd)
    assert {e["field"] for e in exc.value.extra["errors"]} >= {"levels", "filter.tier", "filter.org", "checks[0].type"}


@pytest.mark.django_db
def test_hostile_yaml_is_refused(settings):
    aliases = "a: &a [x, x, x]\nb: &b [*a, *a, *a]\nslug: x\nlevels: [A]\nchecks: [*b]\n"
    with pytest.raises(services.ScorecardInvalid) as exc:
        services.definitions_parse(aliases)
    assert "aliases" in exc.value.detail and exc.value.extra["errors"][0]["line"] == 2
    settings.CATALOG_MAX_BYTES = 1000
    with pytest.raises(services.ScorecardTooLarge) as exc:
        services.definitions_parse("slug: x\n" + "# pad\n" * 500)
    assert exc.value.status == 413 and exc.value.code == "scorecard_too_large"
    deep = "slug: x\nlevels: " + "[" * 100 + "]" * 100 + "\n"
    with pytest.raises(services.ScorecardInvalid) as exc:
        services.definitions_parse(deep)
    assert "Nested deeper" in exc.value.detail


def test_management_command_loads(fleet, tmp_path, capsys):
    path = tmp_path / "cards.yaml"
    path.write_text(DEFINITION.replace("readiness", "from-file"))
    call_command("scorecards_load", str(path), "--no-recompute")
    assert "from-file: 3 levels, 8 checks" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("slug: y\nlevels: [A]\nchecks:\n  - type: nope\n")
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="scorecard_invalid"):
        call_command("scorecards_load", str(bad))
    assert "bad.yaml:4: checks[0].type" in capsys.readouterr().err


# --- REST, GraphQL, portal ------------------------------------------------------------------------
def test_the_number_of_scorecards_is_bounded_per_org_and_in_all(world, api, settings):
    """Found by probing: one 2 MB file made 420 cards for one org, each recomputed over every
    service it covers, hourly and after every crawl."""
    settings.SCORECARDS_MAX_PER_ORG, settings.SCORECARDS_MAX = 2, 3
    card = "slug: {s}\nname: {s}\nfilter: {{org: acme}}\nlevels: [Ok]\nchecks: [{{type: has_owner_oncall}}]\n"
    three = "---\n".join(card.format(s=f"card-{i}") for i in range(3))
    refused = api(world["orgadmin"]).post("/api/v1/scorecards/", {"definition": three}, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "scorecard_limit"
    assert not Scorecard.objects.exists()  # the whole file, or nothing
    two = "---\n".join(card.format(s=f"card-{i}") for i in range(2))
    assert api(world["orgadmin"]).post("/api/v1/scorecards/", {"definition": two}, format="json").status_code == 201
    unscoped = "---\n".join(card.format(s=f"all-{i}").replace("filter: {org: acme}\n", "") for i in range(2))
    over = api(world["root"]).post("/api/v1/scorecards/", {"definition": unscoped}, format="json")
    assert over.status_code == 409 and "At most 3 scorecards" in over.json()["detail"]
    assert Scorecard.objects.count() == 2


def test_rest_load_read_and_permissions(fleet, api):
    world = fleet["world"]
    body = {
        "definition": "slug: acme-card\nname: Acme\nfilter: {org: acme}\nlevels: [Ok]\nchecks: [{type: has_owner_oncall}]\n"
    }
    assert api(world["reader"]).post("/api/v1/scorecards/", body, format="json").status_code == 403
    unscoped = {"definition": body["definition"].replace("filter: {org: acme}\n", "")}
    r = api(world["orgadmin"]).post("/api/v1/scorecards/", unscoped, format="json")
    assert r.status_code == 403 and r.json()["code"] == "permission_denied"
    r = api(world["orgadmin"]).post("/api/v1/scorecards/", body, format="json")
    assert r.status_code == 201, r.json()
    assert r.json()["scorecards"][0]["org"] == "acme"
    bad = api(world["root"]).post(
        "/api/v1/scorecards/", {"definition": "slug: z\nlevels: [A]\nchecks: 3\n"}, format="json"
    )
    assert bad.status_code == 400 and bad.json()["code"] == "scorecard_invalid"
    assert bad.json()["errors"][0]["line"] == 3

    services.recompute(now=fleet["now"])
    reader = api(world["reader"])
    assert {c["slug"] for c in reader.get("/api/v1/scorecards/").json()["results"]} == {"acme-card", "readiness"}
    detail = reader.get("/api/v1/scorecards/readiness/").json()
    assert detail["levels"] == ["Bronze", "Silver", "Gold"] and len(detail["checks"]) == 8
    mine = reader.get("/api/v1/services/front/scorecards").json()
    assert {m["scorecard"]: m["level"] for m in mine} == {"acme-card": "Ok", "readiness": "Bronze"}
    roll = reader.get("/api/v1/scorecards/readiness/rollup/?by=org").json()
    assert roll["rows"] == [{"key": "acme", "services": 5, "counts": [2, 2, 1, 0]}]
    assert reader.get("/api/v1/scorecards/readiness/rollup/?by=x").json()["code"] == "by_invalid"
    trend = reader.get("/api/v1/scorecards/readiness/trend/?scope=team&key=alpha").json()
    assert trend["points"][0]["counts"] == [1, 2, 1, 0]
    assert reader.get("/api/v1/scorecards/readiness/trend/?days=0").status_code == 400
    results = reader.get("/api/v1/scorecards/readiness/results/").json()["results"]
    assert len(results) == 5
    assert reader.get("/api/v1/scorecards/nope/").status_code == 404
    assert api().get("/api/v1/scorecards/").status_code == 401


def test_graphql_service_field_and_query(fleet, client):
    services.recompute(now=fleet["now"])
    query = """{ service(slug: "front") { scorecards { level levelIndex scorecard { slug }
      checks { key passed reason } } }
      scorecards { slug levels rollup(by: "team") { key services levels { level services } } } }"""
    client.force_login(fleet["world"]["reader"])
    r = client.post("/graphql", {"query": query}, content_type="application/json")
    data = r.json()
    assert "errors" not in data, data
    result = data["data"]["service"]["scorecards"][0]
    assert result["level"] == "Bronze" and result["scorecard"]["slug"] == "readiness"
    assert any(c["key"] == "no_lower_tier_dependency" and not c["passed"] for c in result["checks"])
    card = data["data"]["scorecards"][0]
    assert {r["key"]: r["services"] for r in card["rollup"]} == {"alpha": 4, "beta": 1}


def test_portal_panels_and_editor(fleet, client):
    world = fleet["world"]
    services.recompute(now=fleet["now"])
    client.force_login(world["reader"])
    page = client.get("/services/front/")
    assert page.status_code == 200 and b"scorecards-panel" in page.content
    assert b"less critical" not in page.content  # the shell does not compute the panel
    panel = client.get("/services/front/scorecards/")
    assert b"legacy (tier 3)" in panel.content and b"Bronze" in panel.content
    assert b"none 1, Bronze 2, Silver 1, Gold 0" in client.get("/teams/alpha/scorecards/").content
    assert client.get("/scorecards/readiness/").status_code == 200
    assert client.get("/scorecards/readiness/edit/").status_code == 403
    client.force_login(world["root"])
    edit = client.get("/scorecards/readiness/edit/")
    assert edit.status_code == 200 and b"no_lower_tier_dependency" in edit.content
    r = client.post(
        "/scorecards/readiness/edit/", {"definition": DEFINITION.replace("level: Gold", "level: Platinum", 1)}
    )
    assert r.status_code == 400 and b"definition:" in r.content and b"checks[5].level" in r.content
    r = client.post("/scorecards/readiness/edit/", {"definition": DEFINITION.replace("Readiness", "Ready")})
    assert r.status_code == 302
    assert selectors.scorecard_get(slug="readiness").name == "Ready"


# --- Through Celery: a crawl's merge and a catalog write, on a real worker -----------------------------
@pytest.mark.django_db(transaction=True)
def test_a_crawl_and_a_catalog_change_recompute_on_a_celery_worker(world, graph, celery_workers):
    import importlib
    import time

    from catalog.services import service_update
    from config.celery import app
    from graph.discovery.matching import Target
    from graph.discovery.sources import Observation, ObservedEdge
    from graph.services import edges_merge

    schedule = importlib.import_module("scorecards.migrations.0001_initial").SCHEDULE
    app.loader.import_default_modules()
    assert [(name, task in app.tasks) for name, task, _ in schedule] == [("scorecards-recompute", True)]
    alpha = world["team"]
    Service.objects.create(team=alpha, slug="web", name="web", tier=1)
    orders = Service.objects.create(team=alpha, slug="orders", name="orders", tier=1)
    graph_sync()
    services.scorecards_load(
        actor=None,
        text="slug: tiers\nlevels: [Ok]\nchecks: [{type: no_lower_tier_dependency}, {type: seen_recently, params: {days: 1}}]\n",
        recompute=False,
    )
    celery_workers(1, concurrency=1)

    def wait_for(predicate):
        deadline = time.time() + 60
        while time.time() < deadline and not predicate():
            time.sleep(0.2)  # a wait for the worker, not an assertion on time

    now_ms = int(time.time() * 1000)
    edge = ObservedEdge("web", Target("service", "orders"), 100, 0)
    obs = Observation(target="web", source="zipkin:t", ok=True, edges=[edge], window_seconds=300, observed_at_ms=now_ms)
    edges_merge([obs], crawl_id=1, now=now_ms)  # announces the samples and the new edge
    wait_for(lambda: ScorecardResult.objects.filter(service__slug="web", level="Ok").exists())
    web, c = _result("web", "tiers")
    assert web.level == "Ok" and c["seen_recently"]["passed"]

    service_update(actor=world["lead"], service=orders, tier=3)  # orders is now less critical than web
    wait_for(lambda: ScorecardResult.objects.filter(service__slug="web", level_index=0).exists())
    web, c = _result("web", "tiers")
    assert (
        c["no_lower_tier_dependency"]["reason"] == "Tier 1 service calls 1 less critical service(s): orders (tier 3)."
    )
    wait_for(lambda: Event.objects.filter(type="scorecard.level_dropped").exists())
    assert list(Event.objects.filter(type="scorecard.level_dropped").values_list("payload__service", flat=True)) == [
        "web"
    ]
