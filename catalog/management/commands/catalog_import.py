"""manage.py catalog_import FILE --as USERNAME: import one descriptor file as a location, all or
nothing, acting as USERNAME (whose permissions apply). $text definitions are read next to FILE."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from catalog import services
from core.errors import DomainError
from teams import selectors as teams_selectors


class Command(BaseCommand):
    help = "Import a Backstage descriptor file as a location (all or nothing)."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--as", dest="username", required=True, help="the user the import acts as")
        parser.add_argument("--location", default=None, help="location name (default: the file's path)")

    def handle(self, *args, file, username, location, **options):
        from catalog.descriptors.files import collect

        actor = teams_selectors.active_user(username)
        if actor is None:
            raise CommandError(f"No active user {username!r}.")
        files, problems = collect([file])
        if problems or len(files) != 1:
            for problem in problems:
                self.stderr.write(str(problem))
            raise CommandError("Give one readable descriptor file.")
        name, content, base = files[0]
        try:
            loc, plan = services.location_import(
                actor=actor, target=location or name, content=content, base_dir=Path(base)
            )
        except DomainError as exc:
            for error in exc.extra.get("errors", []):
                self.stderr.write(f"{error['file']}:{error['line']}: {error['field'] or '-'}: {error['message']}")
            raise CommandError(exc.detail) from exc
        for kind, counts in plan.summary().items():
            self.stdout.write(f"{kind}: " + ", ".join(f"{n} {action}" for action, n in sorted(counts.items())))
        self.stdout.write(self.style.SUCCESS(f"imported {loc.target}"))
