"""/api/v1/webhooks: endpoints per account, a secret shown once and stored encrypted, no SSRF targets."""

import base64
from datetime import timedelta

import pytest
from django.utils import timezone

from generations.models import WebhookEndpoint
from generations.tests.factories import api_client_for
from generations.webhooks.delivery import secrets_in_use
from generations.webhooks.secrets import secret_decrypt

URL = "/api/v1/webhooks"
PUBLIC_TARGET = "https://93.184.215.14/hooks"  # a public address literal: no DNS lookup in the test

pytestmark = pytest.mark.django_db


@pytest.fixture
def public_only(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    settings.WEBHOOK_REQUIRE_HTTPS = True


def create(api, **fields):
    return api.post(URL, {"url": PUBLIC_TARGET, **fields}, format="json")


def test_it_creates_an_endpoint_and_shows_its_secret_once(api, user, public_only):
    response = create(api, description="orders")

    assert response.status_code == 201, response.content
    created = response.json()
    assert set(created) == {"id", "object", "url", "events", "description", "enabled", "secret", "created_at"}
    assert created["object"] == "webhook_endpoint"
    assert created["id"].startswith("we_")
    assert created["url"] == PUBLIC_TARGET
    assert created["events"] == ["generation.succeeded", "generation.failed", "generation.canceled"]
    assert created["description"] == "orders"
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"].removeprefix("whsec_"))) == 32

    listed = api.get(URL).json()
    assert listed["object"] == "list"
    assert [endpoint["id"] for endpoint in listed["data"]] == [created["id"]]
    assert "secret" not in listed["data"][0]


def test_it_stores_the_secret_encrypted_and_recovers_it(api, user, public_only):
    created = create(api).json()

    row = WebhookEndpoint.objects.filter(pk=created["id"]).values().get()
    assert not any(created["secret"] in str(value) for value in row.values())
    assert not any(created["secret"].removeprefix("whsec_") in str(value) for value in row.values())
    assert secret_decrypt(row["secret_encrypted"]) == created["secret"]


def test_it_keeps_the_chosen_events_in_the_documented_order(api, public_only):
    response = create(api, events=["generation.failed", "generation.succeeded", "generation.failed"])

    assert response.status_code == 201
    assert response.json()["events"] == ["generation.succeeded", "generation.failed"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"events": ["generation.started"]}, "events must be"),
        ({"events": []}, "events must be"),
        ({"url": "ftp://93.184.215.14/hooks"}, "Only http and https"),
        ({"url": "http://93.184.215.14/hooks"}, "must use https"),
        ({"url": "https://user:pw@93.184.215.14/hooks"}, "credentials"),
        ({"url": "not a url"}, "Only http and https"),
        ({"url": ""}, "url:"),
        ({"description": "x" * 201}, "description:"),
    ],
)
def test_it_rejects_invalid_endpoints_with_the_envelope(api, public_only, fields, message):
    response = create(api, **fields)

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_request"
    assert message in response.json()["error"]["message"]
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hooks",
        "https://10.0.0.1/hooks",
        "https://[::1]/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://192.168.1.10/hooks",
        "https://224.0.0.1/hooks",
        "https://0.0.0.0/hooks",
        "https://[::ffff:127.0.0.1]/hooks",
        "https://localhost/hooks",
    ],
)
def test_it_refuses_non_public_targets_at_creation(api, public_only, url):
    response = create(api, url=url)

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_request"
    assert "non-public" in response.json()["error"]["message"]
    assert not WebhookEndpoint.objects.exists()


def test_it_allows_private_http_targets_when_the_setting_says_so(api, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOK_REQUIRE_HTTPS = False

    assert create(api, url="http://127.0.0.1:9/hooks").status_code == 201


def test_it_limits_the_endpoints_of_an_account(api, public_only, settings):
    settings.WEBHOOK_MAX_ENDPOINTS = 2
    assert create(api).status_code == 201
    assert create(api).status_code == 201

    response = create(api)

    assert response.status_code == 400
    assert "at most 2" in response.json()["error"]["message"]


def test_it_deletes_an_endpoint(api, public_only):
    created = create(api).json()

    response = api.delete(f"{URL}/{created['id']}")

    assert response.status_code == 200
    assert response.json() == {"id": created["id"], "object": "webhook_endpoint", "deleted": True}
    assert api.get(URL).json()["data"] == []


def test_it_rotates_the_secret_and_signs_with_both_for_a_day(api, public_only):
    created = create(api).json()

    response = api.post(f"{URL}/{created['id']}/rotate-secret")

    assert response.status_code == 200
    rotated = response.json()
    assert rotated["id"] == created["id"]
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]
    endpoint = WebhookEndpoint.objects.get(pk=created["id"])
    assert secrets_in_use(endpoint) == [rotated["secret"], created["secret"]]
    assert endpoint.previous_secret_expires_at > timezone.now() + timedelta(hours=23)

    endpoint.previous_secret_expires_at = timezone.now() - timedelta(seconds=1)
    assert secrets_in_use(endpoint) == [rotated["secret"]]


def test_it_never_shows_or_changes_another_accounts_endpoint(api, other_user, public_only):
    created = create(api).json()
    mallory = api_client_for(other_user)

    assert mallory.get(URL).json()["data"] == []
    for response in (
        mallory.delete(f"{URL}/{created['id']}"),
        mallory.post(f"{URL}/{created['id']}/rotate-secret"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "notFound"
    assert WebhookEndpoint.objects.get(pk=created["id"]).secret_encrypted


def test_it_answers_404_for_an_unknown_endpoint(api):
    response = api.delete(f"{URL}/we_unknown")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "notFound"


def test_it_requires_an_api_key(anon_api):
    response = anon_api.get(URL)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missingApiKey"
