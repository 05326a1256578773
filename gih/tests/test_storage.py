"""The S3 backend shares one boto3 connection per process (gevent runs each request in its own greenlet)."""

import threading

from gih.storage import S3Storage


def make_storage() -> S3Storage:
    return S3Storage(
        bucket_name="bucket",
        endpoint_url="http://127.0.0.1:9",
        region_name="us-east-1",
        access_key="key",
        secret_key="secret",
    )


def test_it_shares_one_connection_across_threads():
    storage = make_storage()
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(storage.connection)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({id(connection) for connection in seen}) == 1
    assert storage.connection is seen[0]
    assert storage.unsigned_connection is storage.unsigned_connection
    assert storage.unsigned_connection is not storage.connection


def test_it_signs_urls_with_the_shared_connection():
    storage = make_storage()

    url = storage.url("generations/g1/abc.png")

    assert url.startswith("http://127.0.0.1:9/bucket/generations/g1/abc.png?")
    assert "Signature=" in url
