"""catalog.openapi_diff: each breaking change kind, the changes that are not breaking, and
documents built to cost a lot ($ref chains, cycles, fan-out, size)."""

import copy

import pytest

from catalog import openapi_diff
from catalog.openapi_diff import breaking_changes, semver_major


def base() -> dict:
    return {
        "openapi": "3.0.3",
        "info": {"title": "pets", "version": "1.0.0"},
        "paths": {
            "/pets": {
                "get": {
                    "parameters": [
                        {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                        {"name": "kind", "in": "query", "schema": {"type": "string", "enum": ["cat", "dog", "fish"]}},
                    ],
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {
                                    "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Pet"}}
                                }
                            },
                        }
                    },
                },
                "post": {
                    "requestBody": {
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewPet"}}},
                    },
                    "responses": {"201": {"description": "made"}},
                },
            },
            "/pets/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "get": {
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}},
                        }
                    }
                },
                "delete": {"responses": {"204": {"description": "gone"}}},
            },
        },
        "components": {
            "schemas": {
                "Pet": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "name": {"type": "string"},
                        "age": {"type": "integer"},
                        "owner": {"$ref": "#/components/schemas/Owner"},
                    },
                },
                "Owner": {"type": "object", "properties": {"email": {"type": "string"}}},
                "NewPet": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string"},
                        "size": {"type": "string", "enum": ["s", "m", "l"]},
                        "tag": {"type": "string"},
                    },
                },
            },
            "securitySchemes": {
                "key": {"type": "apiKey", "in": "header", "name": "X-Key"},
                "oauth": {"type": "oauth2", "flows": {"clientCredentials": {"tokenUrl": "/t", "scopes": {}}}},
            },
        },
    }


def kinds(old, new) -> list[str]:
    return [c.kind for c in breaking_changes(old, new).changes]


def only(old, new) -> openapi_diff.Change:
    diff = breaking_changes(old, new)
    assert len(diff.changes) == 1, diff.changes
    return diff.changes[0]


def test_identical_documents_have_no_change():
    assert breaking_changes(base(), base()).changes == []
    assert not breaking_changes(base(), base()).breaking


def test_nothing_to_compare_is_no_change():
    assert breaking_changes(None, base()).changes == []
    assert breaking_changes(base(), {}).changes == []


def test_removed_path():
    new = base()
    del new["paths"]["/pets/{id}"]
    c = only(base(), new)
    assert (c.kind, c.location) == ("path_removed", "/paths/~1pets~1{id}")
    assert "/pets/{id}" in c.message


def test_renamed_path_parameter_is_the_same_path():
    new = base()
    item = new["paths"].pop("/pets/{id}")
    item["parameters"][0]["name"] = "petId"
    new["paths"]["/pets/{petId}"] = item
    assert kinds(base(), new) == []


def test_removed_operation():
    new = base()
    del new["paths"]["/pets/{id}"]["delete"]
    c = only(base(), new)
    assert (c.kind, c.location) == ("operation_removed", "/paths/~1pets~1{id}/delete")


def test_new_required_parameter_and_optional_made_required():
    new = base()
    params = new["paths"]["/pets"]["get"]["parameters"]
    params.append({"name": "X-Tenant", "in": "header", "required": True, "schema": {"type": "string"}})
    params[0]["required"] = True
    diff = breaking_changes(base(), new)
    assert sorted((c.kind, c.location) for c in diff.changes) == [
        ("parameter_required", "/paths/~1pets/get/parameters/0"),
        ("parameter_required", "/paths/~1pets/get/parameters/2"),
    ]
    assert any("'X-Tenant' (new)" in c.message for c in diff.changes)
    assert any("'limit' (optional before)" in c.message for c in diff.changes)


def test_added_optional_parameter_is_not_breaking():
    new = base()
    new["paths"]["/pets"]["get"]["parameters"].append({"name": "q", "in": "query", "schema": {"type": "string"}})
    assert kinds(base(), new) == []


def test_new_required_request_field_through_ref():
    new = base()
    new["components"]["schemas"]["NewPet"]["required"] = ["name", "tag"]
    c = only(base(), new)
    assert c.kind == "request_field_required"
    assert c.location == "/paths/~1pets/post/requestBody/content/application~1json/schema/properties/tag"
    assert "'tag' (optional before)" in c.message


def test_new_required_field_in_allof():
    old, new = base(), base()
    for doc in (old, new):
        doc["components"]["schemas"]["NewPet"] = {"allOf": [{"$ref": "#/components/schemas/Owner"}]}
    new["components"]["schemas"]["NewPet"]["allOf"].append({"required": ["email"]})
    assert kinds(old, new) == ["request_field_required"]


def test_request_body_made_required():
    new = base()
    new["paths"]["/pets"]["post"]["requestBody"]["required"] = True
    assert kinds(base(), new) == ["request_body_required"]


