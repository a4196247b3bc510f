"""Questions about observed traffic that only the graph can answer, asked by the apps below
it without importing it. graph registers its answer in GraphConfig.ready; until then, or
while the graph is unreachable, the answer is None: unknown."""

from __future__ import annotations

from collections.abc import Callable

_calls: Callable[[str, str], bool | None] | None = None


def answer_calls(answer: Callable[[str, str], bool | None]) -> None:
    global _calls
    _calls = answer


def calls(src: str, dst: str) -> bool | None:
    """Has service ``src`` been seen calling service ``dst``? None when nobody can tell."""
    return _calls(src, dst) if _calls is not None else None
