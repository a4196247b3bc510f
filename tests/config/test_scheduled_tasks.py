"""Every task the beat schedule names (the rows the migrations create) is one a worker has
registered: moving or renaming a task would otherwise leave beat sending a name no worker runs."""

import re
from pathlib import Path

from config.celery import app

ROOT = Path(__file__).resolve().parents[2]


def test_every_scheduled_task_is_registered():
    scheduled = set()
    for migration in ROOT.glob("*/migrations/0*.py"):
        scheduled |= set(re.findall(r'"([a-z_]+(?:\.[a-z_]+)+_task)"', migration.read_text()))
    assert {"graph.tasks.crawl_scheduled_task", "changes.lifecycle.api_sunset_notices_task"} <= scheduled
    app.loader.import_default_modules()  # what a worker imports at start
    missing = sorted(scheduled - set(app.tasks))
    assert not missing, f"scheduled but registered by no module a worker imports: {missing}"
