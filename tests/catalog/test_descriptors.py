"""Issue 12, catalog as code: Backstage descriptors read within limits, validated per kind with
file:line: field: message errors, imported all or nothing through the services (limits, audit,
provenance, orphans), exported back, and a round trip through an empty catalog. Real database,
real services; the descriptor files are in tests/catalog/descriptors/."""

import io
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.core.management import CommandError, call_command

from catalog.descriptors import reader
from catalog.descriptors.plan import plan_files
from catalog.models import Api, Domain, Location, ManagedEntity, Resource, Service, System
from core.models import AuditEvent
from teams.models import Membership, Org, Team

HERE = Path(__file__).parent / "descriptors"
ACME = HERE / "acme" / "catalog-info.yaml"
OPS = HERE / "acme" / "ops.yaml"
BROKEN = HERE / "invalid" / "broken.yaml"


def _validate(*paths) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("catalog_validate", *map(str, paths), stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        code = exc.returncode
    return code, out.getvalue(), err.getvalue()


def _import(path, actor):
    from catalog import services

    return services.location_import(actor=actor, target=str(path), content=path.read_bytes(), base_dir=path.parent)


def _rows() -> dict:
    return {
        "orgs": sorted(Org.objects.values_list("slug", "name", "description")),
        "teams": sorted(Team.objects.values_list("slug", "name", "org__slug", "oncall_contact", "description")),
        "members": sorted(Membership.objects.values_list("team__slug", "user__username", "role")),
        "domains": sorted(Domain.objects.values_list("slug", "name", "team__slug", "parent__slug", "description")),
        "systems": sorted(System.objects.values_list("slug", "name", "team__slug", "domain__slug", "description")),
        "resources": sorted(Resource.objects.values_list("slug", "name", "type", "team__slug", "system__slug")),
        "services": sorted(
            Service.objects.values_list(
                "slug",
                "name",
                "team__slug",
                "system__slug",
                "tier",
                "lifecycle",
                "base_url",
                "aliases",
                "metrics_path",
                "health_path",
                "description",
                "repository_url",
                "crawl_enabled",
            )
        ),
        "consumes": sorted(Service.consumes.through.objects.values_list("service__slug", "api__slug")),
        "depends": sorted(Resource.dependents.through.objects.values_list("resource__slug", "service__slug")),
        "apis": sorted(
            Api.objects.values_list("slug", "name", "provider__slug", "kind", "lifecycle", "version", "base_path")
        ),
        "specs": {a.slug: a.spec for a in Api.objects.all()},
    }


# --- reading: limits ------------------------------------------------------------------------------
pytestmark_unit = pytest.mark.unit


@pytest.mark.unit
def test_billion_laughs_is_refused_at_the_first_alias_without_expanding():
    bomb = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8)
    )
    docs, problems = reader.read(bomb, file="bomb.yaml")
    assert docs == []
    assert [str(p) for p in problems] == [
        "bomb.yaml:2: -: YAML aliases ('*a') are not accepted in descriptors; write the value out."
    ]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"\x00\x01\x02binary", "bin.yaml:0: -: The file is binary (it has NUL bytes), not YAML text."),
        (b"kind: \xff\xfe", "bin.yaml:0: -: The file is not UTF-8 text (byte 6)."),
        ("a: " + "[" * 40 + "]" * 40, "bin.yaml:1: -: Nested deeper than 32 levels."),
        ("a: 1\na: 2\n", "bin.yaml:2: -: Duplicate key 'a'."),
        ("[" * 100_000, "bin.yaml:1: -: "),  # refused before anything recurses that deep
        ("a: [\n", "bin.yaml:2: -: Not valid YAML: did not find expected node content."),
        ("a: !!python/object:os.system {}\n", "could not determine a constructor"),
        # a YAML escape that writes a NUL: no PostgreSQL text column takes it (found by probing: 500)
        ('a: 1\nb:\n  c: "x\\0y"\n', "bin.yaml:1: -: Text may not contain a NUL character"),
    ],
)
def test_what_is_not_plain_yaml_text_is_refused_with_a_reason(raw, expected):
    docs, problems = reader.read(raw, file="bin.yaml")
    assert docs == [] and len(problems) == 1 and expected in str(problems[0])


@pytest.mark.unit
def test_size_and_document_count_are_bounded(settings):
    settings.CATALOG_MAX_BYTES = 1000
    _, problems = reader.read("a: b\n" * 300, file="big.yaml")
    assert str(problems[0]) == "big.yaml:0: -: The file is 1500 bytes; at most 1000 are read."
    settings.CATALOG_MAX_BYTES, settings.CATALOG_MAX_DOCUMENTS = 100_000, 50
    _, problems = reader.read("x: 1\n---\n" * 51, file="many.yaml")
    assert str(problems[0]) == "many.yaml:0: -: More than 50 YAML documents in one file."


