"""Catalog as code (issue 12): a git location of 5,000 Backstage entities (1 org, 500 teams,
3,000 services, 1,000 APIs, 250 users, 249 systems, in 50 files of a real git repository).

- validate: read, check and plan every file against an empty catalog (target ≤ 5 s);
- import: the first refresh of the location end to end (clone, read, plan, write through the
  services, provenance, audit) into an empty catalog (target ≤ 30 s);
- unchanged refresh: the same commit again (target ≤ 3 s) and zero writes to the catalog
  (INSERT/UPDATE/DELETE statements counted, the run's own record excluded)."""

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import connection

from bench.common import Row

TEAMS, SERVICES_PER_TEAM, APIS_PER_TEAM, USERS, SYSTEMS = 500, 6, 2, 250, 249
FILES = 50


def _descriptors() -> dict[str, str]:
    """File name -> YAML: the org first, then teams in FILES groups with their users, systems,
    services and APIs (an API next to the service that provides it)."""
    docs: dict[str, list[str]] = {"org.yaml": [_group("bench-org", "organization", None)]}
    for t in range(TEAMS):
        team = f"team-{t:03d}"
        out = docs.setdefault(f"teams/part-{t % FILES:02d}.yaml", [])
        out.append(_group(team, "team", "bench-org"))
        system = f"system-{t:03d}" if t < SYSTEMS else None
        if system:
            out.append(
                "apiVersion: backstage.io/v1alpha1\nkind: System\nmetadata:\n"
                f"  name: {system}\nspec:\n  owner: {team}\n"
            )
        if t < USERS:
            out.append(
                f"apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata:\n  name: user-{t:03d}\n"
                f"spec:\n  profile:\n    email: user-{t:03d}@example.com\n  memberOf: [{team}]\n"
            )
        for s in range(SERVICES_PER_TEAM):
            service = f"svc-{t:03d}-{s}"
            provides = f"  providesApis: [api-{t:03d}-{s}]\n" if s < APIS_PER_TEAM else ""
            out.append(
                f"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {service}\n"
                f"  annotations:\n    switchboard.io/tier: '2'\n"
                f"spec:\n  type: service\n  lifecycle: production\n  owner: {team}\n"
                + (f"  system: {system}\n" if system else "")
                + provides
            )
            if s < APIS_PER_TEAM:
                out.append(
                    f"apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata:\n  name: api-{t:03d}-{s}\n"
                    f"spec:\n  type: grpc\n  lifecycle: production\n  owner: {team}\n"
                    f"  definition: 'service S{t}x{s} {{ rpc Get (R) returns (R) {{}} }}'\n"
                )
    return {name: "---\n".join(parts) for name, parts in docs.items()}


def _group(name: str, kind: str, parent: str | None) -> str:
    return (
        f"apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: {name}\nspec:\n  type: {kind}\n"
        + (f"  parent: {parent}\n" if parent else "")
        + "  children: []\n"
    )


def _git(*args, cwd):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


class _WriteCounter:
    """Counts INSERT/UPDATE/DELETE statements, except on the refresh run's own table."""

    def __init__(self):
        self.writes: list[str] = []

    def __call__(self, execute, sql, params, many, context):
        head = sql.lstrip()[:6].upper()
        if head in ("INSERT", "UPDATE", "DELETE") and "catalog_locationrun" not in sql:
            self.writes.append(sql[:120])
        return execute(sql, params, many, context)


def run():
    from catalog import services
    from catalog.descriptors.plan import plan_files
    from catalog.models import Api, Location, Service, System
    from teams.models import Org, Team

    def remove_imported():
        """What an import of this benchmark wrote: removed before it runs (a run stopped half way)
        and after it (the bench database is shared: the page benchmarks count services)."""
        Location.objects.filter(target__startswith="file://").filter(target__contains="sb-bench-catalog-").delete()
        Api.objects.filter(slug__startswith="api-", provider__team__org__slug="bench-org").delete()
        Service.objects.filter(team__org__slug="bench-org").delete()
        System.objects.filter(team__org__slug="bench-org").delete()
        User.objects.filter(username__startswith="user-", email__endswith="@example.com").delete()
        Team.objects.filter(org__slug="bench-org").delete()
        Org.objects.filter(slug="bench-org").delete()

    User = get_user_model()
    remove_imported()
    root = User.objects.filter(username="bench-root").first() or User.objects.create_superuser(
        "bench-root", "root@example.com", None
    )
    work = Path(tempfile.mkdtemp(prefix="sb-bench-catalog-"))
    try:
        repo, origin = work / "work", work / "origin.git"
        _git("init", "-q", "--bare", "--initial-branch=main", str(origin), cwd=work)
        _git("init", "-q", "--initial-branch=main", str(repo), cwd=work)
        files = _descriptors()
        for name, text in files.items():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).write_text(text)
        entities = sum(text.count("kind: ") for text in files.values())
        _git("add", "-A", cwd=repo)
        _git("-c", "user.email=b@e", "-c", "user.name=b", "commit", "-qm", "catalog", cwd=repo)
        _git("push", "-q", str(origin), "main", cwd=repo)

        started = time.perf_counter()
        plan = plan_files([(n, t.encode(), None) for n, t in files.items()], location="bench")
        validate_s = time.perf_counter() - started
        assert plan.ok, plan.problems[:3]

        location, _, first = services.location_create(
            actor=root, kind="git", target=f"file://{origin}", branch="main", path_glob="**/*.yaml"
        )
        started = time.perf_counter()
        first = services.location_refresh_run(first.pk)
        import_s = time.perf_counter() - started
        assert first.status == "succeeded", (first.error, first.errors[:3])
        assert Service.objects.count() >= TEAMS * SERVICES_PER_TEAM and Api.objects.count() >= TEAMS * APIS_PER_TEAM

        counter = _WriteCounter()
        again = services.location_refresh(actor=None, location=location, trigger="manual")
        started = time.perf_counter()
        with connection.execute_wrapper(counter):
            again = services.location_refresh_run(again.pk)
        unchanged_s = time.perf_counter() - started
        assert again.status == "unchanged", again.status
    finally:
        shutil.rmtree(work, ignore_errors=True)
        remove_imported()
    detail = {"entities": entities, "files": len(files)}
    yield Row("catalog validate 5,000 entities", validate_s, "s", "<= 5 s", validate_s <= 5, detail)
    yield Row("catalog import 5,000 entities (git, end to end)", import_s, "s", "<= 30 s", import_s <= 30, detail)
    yield Row("catalog unchanged refresh", unchanged_s, "s", "<= 3 s", unchanged_s <= 3, detail)
    yield Row(
        "catalog unchanged refresh: catalog writes",
        len(counter.writes),
        "writes",
        "0",
        not counter.writes,
        {"first": counter.writes[:5]},
    )
