from django.core.management.base import BaseCommand

from core.health import checks


class Command(BaseCommand):
    help = "Check every dependency: one line each, OK or the reason and the fix."

    def handle(self, *args, **options):
        failed = 0
        for name, ok, message in checks():
            failed += not ok
            self.stdout.write(f"{'OK  ' if ok else 'FAIL'} {name:<10} {message}")
        if failed:
            self.stdout.write(f"{failed} check(s) failed")
            raise SystemExit(1)
