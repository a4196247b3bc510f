"""`make bench`: every benchmark, a table on stdout and JSON in bench/results/.

Runs against its own SQLite database (var/bench.sqlite3, new for every run unless DATABASE_URL
names another), Redis database 2 and the Neo4j of NEO4J_URI, which it wipes. Each benchmark
states its target (README "Benchmarks"); speed is judged as a ratio against a baseline measured
in the same run wherever one exists."""

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = ROOT / "var" / "bench.sqlite3"
OWN_DB = "DATABASE_URL" not in os.environ  # then every run starts from a new one (see main)
os.environ.setdefault("DATABASE_URL", f"sqlite:///{BENCH_DB}")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
# The simulated fleet is on loopback, which the production default allow-list leaves out.
os.environ.setdefault("DISCOVERY_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16")
sys.path.insert(0, str(ROOT))

BENCHES = [
    "crawl",
    "graph_ingest",
    "graph_queries",
    "gateway",
    "pages",
    "explorer",
    "security",
    "otlp",
    "central",
    "events",
    "history",
    "catalog",
    "scorecards",
    "scale",
    "crawl_scale",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("only", nargs="*", help=f"benchmarks to run, of {', '.join(BENCHES)} (default: all)")
    args = parser.parse_args()
    unknown = set(args.only) - set(BENCHES)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    (ROOT / "var").mkdir(exist_ok=True)
    if OWN_DB:
        # A run starts from an empty database: what an earlier run left (the central benchmark's
        # 1,000 services) would otherwise be crawled, matched and counted by this one.
        for path in (BENCH_DB, BENCH_DB.with_name(BENCH_DB.name + "-wal"), BENCH_DB.with_name(BENCH_DB.name + "-shm")):
            path.unlink(missing_ok=True)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import importlib

    rows = []
    for name in args.only or BENCHES:
        print(f"== {name}", flush=True)
        module = importlib.import_module(f"bench.{name}")
        started = time.time()
        for row in module.run():
            rows.append(row)
            print(f"   {row.name}: {row.value:g} {row.unit}", flush=True)
        print(f"   ({time.time() - started:.0f} s)", flush=True)
    width = max(len(r.name) for r in rows)
    print(f"\n{'benchmark'.ljust(width)}  {'value':>12}  unit      target            ok")
    for r in rows:
        ok = "" if r.ok is None else ("yes" if r.ok else "NO")
        print(f"{r.name.ljust(width)}  {r.value:>12.3f}  {r.unit:<8}  {r.target:<16}  {ok}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    path = out / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(
        json.dumps(
            {"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "rows": [r.as_dict() for r in rows]}, indent=1, default=str
        )
    )
    print(f"\nJSON: {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
