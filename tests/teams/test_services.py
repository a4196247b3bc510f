import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from core.errors import Conflict, InvalidInput, PermissionDenied, TeamLimitExceeded
from core.models import AuditEvent
from teams import services
from teams.models import Membership, Team


def test_member_limit_is_the_org_default_unless_the_team_lowers_it(world, make_user):
    team, org = world["team"], world["org"]
    org.max_members_per_team = 3
    org.save()
    services.member_add(actor=world["lead"], team=team, user=make_user("third"))
    with pytest.raises(TeamLimitExceeded) as exc:
        services.member_add(actor=world["lead"], team=team, user=make_user("fourth"))
    assert exc.value.as_dict() == {
        "code": "team_limit_exceeded",
        "limit": "members",
        "max": 3,
        "current": 3,
        "detail": "Team 'alpha' is at its limit of 3 members (3 now).",
    }
    assert team.memberships.count() == 3


def test_lowering_a_limit_deletes_nothing_and_refuses_more(world, make_user):
    team = world["team"]
    services.team_update(actor=world["orgadmin"], team=team, max_members=1)
    assert team.memberships.count() == 2  # over the limit now, nobody removed
    with pytest.raises(TeamLimitExceeded):
        services.member_add(actor=world["lead"], team=team, user=make_user("extra"))


def test_only_org_admins_change_limits(world):
    with pytest.raises(PermissionDenied):
        services.team_update(actor=world["lead"], team=world["team"], max_members=2)
    assert Team.objects.get(pk=world["team"].pk).max_members is None


def test_leads_manage_members_and_members_do_not(world, make_user):
    with pytest.raises(PermissionDenied):
        services.member_add(actor=world["member"], team=world["team"], user=make_user("x"))
    services.member_remove(actor=world["lead"], team=world["team"], user=world["member"])
    assert not Membership.objects.filter(user=world["member"]).exists()


def test_a_team_that_owns_services_cannot_be_deleted(world):
    from catalog.services import service_create

    service_create(actor=world["member"], team=world["team"], slug="svc", name="Svc")
    with pytest.raises(Conflict) as exc:
        services.team_delete(actor=world["orgadmin"], team=world["team"])
    assert exc.value.code == "team_has_services"
    assert Team.objects.filter(slug="alpha").exists()


def test_every_write_is_audited_with_before_and_after(world):
    services.team_update(actor=world["lead"], team=world["team"], description="new words")
    event = AuditEvent.objects.filter(action="team.update").get()
    assert event.actor == world["lead"]
    assert event.before["description"] == "" and event.after["description"] == "new words"


def test_invalid_slug_is_refused_and_nothing_written(world):
    with pytest.raises(InvalidInput) as exc:
        services.team_create(actor=world["orgadmin"], org=world["org"], slug="Not A Slug", name="x")
    assert "slug" in exc.value.fields
    assert not Team.objects.filter(name="x").exists()


@pytest.mark.django_db(transaction=True)
def test_parallel_adds_for_the_last_seat_admit_exactly_one():
    """20 threads, each with its own database connection, race for one free seat."""
    from teams.models import Org

    User = get_user_model()
    root = User.objects.create_superuser("root", "r@example.com", "pw")
    org = Org.objects.create(slug="race", name="Race", max_members_per_team=5)
    team = Team.objects.create(org=org, slug="racers", name="Racers")
    for i in range(4):
        Membership.objects.create(team=team, user=User.objects.create_user(f"seat{i}"))
    candidates = [User.objects.create_user(f"cand{i}") for i in range(20)]
    barrier = threading.Barrier(len(candidates))
    outcomes = []

    def add(user):
        try:
            barrier.wait()
            services.member_add(actor=root, team=team, user=user)
            outcomes.append("ok")
        except TeamLimitExceeded:
            outcomes.append("limit")
        except Exception as exc:  # any other failure is a bug the assertion below shows
            outcomes.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=add, args=(u,)) for u in candidates]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["limit"] * 19 + ["ok"], outcomes
    assert team.memberships.count() == 5
