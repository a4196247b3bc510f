"""Per-request batch loading for GraphQL resolvers (the DataLoader idea, for synchronous
graphene): a field that would run one query per object asks a ``Loader`` instead, and the
loader answers every key it has been told about with one batch call.

graphene resolves a list depth-first, one object after the other, so a resolver cannot wait
for its siblings as an asynchronous DataLoader does. Instead the field that produces the list
(a connection page, a team's services) *hints* the keys it is about to resolve; the first
``load`` then fetches the asked key together with every hinted key not loaded yet.

Loaders and hints live for one request: they are kept in a registry keyed weakly by the
request object (graphene's ``info.context``), so nothing is stored on the request and
nothing outlives it.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any

from graphene_django.filter import DjangoFilterConnectionField

BatchFn = Callable[[list], Mapping]


class Loader:
    """Answers ``load(key)`` from a cache, fetching missing keys (the asked one and every
    hinted one) with one call of ``batch(keys) -> {key: value}``."""

    def __init__(self, batch: BatchFn, hinted: Iterable[Hashable] = ()):
        self._batch = batch
        self._cache: dict[Hashable, Any] = {}
        self._pending: set[Hashable] = set(hinted)
        self.batches = 0  # batch calls made (for tests and debugging)

    def hint(self, keys: Iterable[Hashable]) -> None:
        self._pending.update(k for k in keys if k not in self._cache)

    def load(self, key: Hashable):
        if key not in self._cache:
            keys = sorted({key, *self._pending} - self._cache.keys(), key=str)
            self._pending.clear()
            self.batches += 1
            answers = self._batch(keys)
            for k in keys:
                self._cache[k] = answers[k]
        return self._cache[key]


class RequestLoaders:
    """The loaders of one request, by name, and the keys hinted per kind of object."""

    def __init__(self):
        self._loaders: dict[Hashable, tuple[str, Loader]] = {}
        self._hints: dict[str, set] = {}

    def hint(self, kind: str, keys: Iterable[Hashable]) -> None:
        keys = list(keys)
        self._hints.setdefault(kind, set()).update(keys)
        for loader_kind, loader in self._loaders.values():
            if loader_kind == kind:
                loader.hint(keys)

    def get(self, kind: str, name: Hashable, batch: BatchFn) -> Loader:
        if name not in self._loaders:
            self._loaders[name] = (kind, Loader(batch, self._hints.get(kind, ())))
        return self._loaders[name][1]


_registry: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def request_loaders(context) -> RequestLoaders:
    """The loaders of the request ``context`` (graphene's ``info.context``)."""
    with _lock:
        loaders = _registry.get(context)
        if loaders is None:
            loaders = _registry[context] = RequestLoaders()
        return loaders


def load(info, kind: str, name: Hashable, batch: BatchFn, key: Hashable):
    """``key``'s value from the request's loader ``name`` (objects of ``kind``), batching
    with every key hinted for that kind."""
    return request_loaders(info.context).get(kind, name, batch).load(key)


def hint(info, kind: str, keys: Iterable[Hashable]) -> None:
    """Tell the request's loaders of ``kind`` which keys are about to be resolved."""
    request_loaders(info.context).hint(kind, keys)


class HintingConnectionField(DjangoFilterConnectionField):
    """A filtered connection that hints the keys of the nodes on its page (``hint_kind``,
    ``hint_key(node)``), so loaders of those nodes' fields fetch the whole page at once."""

    def __init__(self, *args, hint_kind: str, hint_key: Callable[[Any], Hashable], **kwargs):
        self._hint_kind = hint_kind
        self._hint_key = hint_key
        super().__init__(*args, **kwargs)

    def wrap_resolve(self, parent_resolver):
        inner = super().wrap_resolve(parent_resolver)

        def resolve(root, info, **args):
            connection = inner(root, info, **args)
            hint(info, self._hint_kind, (self._hint_key(edge.node) for edge in connection.edges))
            return connection

        return resolve
