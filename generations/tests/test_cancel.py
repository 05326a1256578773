"""POST /api/v1/generations/:id/cancel and the account page's Cancel button."""

import pytest

from billing.models import LedgerEntry
from billing.selectors import balance_get, billing_audit
from generations.attempts import generation_run
from generations.events import generation_finished
from generations.models import GeneratedImage, Generation
from generations.tests.conftest import submit_async
from generations.tests.factories import api_client_for

pytestmark = pytest.mark.usefixtures("media_cleanup")

Status = Generation.Status


def cancel_url(generation_id: str) -> str:
    return f"/api/v1/generations/{generation_id}/cancel"


@pytest.fixture
def owner(make_user):
    return make_user("owner@example.com", credits=10)


@pytest.fixture
def client(owner):
    return api_client_for(owner)


@pytest.fixture
def announced():
    """The generation_finished signals sent, as (generation id, status)."""
    sent = []

    def receiver(sender, generation, status, **kwargs):
        sent.append((generation.pk, status))

    generation_finished.connect(receiver)
    yield sent
    generation_finished.disconnect(receiver)


def test_it_cancels_a_queued_generation_with_a_full_refund(
    owner, client, announced, django_capture_on_commit_callbacks
):
    queued = submit_async(client, n=2)
    assert balance_get(user=owner)["credits"] == 8

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(cancel_url(queued["id"]))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == queued["id"]
    assert body["status"] == "canceled"
    assert body["usage"] == {"credits": 0, "credits_requested": 2, "credits_refunded": 2}
    assert body["finished_at"] is not None
    assert balance_get(user=owner)["credits"] == 10
    assert LedgerEntry.objects.filter(generation_id=queued["id"], kind=LedgerEntry.Kind.REFUND).count() == 1
    assert announced == [(queued["id"], "canceled")]
    assert client.get(f"/api/v1/generations/{queued['id']}").json()["status"] == "canceled"
    assert billing_audit() == []


def test_its_task_does_nothing_once_canceled(owner, client):
    queued = submit_async(client)
    client.post(cancel_url(queued["id"]))

    generation = generation_run(generation_id=queued["id"])

    assert generation.status == Status.CANCELED
    assert generation.attempts == 0  # never claimed: the provider was not called
    assert not GeneratedImage.objects.filter(generation_id=queued["id"]).exists()
    assert balance_get(user=owner)["credits"] == 10
    assert billing_audit() == []


def test_it_refuses_a_running_generation(owner, client):
    queued = submit_async(client)
    Generation.objects.filter(pk=queued["id"]).update(status=Status.RUNNING, attempts=1)

    response = client.post(cancel_url(queued["id"]))

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "generation_running"
    assert Generation.objects.get(pk=queued["id"]).status == Status.RUNNING
    assert balance_get(user=owner)["credits"] == 9


@pytest.mark.parametrize("status", [Status.SUCCEEDED, Status.FAILED, Status.CANCELED])
def test_it_refuses_a_finished_generation(owner, client, status):
    queued = submit_async(client)
    Generation.objects.filter(pk=queued["id"]).update(status=status)

    response = client.post(cancel_url(queued["id"]))

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "generation_finished"
    assert not LedgerEntry.objects.filter(generation_id=queued["id"], kind=LedgerEntry.Kind.REFUND).exists()


def test_a_second_cancel_is_refused_and_refunds_nothing(owner, client):
    queued = submit_async(client)
    assert client.post(cancel_url(queued["id"])).status_code == 200

    again = client.post(cancel_url(queued["id"]))

    assert again.status_code == 409
    assert again.json()["error"]["code"] == "generation_finished"
    assert balance_get(user=owner)["credits"] == 10
    assert billing_audit() == []


def test_it_hides_other_accounts_generations(owner, client, other_user):
    queued = submit_async(client)

    response = api_client_for(other_user).post(cancel_url(queued["id"]))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "notFound"
    assert Generation.objects.get(pk=queued["id"]).status == Status.QUEUED
    assert client.post(cancel_url("gen_unknown")).status_code == 404


def test_it_needs_an_api_key(client, owner):
    queued = submit_async(client)

    response = api_client_for(owner).__class__().post(cancel_url(queued["id"]))

    assert response.status_code == 401
    assert Generation.objects.get(pk=queued["id"]).status == Status.QUEUED


def test_the_generation_page_cancels_while_queued(owner, client, other_user):
    from django.test import Client

    queued = submit_async(client)
    browser = Client()
    browser.force_login(owner)
    page = f"/generations/{queued['id']}/"

    assert b'id="cancel-form"' in browser.get(page).content
    stranger = Client()
    stranger.force_login(other_user)
    assert stranger.post(f"{page}cancel/").status_code == 404

    response = browser.post(f"{page}cancel/", follow=True)

    assert response.redirect_chain[-1][0] == page
    assert "Generation canceled" in response.content.decode()
    assert b'id="cancel-form"' not in response.content
    assert Generation.objects.get(pk=queued["id"]).status == Status.CANCELED
    assert balance_get(user=owner)["credits"] == 10


def test_the_generation_page_offers_no_cancel_once_running(owner, client):
    from django.test import Client

    queued = submit_async(client)
    Generation.objects.filter(pk=queued["id"]).update(status=Status.RUNNING, attempts=1)
    browser = Client()
    browser.force_login(owner)
    page = f"/generations/{queued['id']}/"

    assert b'id="cancel-form"' not in browser.get(page).content
    response = browser.post(f"{page}cancel/", follow=True)
    assert "can no longer be canceled" in response.content.decode()
    assert Generation.objects.get(pk=queued["id"]).status == Status.RUNNING
