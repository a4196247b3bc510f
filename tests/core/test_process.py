"""A web process's garbage collector (core/process.py): config.wsgi freezes what the
application loaded, and garbage made afterwards is still collected."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.unit

# In a fresh interpreter, as gunicorn loads it: the wsgi module, then a reference cycle made
# afterwards.
_PROBE = """
import gc, json, sys, weakref
before, thresholds = gc.get_freeze_count(), gc.get_threshold()
import config.wsgi
views_loaded = all(m in sys.modules for m in ("config.urls", "graphene_django.views", "config.schema"))
frozen, threshold = gc.get_freeze_count(), gc.get_threshold()

class Node:
    pass

def cycle():
    a, b = Node(), Node()
    a.other, b.other = b, a  # reference counting alone never frees it
    return weakref.ref(a)

first = cycle()
for _ in range(20_000):  # the collector's own runs, no gc.collect(), must free the first
    cycle()
print(json.dumps({"before": before, "views_loaded": views_loaded, "threshold": threshold, "frozen": frozen,
                  "thresholds": thresholds, "enabled": gc.isenabled(), "cycle_freed": first() is None}))
"""


def test_the_wsgi_module_freezes_what_start_up_loaded_and_garbage_made_later_is_still_freed():
    result = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": "/usr/bin:/bin",  # no DJANGO_SETTINGS_MODULE: config.wsgi names the settings itself
            "DJANGO_SECRET_KEY": "test-process-probe",  # no key file written into the checkout
            "LOG_LEVEL": "WARNING",
        },
    )
    assert result.returncode == 0, result.stderr[-800:]
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got["before"] == 0  # so what is frozen below, config.wsgi froze
    assert got["views_loaded"] is True  # before the freeze, not by the first request
    assert got["frozen"] > 50_000  # Django, the URL patterns, the schema: never walked again
    assert got["threshold"] == got["thresholds"]  # CPython's: bigger ones made long pauses (core/process.py)
    assert got["enabled"] is True and got["cycle_freed"] is True
