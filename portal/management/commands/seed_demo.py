import random

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from catalog import services as catalog_services
from teams import services as team_services
from teams.models import Org

DEMO_PASSWORD = "switchboard"  # noqa: S105 (demo data for `make run` only)
ORGS = {
    "retail": ["storefront", "checkout", "catalog-data", "search", "recommendations"],
    "platform": ["identity", "payments-core", "notifications", "observability"],
    "logistics": ["fulfilment", "shipping", "inventory"],
}
SERVICE_WORDS = ["api", "worker", "gateway", "store", "indexer", "scheduler"]


class Command(BaseCommand):
    help = "Load demo orgs, teams, members, services and APIs (only into an empty catalog)."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="seed even if orgs exist")

    def handle(self, *args, **opts):
        if Org.objects.exists() and not opts["force"]:
            self.stdout.write("seed_demo: catalog not empty, nothing to do")
            return
        User = get_user_model()
        rng = random.Random(7)  # noqa: S311 (reproducible demo data)
        with transaction.atomic():
            admin = User.objects.filter(username="admin").first() or User.objects.create_superuser(
                "admin", "admin@example.com", DEMO_PASSWORD
            )
            people = [User.objects.get_or_create(username=f"dev{i:02d}")[0] for i in range(60)]
            for p in people:
                p.set_password(DEMO_PASSWORD)
                p.save(update_fields=["password"])
            services, apis = [], []
            person = iter(people)
            for org_slug, teams in ORGS.items():
                org = team_services.org_create(actor=admin, slug=org_slug, name=org_slug.title())
                for team_slug in teams:
                    team = team_services.team_create(
                        actor=admin,
                        org=org,
                        slug=team_slug,
                        name=team_slug.replace("-", " ").title(),
                        description=f"Owns the {team_slug} domain.",
                        chat_channel=f"#team-{team_slug}",
                        oncall_contact=f"oncall-{team_slug}@example.com",
                    )
                    for n in range(rng.randint(3, 5)):
                        team_services.member_add(
                            actor=admin, team=team, user=next(person), role="lead" if n == 0 else "member"
                        )
                    for word in rng.sample(SERVICE_WORDS, rng.randint(2, 3)):
                        svc = catalog_services.service_create(
                            actor=admin,
                            team=team,
                            slug=f"{team_slug}-{word}",
                            name=f"{team_slug} {word}",
                            tier=rng.randint(1, 4),
                            description=f"The {word} of {team_slug}.",
                            repository_url=f"https://git.example.com/{team_slug}/{word}",
                        )
                        services.append(svc)
                        if word in ("api", "gateway"):
                            apis.append(
                                catalog_services.api_create(
                                    actor=admin,
                                    provider=svc,
                                    slug=f"{svc.slug}-v1",
                                    name=f"{svc.name} v1",
                                    version="1.0",
                                    base_path=f"/{team_slug}/v1",
                                    spec=_spec(svc.name),
                                    slo_availability="99.9",
                                    slo_p99_ms=250,
                                )
                            )
            for svc in services:
                choices = [a for a in apis if a.provider_id != svc.pk]
                catalog_services.service_consumes_set(
                    actor=admin, service=svc, apis=rng.sample(choices, min(2, len(choices)))
                )
        self.stdout.write(
            f"seed_demo: {Org.objects.count()} orgs, {len(services)} services, {len(apis)} APIs; "
            f"sign in as admin / {DEMO_PASSWORD} (or dev00..dev59, same password)"
        )


def _spec(title: str) -> dict:
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": "1.0"},
        "paths": {"/items": {"get": {"summary": "List items", "responses": {"200": {"description": "OK"}}}}},
    }
