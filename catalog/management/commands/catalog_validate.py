"""manage.py catalog_validate PATH...: check Backstage descriptor files against the rules and
the catalog (references, limits) without changing anything; print every error as
``file:line: field: message`` and the change an import would make, per kind. Exits 1 on errors."""

from django.core.management.base import BaseCommand, CommandError

from catalog import selectors


class Command(BaseCommand):
    help = "Validate Backstage descriptor files (dry run): errors as file:line: field: message, then the diff."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", help="descriptor files, or directories searched for *.yaml/*.yml")
        parser.add_argument("--location", default=None, help="the location these files would update (orphans)")

    def handle(self, *args, paths, location, **options):
        from catalog.descriptors.files import collect

        files, problems = collect(paths)
        plan = selectors.catalog_plan(files=files, location=location)
        problems += plan.problems
        for problem in problems:
            self.stderr.write(str(problem))
        for skipped in plan.skipped:
            self.stdout.write(
                f"skipped {skipped['file']}:{skipped['line']}: {skipped['kind']} {skipped['name']}: {skipped['reason']}"
            )
        for kind, counts in plan.summary().items():
            self.stdout.write(f"{kind}: " + ", ".join(f"{n} {action}" for action, n in sorted(counts.items())))
        for item in plan.items:
            if item.action == "update":
                self.stdout.write(f"  update {item.kind} {item.slug}: {', '.join(item.changed)}")
        for kind, slug in plan.orphans:
            self.stdout.write(f"  orphan {kind} {slug}")
        if problems:
            raise CommandError(f"{len(problems)} error(s); nothing would change.", returncode=1)
        self.stdout.write(self.style.SUCCESS("valid"))
