"""A success with nothing to refund is one statement on Postgres (generations/success_statement.py): the images are
written exactly when the compare-and-set wins, with the values the ORM would have written."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import CreditBatch
from billing.selectors import usable_batch_rows
from billing.services import credits_grant
from billing.tests.factories import make_generation
from generations.models import GeneratedImage, Generation, WebhookDelivery, WebhookEndpoint
from generations.transitions import generation_succeed
from generations.webhooks.models import EVENT_TYPES
from generations.webhooks.selectors import SUBSCRIBED_IDS_SQL, endpoints_subscribed

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

    # The success, which also reads the owner's webhook endpoints (none here): no BEGIN, no COMMIT.
    statements = [query["sql"] for query in captured.captured_queries]
    assert len(statements) == 1 and "webhookendpoint" in statements[0], statements

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


def test_it_reads_the_owners_usable_batches_as_the_balance_query_would(make_user):
    """The balance in the answer comes from the success statement: the same rows, in the same order, as
    billing.selectors.usable_batch_rows would read right after it."""
    owner, other = make_user("owner@example.com"), make_user("other@example.com")
    now = timezone.now()
    credits_grant(user=owner, amount=5)
    later = credits_grant(user=owner, amount=3, expires_at=now + timedelta(days=2))
    sooner = credits_grant(user=owner, amount=4, expires_at=now + timedelta(days=1))
    expired = credits_grant(user=owner, amount=2, expires_at=now + timedelta(days=3))
    CreditBatch.objects.filter(pk=expired.pk).update(expires_at=now - timedelta(seconds=1))
    credits_grant(user=other, amount=7, expires_at=now + timedelta(hours=1))
    generation = running(owner, n=1)

    done = generation_succeed(generation=generation, stored=images(generation, 1), attempt=1)

    expected = usable_batch_rows(owner.pk, done.finished_at)
    assert done.usable_batches == expected
    assert [batch.id for batch in expected[:2]] == [sooner.pk, later.pk] and len(expected) == 3


def test_an_owner_without_usable_batches_reads_none(make_user):
    generation = running(make_user("empty@example.com"), n=1)

    done = generation_succeed(generation=generation, stored=images(generation, 1), attempt=1)

    assert done.usable_batches == []


def test_a_superseded_attempt_writes_nothing(make_user):
    generation = running(make_user(), n=1)
    Generation.objects.filter(pk=generation.pk).update(attempts=2)  # a newer attempt took it over

    outcome = generation_succeed(generation=generation, stored=images(generation, 1), attempt=1)

    assert outcome.status == "running"
    assert Generation.objects.get(pk=generation.pk).status == "running"
    assert not GeneratedImage.objects.filter(generation=generation).exists()


def _endpoint(user, events, enabled=True) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        user=user, url="https://hooks.example.com/x", events=events, enabled=enabled, secret_encrypted="-"
    )


def test_the_subscriptions_it_reads_are_the_ones_the_python_filter_finds(make_user):
    owner, other = make_user(), make_user()
    _endpoint(owner, ["generation.succeeded"])
    _endpoint(owner, ["generation.failed", "generation.canceled"])
    _endpoint(owner, list(EVENT_TYPES))
    _endpoint(owner, list(EVENT_TYPES), enabled=False)
    _endpoint(owner, [])
    _endpoint(other, list(EVENT_TYPES))
    for user in (owner, other, make_user()):
        for event_type in EVENT_TYPES:
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT {SUBSCRIBED_IDS_SQL}", [user.pk, event_type])
                read = cursor.fetchone()[0] or []
            expected = endpoints_subscribed(user_id=user.pk, event_type=event_type)
            assert sorted(read) == sorted(endpoint.pk for endpoint in expected), (user, event_type)


def test_a_success_queues_one_delivery_per_subscribed_endpoint_without_another_read(make_user):
    owner = make_user()
    subscribed = [_endpoint(owner, ["generation.succeeded"]), _endpoint(owner, list(EVENT_TYPES))]
    _endpoint(owner, ["generation.failed"])
    _endpoint(owner, list(EVENT_TYPES), enabled=False)
    generation = running(owner, n=1)

    with CaptureQueriesContext(connection) as captured:
        generation_succeed(generation=generation, stored=images(generation, 1), attempt=1)

    # The success (with the subscriptions), the subscribed endpoints' rows, the deliveries' INSERT.
    statements = [query["sql"] for query in captured.captured_queries]
    assert len([sql for sql in statements if 'FROM "generations_webhookendpoint"' in sql]) == 1, statements
    deliveries = WebhookDelivery.objects.filter(generation=generation, event_type="generation.succeeded")
    assert sorted(deliveries.values_list("endpoint_id", flat=True)) == sorted(endpoint.pk for endpoint in subscribed)
