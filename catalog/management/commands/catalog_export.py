"""manage.py catalog_export [--org SLUG] [--emails] [-o FILE]: the catalog as Backstage descriptors."""

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Write the catalog (or one org) as Backstage YAML descriptors."

    def add_arguments(self, parser):
        parser.add_argument("--org", default=None, help="one org's slug")
        parser.add_argument("--emails", action="store_true", help="include users' e-mail addresses")
        parser.add_argument("-o", "--output", default=None, help="file to write (default: standard output)")

    def handle(self, *args, org, emails, output, **options):
        from catalog.descriptors.export import export_backstage

        text = export_backstage(org=org, include_emails=emails)
        if output:
            with open(output, "w", encoding="utf-8") as out:
                out.write(text)
        else:
            self.stdout.write(text, ending="")
