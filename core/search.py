"""The catalog's text search rule, written once: a row matches when one of its search
fields (slug and name; services add their description) contains the text, ignoring case.
Filter sets (portal, REST, GraphQL), list selectors and the portal's quick search use it."""

from __future__ import annotations

from collections.abc import Iterable
from functools import reduce
from operator import or_

from django.db.models import Q, QuerySet

SLUG_OR_NAME = ("slug", "name")


def contains(queryset: QuerySet, text: str, fields: Iterable[str] = SLUG_OR_NAME) -> QuerySet:
    """``queryset`` narrowed to rows where any of ``fields`` contains ``text`` (case-insensitive);
    unchanged for an empty ``text``."""
    if not text:
        return queryset
    return queryset.filter(reduce(or_, (Q(**{f"{field}__icontains": text}) for field in fields)))