# --- validation -------------------------------------------------------------------------------------
def test_every_kind_in_multi_document_files_validates_and_the_diff_is_printed(db):
    code, out, err = _validate(HERE / "acme")
    assert code == 0, err
    for line in (
        "org: 1 create",
        "team: 2 create",
        "user: 2 create",
        "domain: 2 create",
        "system: 2 create",
        "resource: 2 create",
        "service: 3 create",
        "api: 3 create",
    ):
        assert line in out
    assert f"skipped {ACME}:12: Group commerce-area: group type 'product-area'" in out
    assert f"skipped {ACME}:137: Component web: component type 'website' is not a service" in out
    assert f"skipped {ACME}:200: Location more:" in out
    assert Service.objects.count() == 0  # a dry run


def test_invalid_descriptors_list_every_error_as_file_line_field_message(db):
    code, _, err = _validate(BROKEN)
    assert code == 1
    f = str(BROKEN)
    for expected in (
        f"{f}:4: metadata.name: 'Bad Name!' is not a valid name",
        f"{f}:14: metadata.namespace: Must be 1-63 lower-case letters",
        f"{f}:15: metadata.tags: 'UPPER' is not a tag",
        f"{f}:18: metadata.labels: 'bad key!'",
        f"{f}:20: spec.owner: Required for kind Component.",
        f"{f}:27: spec.owner: user:default/someone is neither in these files nor a team in the catalog.",
        f"{f}:29: spec.definition.$text: '../../../../etc/passwd' leaves the descriptor's directory.",
        f"{f}:40: spec.definition.$text: '/etc/passwd' must be a path relative to the descriptor.",
        f"{f}:51: spec.parent: A team needs a parent Group of type organization or business-unit.",
        f"{f}:64: metadata.annotations.switchboard.io/tier: '9' is not a tier (1 to 4).",
        f"{f}:65: metadata.annotations.switchboard.io/base-url: Enter a valid URL.",
        f"{f}:68: spec.lifecycle: 'retired' is not one of experimental, production, deprecated.",
        f"{f}:70: spec.dependsOn: 'payments-db' needs a kind",
        f"{f}:78: spec.subdomainOf: Domains would loop: loop-a -> loop-b -> loop-a.",
        f"{f}:91: metadata.name: system:default/lonely is also defined at {f}:22.",
    ):
        assert expected in err, f"missing: {expected}\n{err}"
    assert "CommandError" not in err or "nothing would change" in err


def test_limits_are_checked_as_they_would_stand_after_the_import(world, settings):
    docs = [
        "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: acme}\nspec: {type: organization, children: []}\n"
    ]
    docs.append(
        "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: payments}\nspec: {type: team, parent: acme, children: []}\n"
    )
    docs += [
        f"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: svc-{i}}}\n"
        f"spec: {{type: service, lifecycle: production, owner: payments}}\n"
        for i in range(9)
    ]
    plan = plan_files([("many.yaml", "---\n".join(docs), None)])
    assert [str(p) for p in plan.problems] == ["many.yaml:14: spec.owner: team payments would own 9 services (max 8)"]


def test_namespaces_map_to_prefixed_slugs_and_references_default_to_the_entitys_namespace(world):
    _import(ACME, world["root"])
    _import(OPS, world["root"])
    deployer = Service.objects.get(slug="ops--deployer")
    assert deployer.system.slug == "ops--checkout" and deployer.team.slug == "storefront"
    assert System.objects.get(slug="checkout").team.slug == "payments"  # default/checkout is another system
    assert ManagedEntity.objects.get(kind="system", slug="ops--checkout").metadata["namespace"] == "ops"


