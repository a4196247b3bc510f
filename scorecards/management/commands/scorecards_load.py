"""``manage.py scorecards_load <file>``: create or replace the scorecards of a YAML file."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from scorecards import services


class Command(BaseCommand):
    help = "Load scorecard definitions (YAML, one scorecard per document); all or nothing."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--no-recompute", action="store_true", help="Do not queue a recompute.")

    def handle(self, *args, file, no_recompute=False, **options):
        path = Path(file)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"{file}: {exc.strerror}") from exc
        try:
            loaded = services.scorecards_load(actor=None, text=raw, file=path.name, recompute=not no_recompute)
        except DomainError as exc:
            for e in exc.extra.get("errors") or []:
                self.stderr.write(f"{e['file']}:{e['line']}: {e['field'] or '-'}: {e['message']}")
            raise CommandError(f"{exc.code}: {exc.detail}") from exc
        for card in loaded:
            self.stdout.write(f"{card.slug}: {len(card.levels)} levels, {card.checks.count()} checks")
