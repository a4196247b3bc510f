"""The audit trail moved to core (core/migrations/0001_initial.py): catalog forgets the model's
state; the table, catalog_auditevent, and its rows stay where they are."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0003_slug_no_trailing_newline"),
        ("core", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="AuditEvent")],
            database_operations=[],
        ),
    ]