# --- import ---------------------------------------------------------------------------------------------
def test_import_writes_every_kind_through_the_services_with_provenance(world):
    location, plan = _import(ACME, world["root"])
    assert plan.summary()["service"] == {"create": 2}
    payments = Service.objects.get(slug="payments")
    assert (payments.team.slug, payments.system.slug, payments.tier) == ("payments", "checkout", 1)
    assert payments.aliases == ["payments.prod", "10.0.0.10:8080"] and payments.metrics_path == "/internal/metrics"
    assert list(payments.consumes.values_list("slug", flat=True)) == ["catalog-api"]
    assert list(payments.resources.values_list("slug", flat=True)) == ["payments-db"]
    assert Domain.objects.get(slug="checkout-domain").parent.slug == "commerce"
    assert Team.objects.get(slug="payments").org.slug == "acme-corp"  # through the product-area group
    assert Team.objects.get(slug="payments").oncall_contact == "payments-oncall@acme.example"
    api = Api.objects.get(slug="payments-api")  # $text, next to the descriptor
    assert api.provider.slug == "payments" and api.spec["info"]["version"] == "2.1"
    assert Api.objects.get(slug="catalog-events").spec == {
        "definition": 'asyncapi: 2.6.0\ninfo: {title: Catalog events, version: "1"}\nchannels: {}\n'
    }
    jane = Membership.objects.get(user__username="jane.doe")
    assert (jane.team.slug, jane.role, jane.user.is_active, jane.user.has_usable_password()) == (
        "payments",
        "lead",
        False,
        False,
    )
    managed = ManagedEntity.objects.get(kind="service", slug="payments")
    assert (managed.location, managed.line) == (location, 108)
    assert managed.metadata["annotations"] == {"github.com/project-slug": "acme/payments"}
    assert managed.metadata["labels"] == {"acme.example/cost-center": "cc-42"} and managed.metadata["tags"] == [
        "python",
        "pci",
    ]
    assert managed.metadata["spec"] == {"dependsOn": ["component:web"]}
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        "org.create",
        "team.create",
        "user.import",
        "member.add",
        "service.create",
        "api.create",
        "location.import",
    } <= actions


def test_unknown_metadata_is_shown_on_the_service_page(world, client):
    _import(ACME, world["root"])
    client.force_login(world["reader"])
    page = client.get("/services/payments/").content.decode()
    for shown in (
        "Managed by",
        str(ACME),
        "github.com/project-slug",
        "acme/payments",
        "cc-42",
        "pci",
        "https://dashboards.acme.example/payments",
    ):
        assert shown in page


def test_an_import_with_one_bad_entity_writes_nothing(world):
    from catalog import services

    before = _rows(), AuditEvent.objects.count()
    text = ACME.read_text().replace(
        "lifecycle: experimental\n  owner: storefront\n  providesApis",
        "lifecycle: sunset\n  owner: storefront\n  providesApis",
    )
    with pytest.raises(services.DescriptorsInvalid) as refused:
        services.location_import(actor=world["root"], target="acme.yaml", content=text, base_dir=ACME.parent)
    assert refused.value.extra["errors"] == [
        {
            "file": "acme.yaml",
            "line": 152,
            "field": "spec.lifecycle",
            "message": "'sunset' is not one of experimental, production, deprecated.",
        }
    ]
    assert (_rows(), AuditEvent.objects.count()) == before and not Location.objects.exists()


def test_a_refusal_from_a_service_midway_rolls_everything_back(world):
    """A team member may create services, not orgs: the org is refused after nothing else was
    kept (the plan itself was valid)."""
    from core.errors import PermissionDenied

    before = _rows(), AuditEvent.objects.count()
    with pytest.raises(PermissionDenied):
        _import(ACME, world["member"])
    assert (_rows(), AuditEvent.objects.count()) == before and not Location.objects.exists()


