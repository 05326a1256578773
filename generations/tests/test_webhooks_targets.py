"""No SSRF at delivery time: the target is resolved and checked again before each attempt, redirects are not followed.

Deliveries are attempted in this process (no worker): the rows are made by the real listener
and the attempt is the real one a worker would make.
"""

import ipaddress
import ssl
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client import REGISTRY

from generations.models import WebhookDelivery
from generations.tests.factories import GENERATIONS_URL
from generations.webhooks.delivery import delivery_attempt
from generations.webhooks.services import deliveries_create_for_generation, endpoint_create
from testsupport.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    with WebhookReceiver() as server:
        yield server


@pytest.fixture
def generation(api):
    from generations.models import Generation

    response = api.post(GENERATIONS_URL, {"model": "gpt-image-2", "prompt": "A quiet harbour"}, format="json")
    assert response.status_code == 200, response.content
    return Generation.objects.get(pk=response.json()["id"])


def delivery_to(url: str, *, user, generation, settings) -> WebhookDelivery:
    """An endpoint made while private targets were allowed (say, before the setting changed), with one delivery."""
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS, settings.WEBHOOK_REQUIRE_HTTPS = True, False
    endpoint_create(user=user, url=url)
    [delivery] = deliveries_create_for_generation(generation=generation, status="succeeded")
    return delivery


@pytest.mark.parametrize("host", ["127.0.0.1", "10.0.0.1"])
def test_it_refuses_a_private_target_at_delivery(user, generation, receiver, settings, host):
    url = receiver.url.replace("127.0.0.1", host)
    delivery = delivery_to(url, user=user, generation=generation, settings=settings)
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False

    retry_in = delivery_attempt(delivery_id=delivery.pk)

    assert receiver.requests == []
    delivery.refresh_from_db()
    [attempt] = delivery.attempt_rows.all()
    assert attempt.response_code is None
    assert attempt.error.startswith("Refused: The URL resolves to a non-public address")
    assert delivery.status == "pending" and retry_in == settings.WEBHOOK_RETRY_DELAYS[0]


def test_it_delivers_to_a_private_target_when_allowed(user, generation, receiver, settings):
    delivery = delivery_to(receiver.url, user=user, generation=generation, settings=settings)

    assert delivery_attempt(delivery_id=delivery.pk) is None

    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.last_response_code == 200


def test_it_does_not_follow_redirects(user, generation, receiver, settings):
    delivery = delivery_to(receiver.url, user=user, generation=generation, settings=settings)
    receiver.answer(307)

    delivery_attempt(delivery_id=delivery.pk)

    assert [request.path for request in receiver.requests] == ["/hooks/gih"]  # its Location was not asked
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.last_response_code == 307


def test_it_attempts_a_delivery_once_when_its_task_arrives_twice(user, generation, receiver, settings):
    delivery = delivery_to(receiver.url, user=user, generation=generation, settings=settings)
    receiver.answer(500)

    delivery_attempt(delivery_id=delivery.pk)
    assert delivery_attempt(delivery_id=delivery.pk) is None  # the duplicate: the retry is not due yet

    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get().attempts == 1


def deliveries_counted(outcome: str) -> float:
    return REGISTRY.get_sample_value("gih_webhook_deliveries_total", {"outcome": outcome}) or 0.0


def test_it_counts_each_attempt_by_outcome(user, generation, receiver, settings):
    delivery = delivery_to(receiver.url, user=user, generation=generation, settings=settings)
    settings.WEBHOOK_RETRY_DELAYS = [0]
    receiver.answer(500, 500)
    before = {outcome: deliveries_counted(outcome) for outcome in ("delivered", "retrying", "failed")}

    delivery_attempt(delivery_id=delivery.pk)
    delivery_attempt(delivery_id=delivery.pk)

    assert deliveries_counted("retrying") == before["retrying"] + 1
    assert deliveries_counted("failed") == before["failed"] + 1
    assert deliveries_counted("delivered") == before["delivered"]


@pytest.fixture
def untrusted_tls_receiver(tmp_path):
    """A receiver on https://127.0.0.1 whose certificate no public CA signed (self-signed, made here)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    with WebhookReceiver(tls=context) as server:
        yield server


def test_it_verifies_the_receivers_certificate(user, generation, untrusted_tls_receiver, settings):
    delivery = delivery_to(untrusted_tls_receiver.url, user=user, generation=generation, settings=settings)

    delivery_attempt(delivery_id=delivery.pk)

    assert untrusted_tls_receiver.requests == []
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.last_response_code is None
    assert delivery.last_error == "Connection failed: SSLError."
