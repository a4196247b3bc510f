from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Create (or replace) a user's API token and print it once; --revoke deletes it."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--revoke", action="store_true")

    def handle(self, *args, **options):
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user '{options['username']}'.")
        deleted, _ = Token.objects.filter(user=user).delete()
        if options["revoke"]:
            self.stdout.write(f"api_token: {'revoked' if deleted else 'no token to revoke'} for {user.username}")
            return
        self.stdout.write(Token.objects.create(user=user).key)
