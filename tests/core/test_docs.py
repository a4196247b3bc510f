"""README's settings tables (Configuration, and the web server's in Security) name every
environment variable Switchboard reads: the application's settings, the web server's and the
local servers' scripts. A setting added without its row fails here."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.unit

PYTHON_READS = re.compile(r'(?:os\.environ\.get|os\.getenv|env_int|env_bool)\(\s*"([A-Z][A-Z0-9_]+)"')
SHELL_READS = re.compile(r"\$\{([A-Z][A-Z0-9_]+):-")


def _in_table_rows() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    rows = "\n".join(line for line in readme.splitlines() if line.startswith("| `"))
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", rows))


def test_every_variable_read_from_the_environment_has_a_row():
    read = set()
    for path in (ROOT / "config" / "settings.py", ROOT / "config" / "gunicorn.py"):
        read |= set(PYTHON_READS.findall(path.read_text()))
    for path in (ROOT / "scripts").iterdir():
        if path.is_file():
            read |= set(SHELL_READS.findall(path.read_text()))
    assert {"DATABASE_URL", "NEO4J_HEAP", "WEB_WORKERS"} <= read  # the patterns still find reads
    missing = sorted(read - _in_table_rows())
    assert not missing, f"read from the environment but in no README table row: {missing}"
