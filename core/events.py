"""Writes announce what changed; whoever cares listens. So an app never calls the layers above it
(the graph projection listens to teams and catalog, which do not know it exists).

A service calls ``announce(kind, key, ...)`` inside its transaction; once the transaction
commits, ``changed`` is sent once with the ``Change`` of each key (a bulk write of thousands of
objects announces them in one call, so a receiver can queue one task, not thousands). Nothing is
sent for a write that rolls back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from django.db import transaction
from django.dispatch import Signal

Kind = Literal["org", "team", "service", "api", "system", "domain", "resource"]


@dataclass(frozen=True, slots=True)
class Change:
    """One catalog object (by kind and slug) that was created, updated or deleted."""

    kind: Kind
    key: str


# Sent after commit with ``changes=(Change(...), ...)``, all of one kind; the sender is the kind.
changed = Signal()


def announce(kind: Kind, *keys: str) -> None:
    changes = tuple(Change(kind, key) for key in dict.fromkeys(keys))
    if changes:
        transaction.on_commit(lambda: changed.send(sender=kind, changes=changes))