def test_removed_response_field_nested_and_via_array_items():
    new = base()
    del new["components"]["schemas"]["Owner"]["properties"]["email"]
    diff = breaking_changes(base(), new)
    # Pet is reached from two operations; the shared schema pair is compared once.
    assert [c.kind for c in diff.changes] == ["response_field_removed"]
    assert diff.changes[0].location.endswith("/properties/owner/properties/email")


def test_retyped_response_field():
    new = base()
    new["components"]["schemas"]["Pet"]["properties"]["age"] = {"type": "string"}
    c = only(base(), new)
    assert c.kind == "response_field_retyped"
    assert c.location == "/paths/~1pets/get/responses/200/content/application~1json/schema/items/properties/age"


def test_response_narrowing_and_added_field_are_not_breaking():
    new = base()
    props = new["components"]["schemas"]["Pet"]["properties"]
    props["color"] = {"type": "string"}  # added response field
    old = base()
    old["components"]["schemas"]["Pet"]["properties"]["age"] = {"type": "number"}
    assert kinds(old, new) == []  # number -> integer: every integer was a number


def test_nullable_response_field_is_breaking():
    new = base()
    new["components"]["schemas"]["Pet"]["properties"]["name"] = {"type": "string", "nullable": True}
    assert kinds(base(), new) == ["response_field_retyped"]


def test_narrowed_enum_in_parameter_and_body():
    new = base()
    new["paths"]["/pets"]["get"]["parameters"][1]["schema"]["enum"] = ["cat", "dog"]
    new["components"]["schemas"]["NewPet"]["properties"]["size"]["enum"] = ["m", "l"]
    diff = breaking_changes(base(), new)
    assert sorted(c.kind for c in diff.changes) == ["enum_narrowed", "enum_narrowed"]
    assert {c.location for c in diff.changes} == {
        "/paths/~1pets/get/parameters/1/schema/enum",
        "/paths/~1pets/post/requestBody/content/application~1json/schema/properties/size/enum",
    }
    assert any("'fish'" in c.message for c in diff.changes)


def test_enum_added_where_none_was_is_narrowing():
    new = base()
    new["components"]["schemas"]["NewPet"]["properties"]["tag"]["enum"] = ["a"]
    assert kinds(base(), new) == ["enum_narrowed"]


def test_widened_enum_and_widened_type_are_not_breaking():
    new = base()
    new["paths"]["/pets"]["get"]["parameters"][1]["schema"]["enum"] = ["cat", "dog", "fish", "bird"]
    new["components"]["schemas"]["NewPet"]["properties"]["tag"] = {"type": ["string", "null"]}
    new["paths"]["/pets"]["get"]["parameters"][0]["schema"] = {"type": "number"}
    assert kinds(base(), new) == []


def test_request_type_narrowed():
    new = base()
    new["paths"]["/pets"]["get"]["parameters"][0]["schema"] = {"type": "string"}
    assert kinds(base(), new) == ["request_field_retyped"]


def test_added_path_and_operation_are_not_breaking():
    new = base()
    new["paths"]["/owners"] = {"get": {"responses": {"200": {"description": "ok"}}}}
    new["paths"]["/pets/{id}"]["patch"] = {"responses": {"200": {"description": "ok"}}}
    assert kinds(base(), new) == []


def test_auth_added_to_an_open_operation():
    new = base()
    new["security"] = [{"key": []}]
    diff = breaking_changes(base(), new)
    assert {c.kind for c in diff.changes} == {"security_changed"}
    assert len(diff.changes) == 4  # every operation
    assert "without auth" in diff.changes[0].message


def test_auth_changed_scheme_or_scopes_but_an_added_alternative_is_fine():
    old = base()
    old["security"] = [{"oauth": ["read"]}]
    new = copy.deepcopy(old)
    new["paths"]["/pets"]["get"]["security"] = [{"oauth": ["read"]}, {"key": []}]  # one more way: fine
    assert kinds(old, new) == []
    new["paths"]["/pets"]["post"]["security"] = [{"oauth": ["read", "write"]}]  # more scopes needed
    c = only(old, new)
    assert (c.kind, c.location) == ("security_changed", "/paths/~1pets/post/security")
    assert "oauth [read]" in c.message


def test_swagger2_documents():
    old = {
        "swagger": "2.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/a": {
                "post": {
                    "parameters": [
                        {"name": "body", "in": "body", "schema": {"type": "object", "properties": {"x": {}}}},
                        {"name": "mode", "in": "query", "type": "string", "enum": ["a", "b"]},
                    ],
                    "responses": {"200": {"description": "ok", "schema": {"properties": {"y": {"type": "string"}}}}},
                }
            }
        },
    }
    new = copy.deepcopy(old)
    op = new["paths"]["/a"]["post"]
    op["parameters"][0]["schema"]["required"] = ["x"]
    op["parameters"][1]["enum"] = ["a"]
    del op["responses"]["200"]["schema"]["properties"]["y"]
    assert sorted(kinds(old, new)) == ["enum_narrowed", "request_field_required", "response_field_removed"]


