"""The OpenAPI document: it validates, it documents every route of both faces, and its reference page is served."""

import re

import pytest
import yaml
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, path
from openapi_spec_validator import validate
from rest_framework.views import APIView

from gih import errors
from gih.urls import urlpatterns

API_PREFIXES = ("/api/v1/", "/v1/")
SCHEMA_VIEWS = {"openapi-json", "openapi-yaml"}  # the document itself, not an endpoint of the API
IGNORED_METHODS = {"options", "head"}


def routes(patterns, prefix: str = "/") -> list[tuple[str, URLPattern]]:
    """Every (OpenAPI-style path, pattern) the URLconf routes, `<str:id>` written as `{id}`."""
    found = []
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            found.extend(routes(pattern.url_patterns, route))
        else:
            found.append((re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route), pattern))
    return found


def documented_methods(callback) -> set[str]:
    """The HTTP methods a view answers: a DRF view's handlers, or its schema twin's for a plain view."""
    view = getattr(callback, "openapi_view", callback)
    view_class = getattr(view, "cls", None)
    if view_class is None or not issubclass(view_class, APIView):
        return {"get"}  # a plain view with no twin: at least its GET must be documented
    return {method.lower() for method in view_class().allowed_methods} - IGNORED_METHODS


def undocumented(patterns, schema: dict) -> list[str]:
    """Routes under /api/v1 or /v1 (and their methods) that the document does not describe."""
    missing = []
    for route, pattern in routes(patterns):
        if not route.startswith(API_PREFIXES) or pattern.name in SCHEMA_VIEWS:
            continue
        if pattern.callback is errors.api_not_found:  # the catch-all 404 of unknown paths
            continue
        operations = schema["paths"].get(route, {})
        missing += [
            f"{method.upper()} {route}"
            for method in sorted(documented_methods(pattern.callback))
            if method not in operations
        ]
    return missing


@pytest.fixture(scope="module")
def schema() -> dict:
    response = Client().get("/api/v1/openapi.json", secure=True)
    assert response.status_code == 200, response.content
    return response.json()


def test_it_serves_a_valid_openapi_document(schema):
    validate(schema)  # openapi-spec-validator: raises on any violation of OpenAPI 3.0

    assert schema["openapi"].startswith("3.")
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key from the account page: `Authorization: Bearer gih_live_…`.",
    }


def test_it_serves_the_same_document_as_yaml(schema):
    response = Client().get("/api/v1/openapi.yaml", secure=True)

    assert response.status_code == 200
    assert yaml.safe_load(response.content) == schema


def test_every_route_of_both_faces_is_documented(schema):
    assert undocumented(get_resolver().url_patterns, schema) == []
    assert {"/api/v1/credits", "/api/v1/credits/redeem", "/v1/images/edits"} <= set(schema["paths"])


def test_it_notices_an_undocumented_route(schema):
    class Undocumented(APIView):
        def get(self, request): ...

        def delete(self, request): ...

    extra = [
        path("api/v1/undocumented", Undocumented.as_view()),
        path("v1/models/<str:model_id>", Undocumented.as_view()),
    ]

    assert undocumented([*urlpatterns, *extra], schema) == [
        "DELETE /api/v1/undocumented",
        "GET /api/v1/undocumented",
        "DELETE /v1/models/{model_id}",
    ]


def test_every_operation_documents_its_errors_in_the_envelope(schema):
    for route, operations in schema["paths"].items():
        envelope = "#/components/schemas/OpenAIError" if route.startswith("/v1/") else "#/components/schemas/Error"
        for method, operation in operations.items():
            responses = operation["responses"]
            assert {"400", "403", "405", "413", "500", "503"} <= set(responses), (method, route)
            for status, response in responses.items():
                if int(status) >= 400:
                    assert response["content"]["application/json"]["schema"] == {"$ref": envelope}, (status, route)
            if any(operation.get("security", [])):  # [{}]: no key needed
                assert "401" in responses, (method, route)


def test_the_generation_endpoints_carry_the_docs_examples(schema):
    operation = schema["paths"]["/api/v1/images/generations"]["post"]
    examples = operation["requestBody"]["content"]["application/json"]["examples"]

    assert {example["value"].get("async", False) for example in examples.values()} == {False, True}
    assert set(operation["responses"]) >= {"200", "202", "401", "402", "409", "415"}
    assert set(operation["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}
    assert not any(schema["paths"]["/api/v1/models"]["get"].get("security", []))
    assert schema["paths"]["/api/v1/credits"]["get"]["security"] == [{"bearerAuth": []}]


def test_it_serves_the_interactive_reference_from_our_own_static_files():
    page = Client().get("/docs/reference/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "/api/v1/openapi.json" in html
    assert "cdn" not in html.lower()


@pytest.mark.django_db
def test_the_docs_page_links_to_the_reference():
    page = Client().get("/docs/")

    assert 'href="/docs/reference/"' in page.content.decode()
