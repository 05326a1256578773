"""A success with nothing to refund is one statement on Postgres (generations/success_statement.py): the images are
written exactly when the compare-and-set wins, with the values the ORM would have written."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.tests.factories import make_generation
from generations.models import GeneratedImage, Generation
from generations.transitions import generation_succeed

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement success is Postgres' (the ORM's transaction elsewhere)")


def running(user, n: int) -> Generation:
    generation = make_generation(user, n=n)
    Generation.objects.filter(pk=generation.pk).update(status=Generation.Status.RUNNING, attempts=1)
    generation.refresh_from_db()
    generation.provider_request_id = "req_123"
    generation.provider_output = {"size": "1024x1024", "quality": "low"}
    generation.token_usage = {"output_tokens": 272}
    generation.provider_cost_usd = Decimal("0.010905")
    return generation


def images(generation: Generation, count: int) -> list[GeneratedImage]:
    return [
        GeneratedImage(generation=generation, file=f"generations/{generation.pk}/{index}.png", width=1024,
                       height=1536, byte_size=1000 + index)
        for index in range(count)
    ]  # fmt: skip


def test_it_records_the_success_and_every_image_in_one_statement(make_user):
    generation = running(make_user(), n=2)
    stored = images(generation, 2)

    with CaptureQueriesContext(connection) as captured:
        done = generation_succeed(generation=generation, stored=stored, attempt=1)

    # The success, then (once it is committed) the owner's webhook endpoints: no BEGIN, no COMMIT.
    statements = [query["sql"] for query in captured.captured_queries]
    assert len(statements) == 2 and "webhookendpoint" in statements[1], statements

    row = Generation.objects.get(pk=generation.pk)
    assert (row.status, row.provider_request_id, row.provider_cost_usd) == ("succeeded", "req_123", Decimal("0.010905"))
    assert (row.provider_output, row.token_usage) == ({"size": "1024x1024", "quality": "low"}, {"output_tokens": 272})
    assert row.finished_at is not None and row.finished_at == done.finished_at
    written = list(GeneratedImage.objects.filter(generation=generation).order_by("byte_size"))
    assert [(image.pk, image.file.name, image.width, image.height, image.byte_size, image.content_type)
            for image in written] == [
        (image.pk, image.file.name, 1024, 1536, image.byte_size, "image/png") for image in stored
    ]  # fmt: skip
    assert all(image.expired_at is None and image.created_at <= timezone.now() for image in written)
    assert list(done.images.all()) == stored and not stored[0]._state.adding


def test_a_superseded_attempt_writes_nothing(make_user):
    generation = running(make_user(), n=1)
    Generation.objects.filter(pk=generation.pk).update(attempts=2)  # a newer attempt took it over

    outcome = generation_succeed(generation=generation, stored=images(generation, 1), attempt=1)

    assert outcome.status == "running"
    assert Generation.objects.get(pk=generation.pk).status == "running"
    assert not GeneratedImage.objects.filter(generation=generation).exists()