def test_cyclic_references_end():
    doc = base()
    doc["components"]["schemas"]["Owner"]["properties"]["pets"] = {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Pet"},
    }
    new = copy.deepcopy(doc)
    assert kinds(doc, new) == []
    del new["components"]["schemas"]["Pet"]["properties"]["name"]
    assert kinds(doc, new) == ["response_field_removed"]


def test_self_referencing_and_ref_loops_end():
    doc = base()
    schemas = doc["components"]["schemas"]
    schemas["A"] = {"$ref": "#/components/schemas/B"}
    schemas["B"] = {"$ref": "#/components/schemas/A"}  # a loop of references: no schema at its end
    schemas["Pet"]["properties"]["loop"] = {"$ref": "#/components/schemas/A"}
    schemas["Pet"]["properties"]["me"] = {"$ref": "#/components/schemas/Pet"}
    assert kinds(doc, copy.deepcopy(doc)) == []


def test_long_reference_chain_is_cut():
    doc = base()
    schemas = doc["components"]["schemas"]
    for i in range(500):
        schemas[f"S{i}"] = {"$ref": f"#/components/schemas/S{i + 1}"}
    schemas["S500"] = {"type": "object", "properties": {"z": {"type": "string"}}}
    schemas["Pet"]["properties"]["deep"] = {"$ref": "#/components/schemas/S0"}
    new = copy.deepcopy(doc)
    del new["components"]["schemas"]["S500"]["properties"]["z"]
    # past MAX_REF_HOPS the chain reads as an empty schema on both sides: nothing to compare, quickly
    assert kinds(doc, new) == []


def test_fan_out_of_shared_schemas_is_bounded(monkeypatch):
    """Each level's schema refers to the next one 20 times: a tree walk would visit 20^30
    nodes; pairs compared once keep it linear, and the step bound caps what is left."""
    doc = base()
    schemas = doc["components"]["schemas"]
    for i in range(30):
        schemas[f"L{i}"] = {
            "type": "object",
            "properties": {f"p{j}": {"$ref": f"#/components/schemas/L{i + 1}"} for j in range(20)},
        }
    schemas["L30"] = {"type": "object", "properties": {"leaf": {"type": "string"}}}
    schemas["Pet"]["properties"]["tree"] = {"$ref": "#/components/schemas/L0"}
    new = copy.deepcopy(doc)
    del new["components"]["schemas"]["L30"]["properties"]["leaf"]
    assert kinds(doc, new) == ["response_field_removed"]


def test_work_bound_reports_an_incomplete_comparison(monkeypatch):
    monkeypatch.setattr(openapi_diff, "MAX_STEPS", 50)
    doc = base()
    for i in range(100):
        doc["paths"][f"/p{i}"] = {"get": {"responses": {"200": {"description": "ok"}}}}
    diff = breaking_changes(doc, copy.deepcopy(doc))
    assert diff.truncated
    assert [c.kind for c in diff.changes] == ["comparison_incomplete"]


def test_big_document_with_many_removals_is_capped():
    old = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {}}
    for i in range(5000):
        old["paths"][f"/r{i}"] = {m: {"responses": {"200": {"description": "ok"}}} for m in ("get", "put", "delete")}
    new = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {}}
    diff = breaking_changes(old, new)
    assert diff.truncated
    assert len(diff.changes) == openapi_diff.MAX_CHANGES
    assert all(c.kind == "path_removed" for c in diff.changes)


def test_big_document_unchanged_is_compared_fully():
    doc = base()
    for i in range(3000):
        doc["paths"][f"/r{i}"] = copy.deepcopy(doc["paths"]["/pets"])
    diff = breaking_changes(doc, copy.deepcopy(doc))
    assert diff.changes == [] and not diff.truncated


def test_junk_in_places_of_objects_is_ignored():
    old = base()
    new = base()
    new["paths"]["/pets"]["get"]["parameters"] = "nonsense"
    new["paths"]["/pets"]["post"]["responses"] = [1, 2]
    new["paths"]["/pets/{id}"]["get"]["responses"]["200"] = {"$ref": "#/nowhere"}
    diff = breaking_changes(old, new)
    assert all(c.kind in openapi_diff.KINDS for c in diff.changes)


def test_change_as_dict():
    new = base()
    del new["paths"]["/pets"]
    assert only(base(), new).as_dict() == {
        "kind": "path_removed",
        "location": "/paths/~1pets",
        "message": "Path /pets was removed.",
    }


@pytest.mark.parametrize(
    "version,major", [("1.2.3", 1), ("v2", 2), ("10.0-beta", 10), ("", None), ("beta", None), (None, None)]
)
def test_semver_major(version, major):
    assert semver_major(version) == major
