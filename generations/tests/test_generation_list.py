"""GET /api/v1/generations: the owner's generations, newest first, in cursor pages."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from generations.models import Generation
from generations.tests.conftest import wait_until
from generations.tests.factories import api_client_for

LIST_URL = "/api/v1/generations"
Status = Generation.Status


def make_generation(user, *, created_at=None, status=Status.SUCCEEDED) -> Generation:
    """A generation row as a finished request leaves it (no charge: the list reads, it never bills)."""
    return Generation.objects.create(
        user=user,
        model_id="gpt-image-2",
        prompt="listed",
        n=1,
        aspect_ratio="1:1",
        quality="1K",
        size="1024x1024",
        provider_quality="medium",
        credits_per_image=1,
        status=status,
        created_at=created_at or timezone.now(),
    )


def page_through(client, *, limit: int, **params) -> list[dict]:
    """Every page from the newest on, following starting_after; the pages' bodies."""
    pages, cursor = [], None
    while True:
        query = {"limit": limit, **params, **({"starting_after": cursor} if cursor else {})}
        response = client.get(LIST_URL, query)
        assert response.status_code == 200, response.content
        pages.append(response.json())
        if not pages[-1]["has_more"]:
            return pages
        cursor = pages[-1]["data"][-1]["id"]


@pytest.fixture
def owner(make_user):
    return make_user("lister@example.com")


@pytest.fixture
def client(owner):
    return api_client_for(owner)


def test_it_lists_newest_first_in_the_list_shape(owner, client, other_user):
    start = timezone.now() - timedelta(hours=1)
    older, newer = make_generation(owner, created_at=start), make_generation(owner, created_at=start + timedelta(1))
    make_generation(other_user)

    body = client.get(LIST_URL).json()

    assert body["object"] == "list"
    assert body["has_more"] is False
    assert [item["id"] for item in body["data"]] == [newer.pk, older.pk]
    assert body["data"][0]["object"] == "image_generation"
    assert body["data"][0] == client.get(f"/api/v1/generations/{newer.pk}").json()


@pytest.mark.django_db(transaction=True)
def test_paging_45_generations_visits_each_once_while_new_ones_arrive(owner, client):
    base = timezone.now() - timedelta(hours=1)
    # Some share a created_at to the microsecond: only the id can order those.
    existing = {make_generation(owner, created_at=base + timedelta(seconds=index // 3)).pk for index in range(45)}
    stop, created = threading.Event(), []

    def keep_creating() -> None:
        try:
            while not stop.is_set():
                created.append(make_generation(owner).pk)
                stop.wait(0.01)
        finally:
            connection.close()

    creator = threading.Thread(target=keep_creating)
    creator.start()
    try:
        wait_until(lambda: created, timeout=30, what="the first new generation")
        pages = page_through(client, limit=10)
    finally:
        stop.set()
        creator.join(timeout=30)

    seen = [item["id"] for page in pages for item in page["data"]]
    assert len(seen) == len(set(seen))  # none twice
    assert existing <= set(seen)  # none skipped
    assert set(seen) - existing <= set(created)  # new ones can only show up before the cursor passes them
    assert all(len(page["data"]) == 10 for page in pages[:-1])
    keys = [(item["created_at"], item["id"]) for page in pages for item in page["data"]]
    assert keys == sorted(keys, reverse=True)


def test_ending_before_pages_back_to_the_newest(owner, client):
    base = timezone.now() - timedelta(hours=1)
    ids = [make_generation(owner, created_at=base + timedelta(seconds=index // 2)).pk for index in range(7)]
    newest_first = [item["id"] for page in page_through(client, limit=3) for item in page["data"]]
    assert sorted(newest_first) == sorted(ids)

    back = client.get(LIST_URL, {"limit": 3, "ending_before": newest_first[5]}).json()
    assert [item["id"] for item in back["data"]] == newest_first[2:5]
    assert back["has_more"] is True
    first = client.get(LIST_URL, {"limit": 3, "ending_before": newest_first[2]}).json()
    assert [item["id"] for item in first["data"]] == newest_first[0:2]
    assert first["has_more"] is False


def test_it_filters_by_status_and_creation_time(owner, client):
    base = timezone.now().replace(microsecond=0) - timedelta(days=2)
    failed = make_generation(owner, created_at=base, status=Status.FAILED)
    queued = make_generation(owner, created_at=base + timedelta(days=1), status=Status.QUEUED)
    latest = make_generation(owner, created_at=base + timedelta(days=2))

    def listed(**params) -> list[str]:
        response = client.get(LIST_URL, params)
        assert response.status_code == 200, response.content
        return [item["id"] for item in response.json()["data"]]

    assert listed(status="failed") == [failed.pk]
    assert listed(status="queued") == [queued.pk]
    assert listed(created_after=int(base.timestamp())) == [latest.pk, queued.pk]
    assert listed(created_before=(base + timedelta(days=1)).isoformat()) == [failed.pk]
    assert listed(created_after=base.isoformat(), created_before=int(latest.created_at.timestamp())) == [queued.pk]
    assert listed(created_before=(base + timedelta(days=1)).date().isoformat()) == [failed.pk]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"status": "done"}, "status"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"created_before": "2026-13-45"}, "created_before"),
        ({"starting_after": "gen_unknown"}, "starting_after"),
        ({"ending_before": "gen_unknown"}, "ending_before"),
        ({"starting_after": "a", "ending_before": "b"}, "ending_before"),
    ],
)
def test_it_rejects_bad_parameters_with_the_envelope(client, params, param):
    response = client.get(LIST_URL, params)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert param in response.json()["error"]["message"]


def test_it_never_shows_or_pages_from_another_accounts_generations(owner, client, other_user):
    theirs = make_generation(other_user)
    mine = make_generation(owner)

    assert [item["id"] for item in client.get(LIST_URL).json()["data"]] == [mine.pk]
    response = client.get(LIST_URL, {"starting_after": theirs.pk})
    assert response.status_code == 400  # their id is as unknown as a made-up one
    assert api_client_for(other_user).get(LIST_URL).json()["data"][0]["id"] == theirs.pk


def test_the_query_count_does_not_grow_with_the_page(owner, client, django_assert_max_num_queries):
    for _ in range(30):
        make_generation(owner)
    cursor = client.get(LIST_URL, {"limit": 1}).json()["data"][0]["id"]
    client.get(LIST_URL)  # warm the key lookup's cache, if any

    # The key lookup, the cursor's row, the page, its images.
    with django_assert_max_num_queries(4):
        body = client.get(LIST_URL, {"limit": 25, "starting_after": cursor}).json()
    assert len(body["data"]) == 25
