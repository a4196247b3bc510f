from django.core.management.base import BaseCommand, CommandError

from graph import services
from graph.db import GraphUnavailable


class Command(BaseCommand):
    help = "Create Neo4j constraints and indexes (IF NOT EXISTS; safe to repeat)."

    def handle(self, *args, **options):
        try:
            names = services.graph_init()
        except GraphUnavailable as exc:
            raise CommandError(f"{exc.detail} Start it with 'scripts/neo4j start' or set NEO4J_URI.") from exc
        self.stdout.write(f"graph_init: {len(names)} constraints present: {', '.join(sorted(names))}")
