"""pytest fixtures for real-HTTP stand-ins: OpenAI's Images API, Stripe's API and S3 (moto's server).

The servers live for the whole session; each test gets a clean behaviour, a fresh
bucket and settings that pytest-django's `settings` fixture restores afterwards.
"""

import io
import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from testsupport.openai_standin import OpenAIStandin
from testsupport.servers import PrivateMoto
from testsupport.stripe_standin import DEFAULT_WEBHOOK_SECRET, StripeStandin


@pytest.fixture(scope="session")
def _openai_standin_server() -> Iterator[OpenAIStandin]:
    with OpenAIStandin() as standin:
        yield standin


@pytest.fixture
def openai_standin(_openai_standin_server: OpenAIStandin, settings) -> OpenAIStandin:
    """A running OpenAI stand-in in mode "ok", with the hub pointed at it."""
    standin = _openai_standin_server
    standin.reset()
    standin.photo = False
    settings.OPENAI_BASE_URL = standin.base_url
    settings.OPENAI_API_KEY = standin.api_key
    settings.OPENAI_ORGANIZATION = ""
    settings.IMAGE_PROVIDER = "openai"
    return standin


@pytest.fixture(scope="session")
def _stripe_standin_server() -> Iterator[StripeStandin]:
    with StripeStandin() as standin:
        yield standin


@pytest.fixture
def stripe_standin(_stripe_standin_server: StripeStandin, settings) -> StripeStandin:
    """A running Stripe stand-in with no sessions, and the hub configured for it (keys and API base)."""
    standin = _stripe_standin_server
    standin.reset()
    settings.STRIPE_SECRET_KEY = standin.secret_key
    settings.STRIPE_WEBHOOK_SECRET = DEFAULT_WEBHOOK_SECRET
    settings.STRIPE_API_BASE = standin.base_url
    return standin


@dataclass(frozen=True)
class S3Stub:
    endpoint_url: str
    bucket: str
    client: Any  # a boto3 S3 client on the moto server


_FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture
def private_moto() -> Iterator[PrivateMoto]:
    """An S3 server of the test's own, to stop mid-test; a module uses it for s3_storage by overriding
    `_moto_server` with `return private_moto.url`."""
    server = PrivateMoto().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    # moto serves with werkzeug, which logs every request at INFO.
    werkzeug_logger = logging.getLogger("werkzeug")
    level = werkzeug_logger.level
    werkzeug_logger.setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    werkzeug_logger.setLevel(level)


@pytest.fixture
def s3_storage(_moto_server: str, settings) -> S3Stub:
    """default_storage is the production S3 backend on a fresh bucket in moto's server."""
    import boto3
    from django.core.files.storage import default_storage
    from django.urls import get_resolver

    # gih/urls.py decides at import whether the app serves local media (SERVE_MEDIA). Load it
    # now, under the embedded settings, so that a URLconf first imported during an S3 test does
    # not leave every later test without the media route.
    get_resolver().url_patterns  # noqa: B018 (the import is the point)

    client = boto3.client("s3", endpoint_url=_moto_server, region_name="us-east-1", **_FAKE_CREDENTIALS)
    bucket = f"gih-test-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)

    settings.AWS_STORAGE_BUCKET_NAME = bucket
    settings.AWS_S3_ENDPOINT_URL = _moto_server
    settings.AWS_ACCESS_KEY_ID = _FAKE_CREDENTIALS["aws_access_key_id"]
    settings.AWS_SECRET_ACCESS_KEY = _FAKE_CREDENTIALS["aws_secret_access_key"]
    settings.AWS_S3_REGION_NAME = "us-east-1"
    settings.AWS_QUERYSTRING_AUTH = True
    settings.AWS_S3_FILE_OVERWRITE = True  # as in production: image keys are random, never reused
    settings.AWS_S3_OBJECT_PARAMETERS = {"CacheControl": "public, max-age=31536000, immutable"}  # as in production
    settings.SERVE_MEDIA = False
    # Assigned last, as a new dict: Django's setting_changed handler for STORAGES drops
    # the cached backends, so default_storage is rebuilt from all the values above.
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "gih.storage.S3Storage"}}

    from storages.backends.s3 import S3Storage

    # The lazy default_storage is rebuilt on first touch; fail here, not deep in a test.
    assert isinstance(default_storage, S3Storage) and default_storage.bucket_name == bucket
    return S3Stub(endpoint_url=_moto_server, bucket=bucket, client=client)


@pytest.fixture
def json_log_lines():
    """What the root logger prints in production (LOG_FORMAT=json): call it for the lines so far, parsed."""
    from gih.logs import logging_config

    config = logging_config(level="INFO", fmt="json")["formatters"]["structlog"]
    factory = config.pop("()")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(factory(**config))
    loggers = [logging.getLogger(), logging.getLogger("django")]  # "django" does not propagate
    for logger in loggers:
        logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    for logger in loggers:
        logger.removeHandler(handler)
