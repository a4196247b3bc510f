"""A Python client generated from the served OpenAPI document (openapi-python-client, at test
time, no network) works against a live gunicorn: lists, a create, a read back, and errors that
arrive as the typed ``Error`` model with the status the document lists."""

import importlib
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

GENERATOR = Path(sys.executable).parent / "openapi-python-client"
PACKAGE = "switchboard_api_client"


@pytest.fixture
def live(web_processes, django_user_model):
    """A live gunicorn; alice is a member of team alpha (which owns orders) and of no other team."""
    from rest_framework.authtoken.models import Token

    from catalog.services import service_create
    from teams.models import Org, Team
    from teams.services import member_add

    root = django_user_model.objects.create_superuser("root", "r@example.com", "pw")
    org = Org.objects.create(slug="acme", name="Acme")
    alpha = Team.objects.create(org=org, slug="alpha", name="Alpha")
    Team.objects.create(org=org, slug="beta", name="Beta")
    alice = django_user_model.objects.create_user("alice", "a@example.com", "pw")
    member_add(actor=root, team=alpha, user=alice)
    service_create(actor=root, team=alpha, slug="orders", name="Orders")
    (url,) = web_processes(1)
    return url, Token.objects.create(user=alice).key


@pytest.fixture
def client_package(live, tmp_path, monkeypatch):
    """Generates the client from the live schema into tmp_path and imports it."""
    url, token = live
    request = urllib.request.Request(f"{url}/api/schema/?format=json", headers={"Authorization": f"Token {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        (tmp_path / "schema.json").write_bytes(response.read())
    operations = sum(len(ops) for ops in json.loads((tmp_path / "schema.json").read_text())["paths"].values())
    (tmp_path / "config.yml").write_text(
        f"project_name_override: switchboard-client\npackage_name_override: {PACKAGE}\n"
    )
    generated = subprocess.run(
        [str(GENERATOR), "generate", "--path", "schema.json", "--config", "config.yml", "--output-path", "client"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PATH": f"{GENERATOR.parent}{os.pathsep}{os.environ['PATH']}"},  # its ruff post-hooks
    )
    output = generated.stdout + generated.stderr
    assert generated.returncode == 0, output
    # The generator names every endpoint or schema it had to skip under "Warning(s) encountered".
    # The one thing it may leave out is YAML, which it cannot carry: the catalog's descriptor
    # bodies (documented as JSON too, which it generates) and the export's YAML answer (the
    # generated call still returns the raw response). Anything else fails.
    warnings = output.split("WARNING parsing ")[1:]
    yaml_only = {"GET /api/v1/catalog/export", "POST /api/v1/catalog/locations/", "POST /api/v1/catalog/validate"}
    for warning in warnings:
        operation, _, detail = warning.partition(" within v1.")
        reason = detail.split("{", 1)[0]  # the text before the offending schema
        assert operation in yaml_only and "Unsupported content" in reason and "application/yaml" in reason, warning
    rest = output.split("WARNING parsing ")[0]
    assert "Skipping" not in output and ("Warning" not in rest or warnings), output
    modules = [p for p in (tmp_path / "client" / PACKAGE / "api").rglob("*.py") if p.name != "__init__.py"]
    assert len(modules) == operations  # one module per documented operation: none dropped
    monkeypatch.syspath_prepend(str(tmp_path / "client"))
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        monkeypatch.delitem(sys.modules, name)
    return importlib.import_module(PACKAGE), url, token


def test_generated_client_calls_the_live_api(client_package):
    package, url, token = client_package
    api = importlib.import_module(f"{PACKAGE}.api.v1")
    models = importlib.import_module(f"{PACKAGE}.models")
    ops = {
        name: importlib.import_module(f"{PACKAGE}.api.v1.{name}")
        for name in ("v1_services_list", "v1_services_create", "v1_services_retrieve", "v1_teams_list")
    }
    assert api is not None
    client = package.AuthenticatedClient(base_url=url, token=token, prefix="Token", raise_on_unexpected_status=True)

    with client:
        listed = ops["v1_services_list"].sync_detailed(client=client)
        assert listed.status_code == 200
        assert isinstance(listed.parsed, models.PaginatedServiceListList)
        assert [s.slug for s in listed.parsed.results] == ["orders"]

        teams = ops["v1_teams_list"].sync(client=client, q="alp")
        assert [t.slug for t in teams.results] == ["alpha"]

        created = ops["v1_services_create"].sync_detailed(
            client=client,
            body=models.ServiceRequest(slug="billing", name="Billing", team="alpha", tier=models.TierEnum(1)),
        )
        assert created.status_code == 201, created.content
        assert isinstance(created.parsed, models.Service)
        assert (created.parsed.slug, created.parsed.team) == ("billing", "alpha")

        read = ops["v1_services_retrieve"].sync(client=client, slug="billing")
        assert isinstance(read, models.Service)
        assert (read.name, read.team, read.tier) == ("Billing", "alpha", models.TierEnum(1))

        again = ops["v1_services_create"].sync_detailed(
            client=client, body=models.ServiceRequest(slug="billing", name="Billing again", team="alpha")
        )
        assert isinstance(again.parsed, models.Error), again.content
        assert (again.status_code, again.parsed.code) == (400, "invalid")
        assert "slug" in again.parsed.fields.additional_properties

        elsewhere = ops["v1_services_create"].sync_detailed(
            client=client, body=models.ServiceRequest(slug="payments", name="Payments", team="beta")
        )
        assert isinstance(elsewhere.parsed, models.Error), elsewhere.content
        assert (elsewhere.status_code, elsewhere.parsed.code) == (403, "permission_denied")

        missing = ops["v1_services_retrieve"].sync_detailed(client=client, slug="nope")
        assert isinstance(missing.parsed, models.Error)
        assert (missing.status_code, missing.parsed.code) == (404, "not_found")

    from catalog.models import Service

    assert sorted(Service.objects.values_list("slug", flat=True)) == ["billing", "orders"]
