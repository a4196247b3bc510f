import asyncio

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from tqdm import tqdm

from devtools import fleet


class Command(BaseCommand):
    help = "Run N simulated live services on loopback (seeded topology) and write the ground truth."

    def add_arguments(self, parser):
        parser.add_argument("--services", "-n", type=int, default=30)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--port-base", type=int, default=19000)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--truth", default="var/fleet-truth.json", help="where to write the ground-truth edges")
        parser.add_argument("--register", action="store_true", help="add the services to the catalog")
        parser.add_argument("--hostile", action="store_true", help="also run misbehaving services")
        parser.add_argument("--no-serve", action="store_true", help="register/write truth only")
        parser.add_argument(
            "--shared-ports",
            type=int,
            default=0,
            help="serve every service by path (/s/<slug>) on this many ports, pre-rendered (large fleets)",
        )
        parser.add_argument("--slug-format", default="fleet-{i:04d}", help="service slugs, from the index i")

    def handle(self, *args, **opts):
        services = fleet.topology(
            opts["services"],
            seed=opts["seed"],
            port_base=opts["port_base"],
            host=opts["host"],
            shared_ports=opts["shared_ports"],
            slug=lambda i: opts["slug_format"].format(i=i),
        )
        hostile_base = opts["port_base"] + opts["services"] + 100 if opts["hostile"] else None
        fleet.write_truth(services, opts["truth"])
        self.stdout.write(
            f"fleet: {len(services)} services, {len(fleet.ground_truth(services))} edges; truth in {opts['truth']}"
        )
        if opts["register"]:
            actor = get_user_model().objects.filter(is_superuser=True).order_by("pk").first()
            if actor is None:
                self.stderr.write("fleet: --register needs a superuser (run seed_demo or createsuperuser)")
                return
            with tqdm(total=len(services), desc="register", unit="service") as bar:
                created = fleet.register(
                    services,
                    actor=actor,
                    host=opts["host"],
                    hostile_base=hostile_base,
                    progress=lambda done, total: bar.update(done - bar.n),
                )
            self.stdout.write(f"fleet: registered {created} new services")
        if opts["no_serve"]:
            return
        ports = opts["shared_ports"] or len(services)
        self.stdout.write(
            f"fleet: serving on {opts['host']}:{opts['port_base']}-"
            f"{opts['port_base'] + ports - 1}" + (f", hostile from {hostile_base}" if hostile_base else "")
        )
        try:
            if opts["shared_ports"]:
                asyncio.run(fleet.serve_paths(services, host=opts["host"]))
            else:
                asyncio.run(fleet.serve(services, host=opts["host"], hostile_base=hostile_base))
        except KeyboardInterrupt:
            pass
