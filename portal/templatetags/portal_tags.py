"""Template filters of the portal's pages."""

from datetime import UTC, datetime

from django import template

register = template.Library()


@register.filter
def ms_datetime(value):
    """Epoch milliseconds (the graph's times) as an aware datetime, or None."""
    if value is None or value == "":
        return None
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


@register.filter
def pct(value):
    """A rate (0..1) as a percentage number, or None."""
    try:
        return float(value) * 100
    except (TypeError, ValueError):
        return None
