"""The Webhooks account page (create, rotate, delete, recent deliveries, resend) and the staff admin."""

import re

import pytest
from django.test import Client

from accounts.models import User
from generations.models import WebhookDelivery, WebhookEndpoint
from generations.tests.factories import GENERATIONS_URL
from generations.webhooks.secrets import secret_decrypt
from generations.webhooks.services import deliveries_create_for_generation

pytestmark = pytest.mark.django_db

PAGE = "/webhooks/"
TARGET = "http://127.0.0.1:9/hooks"


@pytest.fixture(autouse=True)
def private_targets(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS, settings.WEBHOOK_REQUIRE_HTTPS = True, False


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def delivery(api, user) -> WebhookDelivery:
    """A delivery of a real generation (not sent: on_commit never runs inside the test's transaction)."""
    browser(user).post(PAGE, {"url": TARGET, "events": ["generation.succeeded"]})
    generation_id = api.post(GENERATIONS_URL, {"model": "gpt-image-2", "prompt": "A red kite"}, format="json").json()[
        "id"
    ]
    from generations.models import Generation

    [made] = deliveries_create_for_generation(generation=Generation.objects.get(pk=generation_id), status="succeeded")
    return made


def test_it_creates_an_endpoint_and_shows_its_secret_once(user):
    client = browser(user)

    response = client.post(PAGE, {"url": TARGET, "events": ["generation.succeeded", "generation.failed"]})

    assert response.status_code == 200
    secret = re.search(r'value="(whsec_[^"]+)"', response.content.decode()).group(1)
    endpoint = WebhookEndpoint.objects.get(user=user)
    assert secret_decrypt(endpoint.secret_encrypted) == secret
    assert endpoint.events == ["generation.succeeded", "generation.failed"]
    listed = client.get(PAGE).content.decode()
    assert TARGET in listed and secret not in listed


def test_it_shows_why_a_url_is_refused(user, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False

    response = browser(user).post(PAGE, {"url": "https://10.0.0.1/hooks", "events": ["generation.failed"]})

    assert response.status_code == 200
    assert "non-public address" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_it_rotates_and_deletes_an_endpoint(user):
    client = browser(user)
    client.post(PAGE, {"url": TARGET, "events": ["generation.failed"]})
    endpoint = WebhookEndpoint.objects.get()

    rotated = client.post(f"/webhooks/{endpoint.pk}/rotate-secret/")
    assert rotated.status_code == 200
    secret = re.search(r'value="(whsec_[^"]+)"', rotated.content.decode()).group(1)
    endpoint.refresh_from_db()
    assert secret_decrypt(endpoint.secret_encrypted) == secret and endpoint.previous_secret_encrypted

    assert client.post(f"/webhooks/{endpoint.pk}/delete/").status_code == 302
    assert not WebhookEndpoint.objects.exists()


def test_it_lists_recent_deliveries_and_resends_one(user, delivery):
    client = browser(user)

    page = client.get(PAGE).content.decode()
    assert delivery.generation_id in page and "generation.succeeded" in page

    response = client.post(f"/webhooks/deliveries/{delivery.pk}/resend/")

    assert response.status_code == 302
    resent = WebhookDelivery.objects.exclude(pk=delivery.pk).get()
    assert (resent.event_id, resent.body, resent.status) == (delivery.event_id, delivery.body, "pending")


def test_it_never_shows_or_touches_another_accounts_webhooks(other_user, delivery):
    mallory = browser(other_user)

    assert delivery.endpoint.url not in mallory.get(PAGE).content.decode()
    assert mallory.post(f"/webhooks/deliveries/{delivery.pk}/resend/").status_code == 404
    assert mallory.post(f"/webhooks/{delivery.endpoint_id}/delete/").status_code == 404
    assert mallory.post(f"/webhooks/{delivery.endpoint_id}/rotate-secret/").status_code == 404
    assert WebhookDelivery.objects.count() == 1 and WebhookEndpoint.objects.count() == 1


def test_staff_see_deliveries_read_only_in_the_admin(delivery):
    staff = User.objects.create_superuser(email="staff@example.com", password="pw-Secret-123")
    client = browser(staff)

    assert delivery.pk in client.get("/admin/generations/webhookdelivery/").content.decode()
    detail = client.get(f"/admin/generations/webhookdelivery/{delivery.pk}/change/")
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()
    assert client.get("/admin/generations/webhookdelivery/add/").status_code == 403
    endpoint_page = client.get(f"/admin/generations/webhookendpoint/{delivery.endpoint_id}/change/").content.decode()
    assert delivery.endpoint.secret_encrypted not in endpoint_page


def test_the_docs_explain_webhooks_and_how_to_verify_them(client):
    page = client.get("/docs/").content.decode()

    assert 'id="webhooks"' in page and 'href="#webhooks"' in page
    assert "from standardwebhooks import Webhook" in page
    assert "/api/v1/webhooks/:id/rotate-secret" in page
