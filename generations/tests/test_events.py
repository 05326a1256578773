"""generation_finished: sent once per terminal move, after COMMIT, never on a rolled-back or repeated move."""

import pytest
from django.db import transaction

from generations.events import generation_finished
from generations.failures import FailureCode
from generations.models import Generation
from generations.tests.factories import GENERATIONS_URL
from generations.transitions import generation_fail

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_cleanup")]

BODY = {"model": "gpt-image-2", "prompt": "A lighthouse at dawn"}


@pytest.fixture
def heard():
    calls = []

    def listener(sender, generation, status, **kwargs):
        calls.append((generation.pk, status, Generation.objects.get(pk=generation.pk).status))

    generation_finished.connect(listener)
    yield calls
    generation_finished.disconnect(listener)


def test_it_announces_a_success_once_after_commit(api, heard):
    response = api.post(GENERATIONS_URL, BODY, format="json")
    assert response.status_code == 200
    generation_id = response.json()["id"]
    # The listener saw the committed row: its own read already says succeeded.
    assert heard == [(generation_id, "succeeded", "succeeded")]


def test_it_announces_a_failure_once_and_not_a_repeated_one(api, heard):
    response = api.post(GENERATIONS_URL, {**BODY, "async": True}, format="json")
    generation_id = response.json()["id"]
    generation_fail(generation_id=generation_id, error_code=FailureCode.TIMEOUT, error_message="test")
    generation_fail(generation_id=generation_id, error_code=FailureCode.TIMEOUT, error_message="again")
    assert heard == [(generation_id, "failed", "failed")]


def test_it_announces_nothing_when_the_move_rolls_back(api, heard):
    response = api.post(GENERATIONS_URL, {**BODY, "async": True}, format="json")
    generation_id = response.json()["id"]
    with pytest.raises(RuntimeError), transaction.atomic():
        generation_fail(generation_id=generation_id, error_code=FailureCode.TIMEOUT, error_message="test")
        raise RuntimeError("rolled back")
    assert heard == []
    assert Generation.objects.get(pk=generation_id).status == "queued"


def test_a_failing_listener_never_breaks_the_move(api, heard):
    def broken(sender, **kwargs):
        raise ValueError("listener bug")

    generation_finished.connect(broken)
    try:
        response = api.post(GENERATIONS_URL, BODY, format="json")
    finally:
        generation_finished.disconnect(broken)
    assert response.status_code == 200
    assert heard[0][1] == "succeeded"
