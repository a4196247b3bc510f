"""Crawl results name their discovery source and the target within it, instead of the
kind being guessed from a colon in ``target``."""

from django.db import migrations, models


def fill(apps, schema_editor):
    CrawlResult = apps.get_model("graph", "CrawlResult")
    for result in CrawlResult.objects.only("id", "target").iterator():
        source, _, key = result.target.partition(":")
        if key:  # "zipkin:name", "jaeger:name": a tracing source
            CrawlResult.objects.filter(pk=result.pk).update(source=source, target_key=key)
        else:  # a service's metrics and health
            CrawlResult.objects.filter(pk=result.pk).update(source="prometheus", target_key=result.target)


class Migration(migrations.Migration):
    dependencies = [("graph", "0005_tracing_aggregator_foreign_callers")]
    operations = [
        migrations.AddField(
            model_name="crawlresult",
            name="source",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AddField(
            model_name="crawlresult",
            name="target_key",
            field=models.CharField(blank=True, default="", max_length=200),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
