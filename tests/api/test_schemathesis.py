"""The OpenAPI document as a contract: every documented operation, called by schemathesis as a
generated client would (valid and invalid input) against a live gunicorn, must answer with a
status code, content type and body the document lists for it, and never a 5xx."""

import json
import urllib.request

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup
from schemathesis.core.media_types import YAML_MEDIA_TYPES


@schemathesis.deserializer(*YAML_MEDIA_TYPES)
def _yaml_stream_as_text(ctx, response):
    """A YAML response (the catalog export, a stream of many documents) is documented as one
    string: check it as the text it is, not as one parsed document."""
    return response.content.decode(response.encoding or "utf-8")


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = {GenerationMode.POSITIVE: 3, GenerationMode.NEGATIVE: 2}  # per operation: about 60 s on 2 cores


@pytest.fixture
def live_api(web_processes, django_user_model):
    """A live gunicorn with a catalog to work on and a superuser's API token; returns
    (base URL, Authorization header, the schema as served)."""
    from rest_framework.authtoken.models import Token

    from catalog.services import api_create, service_create
    from teams.models import Org, Team

    root = django_user_model.objects.create_superuser("root", "r@example.com", "pw")
    team = Team.objects.create(org=Org.objects.create(slug="acme", name="Acme"), slug="alpha", name="Alpha")
    svc = service_create(actor=root, team=team, slug="orders", name="Orders")
    api_create(actor=root, provider=svc, slug="orders-v1", name="Orders v1")
    auth = f"Token {Token.objects.create(user=root).key}"
    (url,) = web_processes(1, workers=2)
    request = urllib.request.Request(f"{url}/api/schema/?format=json", headers={"Authorization": auth})
    with urllib.request.urlopen(request, timeout=30) as response:
        document = json.load(response)
    return url, auth, document


def run_operation(operation, mode, examples, url, auth, failures: set[str]) -> None:
    """Calls one operation with `examples` generated cases; adds every failed check to `failures`."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
    )
    def check(case):
        response = case.call(base_url=url, headers={"Authorization": auth}, timeout=30)
        try:
            case.validate_response(response, checks=CHECKS, headers={"Authorization": auth})
        except FailureGroup as group:  # collect every operation's failures, then report them all
            for failure in group.exceptions:
                failures.add(f"{operation.label} [{mode.value}] {response.status_code}: {failure.title}")

    try:
        check()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE, operation.label  # nothing in it can be made invalid


# It generates cases for every operation: 110 s in CI with two suites sharing two cores, more on a
# busier machine, so it gets more than pytest.ini's 300 s.
@pytest.mark.timeout(1200)
def test_every_operation_answers_as_documented(live_api):
    url, auth, document = live_api
    schema = schemathesis.openapi.from_dict(document)
    failures: set[str] = set()
    operations = 0
    for result in schema.get_all_operations():
        operations += 1
        for mode, examples in EXAMPLES.items():
            run_operation(result.ok(), mode, examples, url, auth, failures)
    assert operations > 30
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(sorted(failures))
