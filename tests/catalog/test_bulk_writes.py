"""Issue 12 at scale: a descriptor import writes each kind in one batch through the services'
bulk paths (services_create, apis_create, teams_create, members_add, ...) with the same rules as
one object at a time: permissions, limits for the whole batch, validation (duplicates inside the
batch too), audit rows, an event per audit row (written together) and one change announcement
per kind and write. Real database; query counts, not timings (speed is in bench/catalog.py)."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from catalog import services
from catalog.descriptors import reader
from catalog.models import Api, Service
from changes.models import Event
from core.errors import Conflict, InvalidInput, TeamLimitExceeded
from core.events import changed
from core.models import AuditEvent
from teams import services as teams_services
from teams.models import Membership


def _descriptors(org: str, teams: int, services_per_team: int, apis_per_team: int = 0) -> str:
    docs = [
        f"apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: {org}\nspec:\n  type: organization\n  children: []\n"
    ]
    for t in range(teams):
        team = f"{org}-team-{t}"
        docs.append(
            "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n"
            f"  name: {team}\nspec:\n  type: team\n  parent: {org}\n  children: []\n"
        )
        docs.append(
            f"apiVersion: backstage.io/v1alpha1\nkind: System\nmetadata:\n  name: {team}-sys\nspec:\n  owner: {team}\n"
        )
        docs.append(
            f"apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata:\n  name: {team}-user\n"
            f"spec:\n  profile:\n    email: {team}@example.com\n  memberOf: [{team}]\n"
        )
        for s in range(services_per_team):
            provides = f"  providesApis: [{team}-api-{s}]\n" if s < apis_per_team else ""
            docs.append(
                f"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {team}-svc-{s}\n"
                f"spec:\n  type: service\n  lifecycle: production\n  owner: {team}\n  system: {team}-sys\n" + provides
            )
            if s < apis_per_team:
                docs.append(
                    f"apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata:\n  name: {team}-api-{s}\n"
                    f"spec:\n  type: grpc\n  lifecycle: production\n  owner: {team}\n  definition: 'service S {{}}'\n"
                )
    return "---\n".join(docs)


@pytest.fixture
def heard():
    seen = []

    def receiver(sender, changes, **kwargs):
        seen.append((sender, [c.key for c in changes]))

    changed.connect(receiver, dispatch_uid="test-bulk-heard")
    yield seen
    changed.disconnect(dispatch_uid="test-bulk-heard")


@pytest.mark.django_db(transaction=True)
def test_an_import_announces_each_kind_once_and_writes_an_event_per_audit_row(world, heard):
    services.location_import(actor=world["root"], target="bulk.yaml", content=_descriptors("bulk", 2, 5, 2))
    # one announcement per kind and write (APIs announce their providers), not one per object
    assert sorted(sender for sender, _ in heard) == ["org", "service", "service", "system", "team"]
    created = dict(heard)
    assert sorted(next(keys for sender, keys in heard if sender == "service")) == sorted(
        f"bulk-team-{t}-svc-{s}" for t in range(2) for s in range(5)
    )
    assert sorted(created["team"]) == ["bulk-team-0", "bulk-team-1"]
    # every audit row of the import is an event, written in bulk with it
    audited = dict.fromkeys(["org.create", "team.create", "member.add", "service.create", "api.create"], 0)
    for action in AuditEvent.objects.values_list("action", flat=True):
        if action in audited:
            audited[action] += 1
    assert audited == {"org.create": 1, "team.create": 2, "member.add": 2, "service.create": 10, "api.create": 4}
    events = {
        t: Event.objects.filter(type=t).count()
        for t in ("org.created", "team.created", "member.added", "service.created", "api.created")
    }
    assert events == {"org.created": 1, "team.created": 2, "member.added": 2, "service.created": 10, "api.created": 4}
    service = Service.objects.get(slug="bulk-team-1-svc-3")
    event = Event.objects.get(type="service.created", subject__name="bulk-team-1-svc-3")
    assert (event.team_id, event.service_id, event.org_id) == (service.team_id, service.pk, service.team.org_id)
    assert Api.objects.get(slug="bulk-team-0-api-1").provider.slug == "bulk-team-0-svc-1"
    # no empty "declared dependencies" writes for new services
    assert not AuditEvent.objects.filter(action__in=["service.consumes", "service.resources"]).exists()


def test_the_writes_of_an_import_do_not_grow_with_the_number_of_objects(world):
    """Twice the services of the same teams: the same number of queries (old: ~20 per service)."""

    def queries(org: str, per_team: int) -> int:
        with CaptureQueriesContext(connection) as ctx:
            services.location_import(actor=world["root"], target=f"{org}.yaml", content=_descriptors(org, 3, per_team))
        return len(ctx.captured_queries)

    few, many = queries("few", 3), queries("many", 6)
    assert Service.objects.filter(team__org__slug="many").count() == 18
    assert many - few <= 3, (few, many)


def test_a_batch_past_a_team_limit_is_refused_whole(world):
    team, root = world["team"], world["root"]
    team.max_services = 2
    team.save()
    services.service_create(actor=root, team=team, slug="one", name="One")
    with pytest.raises(TeamLimitExceeded) as refused:
        services.services_create(
            actor=root,
            specs=[
                {"team": team, "slug": "two", "name": "Two"},
                {"team": team, "slug": "three", "name": "Three"},
            ],
        )
    assert refused.value.code == "team_limit_exceeded"
    assert list(Service.objects.values_list("slug", flat=True)) == ["one"]
    assert AuditEvent.objects.filter(action="service.create").count() == 1
    # one fits
    services.services_create(actor=root, specs=[{"team": team, "slug": "two", "name": "Two"}])
    assert Service.objects.count() == 2


def test_a_batch_with_a_duplicate_is_refused_with_the_error_one_write_gets(world):
    team, root = world["team"], world["root"]
    services.service_create(actor=root, team=team, slug="orders", name="Orders")
    with pytest.raises(InvalidInput) as alone:
        services.service_create(actor=root, team=team, slug="orders", name="Again")
    with pytest.raises(InvalidInput) as inside:
        services.services_create(
            actor=root,
            specs=[{"team": team, "slug": "fresh", "name": "A"}, {"team": team, "slug": "fresh", "name": "B"}],
        )
    assert inside.value.detail == alone.value.detail and inside.value.fields == alone.value.fields
    with pytest.raises(InvalidInput) as bad:
        services.services_create(actor=root, specs=[{"team": team, "slug": "ok-one", "name": "A", "tier": 9}])
    assert "tier" in bad.value.fields
    assert sorted(Service.objects.values_list("slug", flat=True)) == ["orders"]


def test_members_added_together_count_against_the_limit_together(world, make_user):
    team, root = world["team"], world["root"]  # two members already
    team.max_members = 3
    team.save()
    users = [make_user(f"new-{i}") for i in range(2)]
    with pytest.raises(TeamLimitExceeded):
        teams_services.members_add(actor=root, seats=[(team, u, "member") for u in users])
    assert Membership.objects.filter(team=team).count() == 2
    with pytest.raises(Conflict) as twice:
        teams_services.members_add(actor=root, seats=[(team, users[0], "member"), (team, users[0], "lead")])
    assert twice.value.code == "already_member"
    teams_services.members_add(actor=root, seats=[(team, users[0], "member")])
    assert Membership.objects.filter(team=team).count() == 3


@pytest.mark.django_db(transaction=True)
def test_announcements_of_a_rolled_back_batch_are_never_sent(world, heard):
    with pytest.raises(RuntimeError), transaction.atomic():
        services.services_create(actor=world["root"], specs=[{"team": world["team"], "slug": "gone", "name": "G"}])
        raise RuntimeError
    assert heard == [] and not Service.objects.filter(slug="gone").exists()


def test_the_one_pass_reader_builds_what_the_composer_built(settings):
    """reader._events_read (one pass over libyaml's events) against libyaml's composer and the
    safe constructors, on valid and refused input alike."""
    texts = [
        _descriptors("same", 2, 2, 1),
        "a: 1\n---\n---\nb: [x, {c: d, e: [1, 2.5, null, true, 2001-12-14]}]\n",
        "a: &x 1\nb: *x\n",
        "a: 1\na: 2\n",
        "1: a\n",
        "a: !!binary aGVsbG8=\nb: !!str 3\n",
        "a: !foo bar\n",
        "a: {b: 1}\n<<: {c: 2}\n",
        "a: [1, 2\n",
        "? [a]\n: 1\n",
        "- 1\n- a\n",
        "plain\n",
        "a:\n" + "".join("  " * i + "- \n" for i in range(1, 40)),
    ]

    def composed(text):
        loader = None
        try:
            reader._precheck(text, max_depth=settings.CATALOG_MAX_DEPTH, max_docs=settings.CATALOG_MAX_DOCUMENTS)
            loader, out, index = reader._FastLoader(text), [], 0
            while loader.check_node():
                node = loader.get_node()
                data = loader.construct_document(node)
                if data is not None:
                    line = data.line if isinstance(data, reader.Mapping) else node.start_mark.line + 1
                    out.append((index, line, _shape(data)))
                index += 1
            return out
        except Exception as exc:  # noqa: BLE001 (the refusal is compared)
            return (type(exc).__name__, getattr(exc, "line", None), str(exc)[:80])
        finally:
            if loader is not None:
                loader.dispose()

    def one_pass(text):
        try:
            docs = reader._events_read(
                text, file="f", max_depth=settings.CATALOG_MAX_DEPTH, max_docs=settings.CATALOG_MAX_DOCUMENTS
            )
            return [(d.index, d.line, _shape(d.data)) for d in docs]
        except Exception as exc:  # noqa: BLE001
            return (type(exc).__name__, getattr(exc, "line", None), str(exc)[:80])

    for text in texts:
        assert one_pass(text) == composed(text), text[:60]
    # a collection with an explicit tag is left to the constructors (two passes), as before
    documents, problems = reader.read("a: !!set {b}\n", file="f")
    assert not problems and documents[0].data == {"a": {"b"}}


def _shape(value):
    if isinstance(value, reader.Mapping):
        return ("map", value.line, sorted(value.lines.items()), [(k, _shape(v)) for k, v in value.items()])
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return (type(value).__name__, value)
