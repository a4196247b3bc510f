from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from graph import services
from graph.db import GraphUnavailable


class Command(BaseCommand):
    help = "Rebuild the catalog projection in Neo4j from Django (idempotent)."

    def handle(self, *args, **options):
        bar = tqdm(total=0, unit="service", desc="graph_sync", disable=options["verbosity"] == 0)

        def progress(done, total):
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            counts = services.graph_sync(progress=progress)
        except GraphUnavailable as exc:
            raise CommandError(exc.detail) from exc
        finally:
            bar.close()
        self.stdout.write("graph_sync: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
