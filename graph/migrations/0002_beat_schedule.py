"""The default beat schedule, kept in the database so it is editable in admin and the
portal: a discovery crawl every DISCOVERY_SCHEDULE_MINUTES, a full graph resync hourly
(heals projections missed while the broker was down) and the API-key usage flush."""

from django.conf import settings
from django.db import migrations

SCHEDULE = [
    ("discovery-crawl", "graph.tasks.crawl_scheduled_task", settings.DISCOVERY_SCHEDULE_MINUTES * 60),
    ("graph-resync", "graph.tasks.graph_sync_task", 3600),
    ("api-key-usage-flush", "catalog.tasks.key_usage_flush_task", 60),
]


def create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, seconds in SCHEDULE:
        interval, _ = IntervalSchedule.objects.get_or_create(every=seconds, period="seconds")
        PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, "interval": interval})


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[s[0] for s in SCHEDULE]).delete()


class Migration(migrations.Migration):
    dependencies = [("graph", "0001_initial"), ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(create, remove)]
