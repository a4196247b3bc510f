from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from catalog import selectors as catalog_selectors
from changes import constants, services
from core.errors import DomainError


class Command(BaseCommand):
    help = (
        "Record a deploy of a service (idempotent on --id). Runs as the system unless --user names "
        "someone on the service's team; prints the deploy's id."
    )

    def add_arguments(self, parser):
        parser.add_argument("service", help="the service's slug")
        parser.add_argument("version")
        parser.add_argument("--id", dest="deploy_id", required=True, help="the pipeline's id for this deploy")
        parser.add_argument("--environment", default="production")
        parser.add_argument("--commit", default="")
        parser.add_argument("--url", default="")
        parser.add_argument("--deployer", default="")
        parser.add_argument("--status", default="succeeded", choices=constants.DEPLOY_STATUSES)
        parser.add_argument("--started-at", default=None, help="ISO 8601")
        parser.add_argument("--finished-at", default=None, help="ISO 8601")
        parser.add_argument("--user", default=None, help="record as this user (their permissions apply)")

    def handle(self, *args, **opts):
        service = catalog_selectors.service_list().filter(slug=opts["service"]).first()
        if service is None:
            raise CommandError(f"No service '{opts['service']}'.")
        actor = None
        if opts["user"]:
            actor = get_user_model().objects.filter(username=opts["user"]).first()
            if actor is None:
                raise CommandError(f"No user '{opts['user']}'.")
        times = {}
        for name in ("started_at", "finished_at"):
            raw = opts[name]
            times[name] = parse_datetime(raw) if raw else None
            if raw and times[name] is None:
                raise CommandError(f"--{name.replace('_', '-')}: not an ISO 8601 time: {raw!r}")
        try:
            deploy, created = services.deploy_record(
                actor=actor,
                system=actor is None,
                deploy_key=None,
                service=service,
                client_id=opts["deploy_id"],
                version=opts["version"],
                environment=opts["environment"],
                commit=opts["commit"],
                url=opts["url"],
                deployer=opts["deployer"],
                status=opts["status"],
                **times,
            )
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.detail}") from exc
        self.stdout.write(f"deploy {deploy.pk} {'recorded' if created else 'already recorded'}")
