import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from core.errors import DomainError
from graph import selectors, services
from graph.models import CrawlRun


class Command(BaseCommand):
    help = "Start a discovery crawl now; with --wait, follow it with a progress bar."

    def add_arguments(self, parser):
        parser.add_argument("--wait", action="store_true")
        parser.add_argument("--inline", action="store_true", help="run it in this process, without workers")
        parser.add_argument("--timeout", type=float, default=600)

    def handle(self, *args, **options):
        try:
            run = services.crawl_inline() if options["inline"] else services.crawl_start(trigger="cli")
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.detail}") from exc
        if options["inline"]:
            options["wait"] = True
        self.stdout.write(f"crawl #{run.pk} queued")
        if not options["wait"]:
            return
        deadline = time.monotonic() + options["timeout"]
        with tqdm(total=100, unit="%", desc=f"crawl #{run.pk}") as bar:
            while time.monotonic() < deadline:
                run = CrawlRun.objects.get(pk=run.pk)
                pct = selectors.crawl_progress(run)
                bar.update(pct - bar.n)
                if run.finished_at:
                    break
                time.sleep(0.5)
        if not run.finished_at:
            raise CommandError(f"crawl #{run.pk} did not finish within {options['timeout']:g} s (is a worker running?)")
        self.stdout.write(
            f"crawl #{run.pk} {run.status}: {run.done}/{run.total} targets, {run.failed} failed, "
            f"{run.edges_seen} edges seen, {run.edges_new} new, {run.edges_stale} stale"
            + (f"; error: {run.error}" if run.error else "")
        )
        if run.status == "failed":
            raise CommandError("crawl failed")
