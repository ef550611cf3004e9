"""The OpenAPI schema: valid, complete (every route issue 5 names), every operation covered by the
permission table, and the Swagger UI page works offline (its JS and CSS come from our static files)."""
import re

import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from .cases import CASES
from .conftest import client_for

REQUIRED = {
    ("post", "/api/v1/auth/token/"),
    ("get", "/api/v1/organisations/"),
    ("get", "/api/v1/projects/"), ("post", "/api/v1/projects/"),
    ("get", "/api/v1/projects/{id}/"), ("patch", "/api/v1/projects/{id}/"), ("delete", "/api/v1/projects/{id}/"),
    ("post", "/api/v1/projects/{id}/footage/"), ("get", "/api/v1/projects/{id}/comparison/"),
    ("post", "/api/v1/projects/{id}/footage/uploads/"),
    ("post", "/api/v1/footage/{id}/complete/"),
    ("get", "/api/v1/footage/{id}/"),
    ("post", "/api/v1/analyses/"),
    ("get", "/api/v1/analyses/{id}/"),
    ("post", "/api/v1/analyses/{id}/cancel/"),
    ("get", "/api/v1/analyses/{id}/timeline/"),
    ("get", "/api/v1/analyses/{id}/observations/"),
    ("get", "/api/v1/analyses/{id}/moments/"), ("post", "/api/v1/analyses/{id}/moments/"),
    ("delete", "/api/v1/analyses/{id}/moments/{moment_id}/"), ("get", "/api/v1/analyses/{id}/moments/comparison/"),
    ("get", "/api/v1/model-versions/"), ("get", "/api/v1/model-versions/{id}/"),
    ("post", "/api/v1/model-versions/{id}/activate/"),
    ("get", "/api/v1/datasets/"), ("post", "/api/v1/datasets/"),
    ("get", "/api/v1/evaluations/"), ("post", "/api/v1/evaluations/"),
    ("get", "/api/v1/bias-audits/"), ("post", "/api/v1/bias-audits/"),
    ("get", "/api/v1/webhooks/"), ("post", "/api/v1/webhooks/"),
}


# The caller's own API tokens: no organisation's rows (tests/api/test_tokens.py).
TOKEN_OPERATIONS = {("post", "/api/v1/auth/token/"), ("delete", "/api/v1/auth/token/"),
                    ("get", "/api/v1/auth/tokens/"), ("delete", "/api/v1/auth/tokens/{token_key}/")}


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema) -> set[tuple[str, str]]:
    return {(method, path) for path, item in schema["paths"].items() for method in item
            if method in ("get", "post", "put", "patch", "delete")}


def test_schema_is_valid_openapi(schema):
    validate_schema(schema)  # raises on any violation of the OpenAPI 3 meta-schema
    assert schema["openapi"].startswith("3.")
    assert {"tokenAuth", "cookieAuth"} <= set(schema["components"]["securitySchemes"])


def test_every_route_of_the_issue_exists(schema):
    assert REQUIRED <= operations(schema), sorted(REQUIRED - operations(schema))


def test_permission_table_covers_every_operation(schema):
    covered = {(c.method.lower(), c.template) for c in CASES} | TOKEN_OPERATIONS
    assert operations(schema) == covered, (sorted(operations(schema) - covered), sorted(covered - operations(schema)))


def test_every_operation_documents_its_errors_as_json(schema):
    for path, item in schema["paths"].items():
        for method, op in item.items():
            for code in ("401", "403", "404", "429"):
                assert "application/json" in op["responses"][code]["content"], (method, path, code)


def test_lists_are_paginated_and_filterable(schema):
    observations = schema["paths"]["/api/v1/analyses/{id}/observations/"]["get"]
    names = {p["name"] for p in observations["parameters"]}
    assert {"t_min", "t_max", "track", "emotion", "page", "page_size", "format"} <= names
    assert set(observations["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    for path in ("/api/v1/projects/", "/api/v1/footage/", "/api/v1/analyses/", "/api/v1/model-versions/",
                 "/api/v1/datasets/", "/api/v1/evaluations/", "/api/v1/bias-audits/", "/api/v1/webhooks/"):
        op = schema["paths"][path]["get"]
        ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert ref.split("/")[-1].startswith("Paginated"), path
        assert "page" in {p["name"] for p in op["parameters"]}, path


@pytest.mark.django_db
def test_schema_endpoint_serves_the_same_document():
    response = client_for().get("/api/schema/?format=json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "Emo7ion API"
    assert "/api/v1/analyses/{id}/observations/" in response.json()["paths"]


@pytest.mark.django_db
def test_swagger_ui_loads_its_assets_from_our_static_files():
    client = client_for()
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css|png))"', html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets), assets
    for url in assets:
        assert url.startswith("/static/"), f"{url} is not served by us (the page must work offline)"
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(b"".join(asset.streaming_content) if asset.streaming else asset.content) > 100, url
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()


def test_schema_generates_without_warnings(tmp_path):
    """Every component has a deliberate name (no generated Status398Enum-style names): the command
    fails on the first warning."""
    from django.core.management import call_command
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert "JobStatusEnum:" in text and "WebhookEventEnum:" in text
    assert not re.search(r"^    \w*\d{3}Enum:", text, re.MULTILINE)
