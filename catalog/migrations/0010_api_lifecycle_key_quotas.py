"""Issue 15: API lifecycle (deprecated_at, sunset_at, successor), per-key rate limit and daily
quota, and the hourly beat task that sends the sunset notices (changes.lifecycle; the task is
named by string, as beat stores it)."""

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models

SCHEDULE = [("api-sunset-notices", "changes.lifecycle.api_sunset_notices_task", 3600)]


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
        ("catalog", "0009_location_last_run_from_runs"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AddField(
            model_name="api",
            name="deprecated_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="api",
            name="successor",
            field=models.ForeignKey(
                blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="catalog.api"
            ),
        ),
        migrations.AddField(
            model_name="api",
            name="sunset_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="apikey",
            name="daily_quota",
            field=models.PositiveIntegerField(
                blank=True,
                null=True,
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(1000000000),
                ],
            ),
        ),
        migrations.AddField(
            model_name="apikey",
            name="rate_limit",
            field=models.PositiveIntegerField(
                blank=True,
                null=True,
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(1000000),
                ],
            ),
        ),
        migrations.AddField(
            model_name="apikey",
            name="rate_period",
            field=models.CharField(
                choices=[("second", "per second"), ("minute", "per minute")], default="second", max_length=8
            ),
        ),
        migrations.RunPython(add, remove),
    ]
