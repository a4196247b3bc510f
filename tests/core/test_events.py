"""Writes announce changes on commit (core.events); the graph projection listens."""

import pytest
from django.db import transaction

from core.events import Change, announce, changed


@pytest.fixture
def heard():
    seen = []

    def receiver(sender, changes, **kwargs):
        seen.extend(changes)

    changed.connect(receiver, dispatch_uid="test-heard")
    yield seen
    changed.disconnect(dispatch_uid="test-heard")


@pytest.mark.django_db(transaction=True)
def test_a_change_is_sent_once_the_write_commits_and_never_for_a_rollback(heard):
    with transaction.atomic():
        announce("team", "kept")
        assert heard == []  # not before the commit
    with pytest.raises(RuntimeError), transaction.atomic():
        announce("team", "rolled-back")
        raise RuntimeError
    assert heard == [Change("team", "kept")]


def test_a_team_write_reaches_neo4j_through_the_event_and_a_real_worker(celery_workers, graph, heard):
    """teams does not know graph: the service announces, graph's receiver enqueues the projection."""
    import time

    from django.contrib.auth import get_user_model

    from graph import db
    from teams import services
    from teams.models import Org

    root = get_user_model().objects.create_superuser("ev-root", "ev@example.com", "pw")
    org = Org.objects.create(slug="ev-org", name="Ev")
    celery_workers(1)
    services.team_create(actor=root, org=org, slug="ev-team", name="Ev team")
    assert Change("team", "ev-team") in heard
    deadline = time.monotonic() + 30  # a wait for the worker, not a speed assertion
    rows = []
    while not rows and time.monotonic() < deadline:
        rows = db.read("MATCH (t:Team {slug: 'ev-team'}) RETURN t.name AS name")
        time.sleep(0.2)
    assert rows == [{"name": "Ev team"}]
