"""AuditEvent.org: which org's admins may read the event. Existing events get the org of
their object (or, for a deleted object, of the team/service/API its snapshot names);
events whose org cannot be found stay superuser-only."""

import django.db.models.deletion
from django.db import migrations, models


def backfill(apps, schema_editor):
    AuditEvent = apps.get_model("catalog", "AuditEvent")
    Team = apps.get_model("teams", "Team")
    Service = apps.get_model("catalog", "Service")
    Api = apps.get_model("catalog", "Api")
    ApiKey = apps.get_model("catalog", "ApiKey")
    Org = apps.get_model("teams", "Org")

    team_org = dict(Team.objects.values_list("pk", "org_id"))
    service_team = dict(Service.objects.values_list("pk", "team_id"))
    api_service = dict(Api.objects.values_list("pk", "provider_id"))
    key_api = dict(ApiKey.objects.values_list("pk", "api_id"))
    orgs = set(Org.objects.values_list("pk", flat=True))

    def as_int(value):
        try:
            return int(value)
        except (TypeError, ValueError):
            return None

    def of_service(pk):
        return team_org.get(service_team.get(pk))

    def of_api(pk):
        return of_service(api_service.get(pk))

    def org_of(event):
        pk = as_int(event.object_id)
        snap = {}
        for part in (event.after, event.before):  # the state before the write wins
            if isinstance(part, dict):
                snap.update(part)
        kind = event.object_type
        if kind == "org":
            return pk if pk in orgs else None
        if kind == "team":
            return team_org.get(pk) or as_int(snap.get("org"))
        if kind == "service":
            return of_service(pk) or team_org.get(as_int(snap.get("team")))
        if kind == "api":
            return of_api(pk) or of_service(as_int(snap.get("provider")))
        if kind == "apikey":
            return of_api(key_api.get(pk)) or of_api(as_int(snap.get("api")))
        return None

    batch = []
    for event in AuditEvent.objects.filter(org__isnull=True).iterator(chunk_size=2000):
        org = org_of(event)
        if org in orgs:
            event.org_id = org
            batch.append(event)
        if len(batch) >= 2000:
            AuditEvent.objects.bulk_update(batch, ["org"])
            batch = []
    if batch:
        AuditEvent.objects.bulk_update(batch, ["org"])


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_initial"),
        ("teams", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="org",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="teams.org",
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
