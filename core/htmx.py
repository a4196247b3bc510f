"""The one place that decides between a full page and an htmx partial."""

from django.shortcuts import render


def htmx_partial(request) -> bool:
    """True for htmx requests that swap part of a page (not boosted navigation)."""
    return bool(getattr(request, "htmx", False)) and not request.htmx.boosted


def render_page(request, template: str, partial: str, context: dict, status: int = 200):
    return render(request, partial if htmx_partial(request) else template, context, status=status)
