# Regressions after deploys (changes/regressions.py).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("changes", "0004_slo_alerts_notices_p99"),
    ]

    operations = [
        migrations.CreateModel(
            name="Regression",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("src", models.CharField(max_length=300)),
                ("dst", models.CharField(max_length=300)),
                ("direction", models.CharField(max_length=3)),
                (
                    "metric",
                    models.CharField(choices=[("error_rate", "Error rate"), ("p95_ms", "p95 latency")], max_length=16),
                ),
                ("before", models.FloatField()),
                ("after", models.FloatField()),
                ("calls_before", models.FloatField()),
                ("calls_after", models.FloatField()),
                ("detected_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                (
                    "deploy",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="regressions", to="changes.deploy"
                    ),
                ),
                (
                    "service",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="catalog.service"
                    ),
                ),
            ],
            options={
                "ordering": ["-id"],
                "indexes": [models.Index(fields=["service", "detected_at"], name="changes_regression_service_at")],
                "constraints": [
                    models.UniqueConstraint(fields=("deploy", "src", "dst", "metric"), name="changes_regression_once")
                ],
            },
        ),
    ]
