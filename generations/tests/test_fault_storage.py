"""S3 goes away while images are being stored, and a client hangs up mid-generation.

S3: a moto server of this module's own (the session's shared one stays up for the other
tests), stopped after the provider answered. The client gets a refunded failure naming
its generation, never a bare 500; once S3 is back, the next generation succeeds.
"""

import socket

import pytest

from billing.selectors import balance_get
from generations.models import Generation
from generations.tests.conftest import wait_until
from generations.tests.factories import GENERATIONS_URL
from testsupport.faults import assert_books_clean

Status = Generation.Status
BODY = {"model": "gpt-image-2", "prompt": "A harbour at night", "size": "1024x1024", "quality": "low"}


@pytest.fixture
def _moto_server(private_moto) -> str:
    """Overrides testsupport.fixtures' session server for s3_storage: this test's own, which it may stop."""
    return private_moto.url


@pytest.mark.django_db
def test_s3_down_while_storing_fails_the_generation_with_a_refund_and_recovers(
    api, user, s3_storage, openai_standin, private_moto
):
    private_moto.stop()  # the provider still answers; storing its image fails

    response = api.post(GENERATIONS_URL, BODY, format="json")

    assert response.status_code == 500, response.content
    error = response.json()["error"]
    assert error["code"] == "generationFailed"
    generation = Generation.objects.get()
    assert generation.pk in error["message"]
    assert (generation.status, generation.error_code) == (Status.FAILED, "storage_failed")
    assert balance_get(user=user)["credits"] == 100

    private_moto.start()
    try:
        s3_storage.client.create_bucket(Bucket=s3_storage.bucket)  # moto keeps no state across restarts
        again = api.post(GENERATIONS_URL, BODY, format="json")
        assert again.status_code == 200, again.content
        assert again.json()["status"] == "succeeded"
    finally:
        private_moto.stop()
    assert_books_clean()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("generation_files_cleanup")
def test_a_client_that_hangs_up_leaves_a_finished_and_correctly_charged_generation(user, worker_env, tmp_path):
    from accounts.services import api_key_create
    from testsupport.servers import LiveGunicorn

    raw_key = api_key_create(user=user).raw_key
    env = {**worker_env, "LOCAL_PROVIDER_DELAY_SECONDS": "2"}
    with LiveGunicorn(env, tmp_path / "gunicorn.log") as web:
        body = b'{"model": "gpt-image-2", "prompt": "a client leaves", "aspect_ratio": "1:1", "quality": "1K"}'
        request = (
            f"POST {GENERATIONS_URL} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {raw_key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        with socket.create_connection(("127.0.0.1", web.port), timeout=30) as sock:
            sock.sendall(request)
            wait_until(lambda: Generation.objects.filter(status=Status.RUNNING).exists(), timeout=60, what="running")
        # The socket is closed: nobody reads the answer.
        generation = wait_until(
            lambda: Generation.objects.exclude(status__in=[Status.QUEUED, Status.RUNNING]).first(),
            timeout=120,
            what="the generation to end",
        )
        assert generation.status == Status.SUCCEEDED
        assert balance_get(user=user)["credits"] == 100 - generation.credits_charged
        assert "Internal Server Error" not in web.log()
    assert_books_clean()
