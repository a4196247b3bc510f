"""Ages and windows written as a whole number and a unit: ``30s``, ``5m``, ``24h``, ``7d``, ``2w``."""

import re

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"([1-9][0-9]{0,5})([smhdw])")


def duration_seconds(text: str) -> int | None:
    """Seconds of ``text`` (at most six digits, no zero), or None when it is not such a duration."""
    match = _DURATION.fullmatch(text.strip())
    return int(match[1]) * UNITS[match[2]] if match else None