def test_reimport_marks_what_disappeared_as_orphan_and_unchanged_means_no_writes(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from catalog import services

    _import(ACME, world["root"])
    with CaptureQueriesContext(connection) as queries:
        _, plan = _import(ACME, world["root"])
    assert all(set(counts) == {"unchanged"} for counts in plan.summary().values())
    writes = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    assert writes == []  # not the catalog, not provenance, not the audit trail
    text = ACME.read_text()
    cut = text.index("apiVersion: backstage.io/v1alpha1\nkind: Resource\nmetadata:\n  name: events")
    end = text.index("---", cut)
    text = text[:cut] + text[end + 4 :]
    text = text.replace("  dependsOn: [resource:events]\n", "")
    _, plan = services.location_import(actor=world["root"], target=str(ACME), content=text, base_dir=ACME.parent)
    assert plan.orphans == [("resource", "events")]
    orphan = ManagedEntity.objects.get(kind="resource", slug="events")
    assert orphan.orphaned_at is not None and Resource.objects.filter(slug="events").exists()  # kept


def test_two_locations_may_not_claim_the_same_entity(world):
    from catalog import services

    _import(ACME, world["root"])
    with pytest.raises(services.DescriptorsInvalid) as refused:
        services.location_import(
            actor=world["root"], target="copy.yaml", content=ACME.read_bytes(), base_dir=ACME.parent
        )
    assert f"service 'payments' is already managed by location '{ACME}'." in [
        e["message"] for e in refused.value.extra["errors"]
    ]


# --- REST ------------------------------------------------------------------------------------------------
def test_rest_validate_takes_a_yaml_body_like_curl_sends_it(world, api):
    client = api(world["reader"])
    body = OPS.read_bytes()
    response = client.post("/api/v1/catalog/validate?name=ops.yaml", body, content_type="application/yaml")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["valid"] is False  # storefront is not in the catalog yet
    assert data["errors"][0] == {
        "file": "ops.yaml",
        "line": 9,
        "field": "spec.owner",
        "message": "group:default/storefront is neither in these files nor a team in the catalog.",
    }
    response = client.post(
        "/api/v1/catalog/validate", {"name": "x.yaml", "content": ACME.read_text().split("---\n")[0]}, format="json"
    )
    assert response.json()["valid"] is True and response.json()["summary"] == {"org": {"create": 1}}


@pytest.mark.parametrize("path", ["/api/v1/catalog/validate", "/api/v1/catalog/locations/?name=x.yaml"])
@pytest.mark.parametrize("content_type", ["application/yaml", "text/plain"])
def test_an_empty_yaml_body_is_400(world, api, path, content_type):
    """Found by probing: DRF hands an empty body to no parser, and the view read a key that was
    not there (500)."""
    response = api(world["root"]).post(path, b"", content_type=content_type)
    assert response.status_code == 400, response.content[:300]
    assert response.json()["fields"] == {"content": ["Empty body."]}
    assert not Location.objects.exists()


def test_the_name_of_a_yaml_body_is_checked_like_a_json_one(world, api):
    """A NUL in ``?name=`` was stored as the location's name (PostgreSQL would refuse it: 500)."""
    client = api(world["root"])
    body = ACME.read_bytes()
    for name in ("a\x00b.yaml", "x" * 501 + ".yaml"):
        response = client.post(
            f"/api/v1/catalog/locations/?{urlencode({'name': name})}", body, content_type="application/yaml"
        )
        assert response.status_code == 400, response.content[:300]
        assert "name" in response.json()["fields"]
    assert not Location.objects.exists()


def test_a_50_mb_body_is_refused_before_it_is_read(world, api):
    client = api(world["root"])
    response = client.post("/api/v1/catalog/locations/", b"a" * (50 * 1024 * 1024), content_type="application/yaml")
    assert response.status_code == 413 and response.json()["code"] == "body_too_large"
    assert not Location.objects.exists()


def test_rest_location_upload_imports_or_lists_every_error(world, api):
    client = api(world["root"])
    bad = client.post(
        "/api/v1/catalog/locations/?name=broken.yaml", BROKEN.read_bytes(), content_type="application/yaml"
    )
    assert bad.status_code == 400 and bad.json()["code"] == "descriptors_invalid"
    assert len(bad.json()["errors"]) >= 15 and not Service.objects.exists()
    text = ACME.read_text().replace("    $text: ./apis/payments.yaml\n", "    $text: ./apis/payments.yaml\n")
    upload = client.post("/api/v1/catalog/locations/?name=acme.yaml", text, content_type="application/yaml")
    assert upload.status_code == 400  # an upload has no directory: $text is refused, with the reason
    assert (
        upload.json()["errors"][0]["message"] == "$text is read only from descriptor files on disk, not from an upload."
    )
    inline = text.replace(
        "  definition:\n    $text: ./apis/payments.yaml\n",
        "  definition: |\n"
        + "".join("    " + line for line in (ACME.parent / "apis" / "payments.yaml").read_text().splitlines(True)),
    )
    upload = client.post("/api/v1/catalog/locations/?name=acme.yaml", inline, content_type="application/yaml")
    assert upload.status_code == 201, upload.content
    assert upload.json()["location"]["entities"] == 15 and upload.json()["plan"]["summary"]["service"] == {"create": 2}
    assert client.get("/api/v1/catalog/locations/").json()["results"][0]["target"] == "acme.yaml"


def test_only_its_uploader_or_a_superuser_uploads_a_location_again(world, api):
    """Found by probing: any signed-in user could replace another's upload of the same name,
    orphaning what it described."""
    first = "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: mine\nspec:\n  targets: []\n"
    url = "/api/v1/catalog/locations/?name=team.yaml"
    assert api(world["member"]).post(url, first, content_type="application/yaml").status_code == 201
    other = first.replace("name: mine", "name: theirs")
    refused = api(world["other"]).post(url, other, content_type="application/yaml")
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert Location.objects.get(target="team.yaml").body == first
    assert api(world["root"]).post(url, other, content_type="application/yaml").status_code == 201
    assert Location.objects.get(target="team.yaml").body == other


# --- export and round trip -----------------------------------------------------------------------------------
def _empty_the_catalog():
    from django.contrib.auth import get_user_model

    Service.consumes.through.objects.all().delete()
    Resource.dependents.through.objects.all().delete()
    for model in (ManagedEntity, Location, Api, Resource, Service, System):
        model.objects.all().delete()
    Domain.objects.update(parent=None)
    Domain.objects.all().delete()
    Membership.objects.all().delete()
    Team.objects.all().delete()
    Org.objects.all().delete()
    get_user_model().objects.exclude(is_superuser=True).delete()


def test_round_trip_export_import_into_an_empty_catalog_reproduces_it(world, api):
    from catalog import services

    _import(ACME, world["root"])
    _import(OPS, world["root"])
    before = _rows()
    response = api(world["root"]).get("/api/v1/catalog/export?format=backstage")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/yaml")
    exported = response.content.decode()
    _empty_the_catalog()
    assert not Service.objects.exists()
    assert plan_files([("export.yaml", exported, None)]).ok  # the export passes our own Backstage rules
    services.location_import(actor=world["root"], target="export.yaml", content=exported)
    assert _rows() == before
    again = api(world["root"]).get("/api/v1/catalog/export?format=backstage").content.decode()
    assert again == exported


def test_export_command_and_emails_only_for_superusers(world, api):
    _import(ACME, world["root"])
    out = io.StringIO()
    call_command("catalog_export", "--org", "acme-corp", stdout=out)
    assert "kind: Component" in out.getvalue() and "jane@acme.example" not in out.getvalue()
    assert "jane@acme.example" not in api(world["reader"]).get("/api/v1/catalog/export").content.decode()
    assert "jane@acme.example" in api(world["root"]).get("/api/v1/catalog/export").content.decode()
    refused = api(world["reader"]).get("/api/v1/catalog/export?format=json")
    assert refused.status_code == 400 and refused.json()["code"] == "invalid"


# --- provenance: managed fields ---------------------------------------------------------------------------
def test_managed_fields_answer_409_naming_the_file_everywhere_and_unmanaged_ones_stay_editable(world, api, client):
    import json

    _import(ACME, world["root"])
    rest = api(world["root"])
    refused = rest.patch("/api/v1/services/payments/", {"description": "by hand"}, format="json")
    assert refused.status_code == 409, refused.content
    body = refused.json()
    assert body["code"] == "managed_by_location" and body["location"] == str(ACME) and body["line"] == 108
    assert str(ACME) in body["detail"] and body["fields"] == {"description": [f"Managed by {ACME}."]}
    assert rest.delete("/api/v1/services/payments/").json()["code"] == "managed_by_location"
    assert rest.patch("/api/v1/systems/checkout/", {"team": "storefront"}, format="json").status_code == 409
    assert rest.put("/api/v1/services/payments/consumes/", {"apis": []}, format="json").status_code == 409
    # the same values, and fields no location manages, are accepted
    assert rest.patch("/api/v1/services/payments/", {"description": "Charges cards"}, format="json").status_code == 200
    assert rest.patch("/api/v1/services/payments/", {"crawl_enabled": False}, format="json").status_code == 200
    client.force_login(world["root"])
    document = 'mutation { updateService(slug: "payments", input: {tier: 2}) { service { tier } } }'
    data = client.post("/graphql", json.dumps({"query": document}), content_type="application/json").json()
    assert data["errors"][0]["extensions"]["code"] == "managed_by_location"
    page = client.post(
        "/services/payments/edit/",
        {
            "name": "Renamed",
            "tier": 1,
            "lifecycle": "production",
            "metrics_path": "/internal/metrics",
            "health_path": "/internal/health",
        },
    )
    assert page.status_code == 400 and f"Managed by {ACME}." in page.content.decode()
    service = Service.objects.get(slug="payments")
    assert (service.name, service.tier, service.description, service.crawl_enabled) == (
        "Payments service",
        1,
        "Charges cards",
        False,
    )


def test_an_orphan_is_no_longer_managed(world, api):
    from catalog import services

    _import(ACME, world["root"])
    text = ACME.read_text().replace(
        "kind: Resource\nmetadata:\n  name: events\n", "kind: Resource\nmetadata:\n  name: events-v2\n"
    )
    text = text.replace("dependsOn: [resource:events]", "dependsOn: [resource:events-v2]")
    services.location_import(actor=world["root"], target=str(ACME), content=text, base_dir=ACME.parent)
    response = api(world["root"]).patch("/api/v1/resources/events/", {"description": "old topic"}, format="json")
    assert response.status_code == 200, response.content
