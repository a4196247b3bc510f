"""Every management command that `make run` (scripts/run), the README and the docs name is
installed: moving a command into an app that is not in INSTALLED_APPS breaks `make run`."""

import re
from pathlib import Path

import pytest
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.unit


def test_every_command_make_run_and_the_readme_name_exists():
    named = set(re.findall(r"manage\.py (\w+)", (ROOT / "scripts" / "run").read_text()))
    named |= set(re.findall(r"`manage\.py (\w+)", (ROOT / "README.md").read_text()))
    assert {"seed_demo", "fleet", "graph_init", "graph_sync", "migrate"} <= named
    missing = named - set(get_commands())
    assert not missing, f"commands named but not installed: {sorted(missing)}"
