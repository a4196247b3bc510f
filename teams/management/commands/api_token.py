from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from teams import services


class Command(BaseCommand):
    help = "Create (or replace) a user's API token and print it once; --revoke deletes it."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--revoke", action="store_true")

    def handle(self, *args, **options):
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user '{options['username']}'.")
        if options["revoke"]:
            deleted = services.token_revoke(actor=None, user=user)
            self.stdout.write(f"api_token: {'revoked' if deleted else 'no token to revoke'} for {user.username}")
            return
        self.stdout.write(services.token_create(actor=None, user=user))
