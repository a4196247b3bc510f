"""Beat tasks for catalog locations: refresh URL and git locations that are due (the task checks
CATALOG_REFRESH_MINUTES per location), and remove orphans past their location's grace period."""

from django.db import migrations

SCHEDULE = [
    ("catalog-locations-refresh", "catalog.tasks.locations_refresh_due", 300),
    ("catalog-orphans-sweep", "catalog.tasks.orphans_sweep", 3600),
]


def add(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, seconds in SCHEDULE:
        interval, _ = IntervalSchedule.objects.get_or_create(every=seconds, period="seconds")
        PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, "interval": interval})


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[s[0] for s in SCHEDULE]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0006_location_sources_runs"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(add, remove)]
