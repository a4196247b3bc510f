"""How a long-lived web process runs Python: called once by ``config/wsgi.py`` after the
application is loaded.

CPython's cyclic garbage collector now and then runs a full collection that walks every
tracked object the process holds: Django, the URL patterns, DRF, the GraphQL schema, about
180,000 objects that live as long as the process. A large answer (the GraphQL list of 100
services with their 2-hop dependencies allocates ~20,000 dicts and lists) paid for one or two of
those walks, which is where its slowest requests went (bench/README.md "Garbage collector")."""

import gc

from django.urls import get_resolver
from graphene_django.settings import graphene_settings


def tune_gc() -> None:
    """Import every view and the GraphQL schema now (Django and graphene-django would wait for
    the first request), collect what start-up left behind and move every object that survived it
    to the permanent generation, which no collection walks again. The thresholds stay CPython's:
    requests leave some cyclic garbage (a gateway check about 80 objects), and a young
    generation 70 times larger (tried) freed 50,000 objects in one 100-140 ms pause."""
    get_resolver().url_patterns  # noqa: B018 (the property imports them)
    graphene_settings.SCHEMA  # noqa: B018 (imported on first access)
    gc.collect()
    gc.freeze()
