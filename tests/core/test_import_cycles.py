"""Modules named in settings load on their own: rest_framework.views reads
DEFAULT_PARSER_CLASSES (core.api.JSONParser) while it loads, so core.api importing it at the
top made `manage.py check` fail whenever the pagination check imported core.api first."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.unit


@pytest.mark.parametrize("module", ["core.api", "core.openapi", "core.graphql", "config.security"])
def test_a_settings_module_imports_first_in_a_fresh_interpreter(module):
    code = (
        f"import os, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'; django.setup(); import {module}"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-800:]
