"""One delivery attempt: claim the delivery, POST it signed, record what happened.

No lock, transaction or database connection is held while the receiver is called: a slow
receiver costs a greenlet of the `webhooks` worker and nothing else (never a generation's slot).
"""

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

import certifi
import urllib3
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from generations.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from generations.webhooks.secrets import secret_decrypt, signature_header
from generations.webhooks.targets import Target, TargetRefused, target_resolve
from gih.metrics import WEBHOOK_DELIVERIES

logger = logging.getLogger(__name__)

USER_AGENT = "GPT-Image-Hub-Webhooks/1.0"
CLAIM_MARGIN = timedelta(seconds=30)  # past the attempt's timeout: the sweep leaves it alone meanwhile
EARLY_SLACK = timedelta(seconds=2)  # a retry task may arrive a little early (clocks of two hosts)


@dataclass(frozen=True)
class Response:
    code: int | None
    error: str = ""


def secrets_in_use(endpoint: WebhookEndpoint) -> list[str]:
    """The current secret, and for 24 h after a rotation the previous one too."""
    in_use = [secret_decrypt(endpoint.secret_encrypted)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_encrypted and expires and expires > timezone.now():
        in_use.append(secret_decrypt(endpoint.previous_secret_encrypted))
    return in_use


def _claim(delivery_id: str) -> tuple[WebhookDelivery, int] | None:
    """Take the due attempt of a pending delivery; None if it is not due (a duplicate task) or done."""
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("endpoint")
            .filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING)
            .first()
        )
        if delivery is None or (delivery.next_attempt_at and delivery.next_attempt_at > now + EARLY_SLACK):
            return None
        if not delivery.endpoint.enabled:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.next_attempt_at = None
            delivery.save(update_fields=["status", "next_attempt_at"])
            return None
        delivery.attempts += 1
        delivery.next_attempt_at = now + timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS) + CLAIM_MARGIN
        delivery.save(update_fields=["attempts", "next_attempt_at"])
    return delivery, delivery.attempts


def _post(target: Target, body: bytes, headers: dict[str, str]) -> Response:
    """POST to the checked address (TLS still verifies the URL's host name); redirects are not followed."""
    timeout = urllib3.Timeout(total=settings.WEBHOOK_TIMEOUT_SECONDS)
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            timeout=timeout,
            retries=False,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
        )
    else:
        pool = urllib3.HTTPConnectionPool(target.address, target.port, timeout=timeout, retries=False)
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": target.host_header},
            redirect=False,
            retries=False,
            preload_content=False,
            assert_same_host=False,
        )
        response.read(1024, decode_content=False)  # a little of the answer, then hang up
        response.release_conn()
        return Response(code=response.status)
    except urllib3.exceptions.TimeoutError:
        return Response(code=None, error=f"No answer within {settings.WEBHOOK_TIMEOUT_SECONDS:g} s.")
    except urllib3.exceptions.HTTPError as error:
        return Response(code=None, error=f"Connection failed: {type(error).__name__}.")
    finally:
        pool.close()


def _send(delivery: WebhookDelivery) -> Response:
    try:
        target = target_resolve(delivery.endpoint.url)
    except TargetRefused as refused:
        return Response(code=None, error=f"Refused: {refused}")
    now = timezone.now()
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": delivery.pk,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature_header(
            secrets_in_use(delivery.endpoint), msg_id=delivery.pk, timestamp=now, body=body
        ),
    }
    return _post(target, body, headers)


def _record(delivery: WebhookDelivery, number: int, started, duration_ms: int, response: Response) -> float | None:
    """Store the attempt and decide what follows; returns seconds until the next attempt, or None."""
    delays = settings.WEBHOOK_RETRY_DELAYS
    now = timezone.now()
    retry_in = None
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=number,
            started_at=started,
            duration_ms=duration_ms,
            response_code=response.code,
            error=response.error[:300],
        )
        fields = {
            "last_response_code": response.code,
            "last_error": response.error[:300],
            "last_attempt_at": started,
            "next_attempt_at": None,
        }
        if response.code is not None and 200 <= response.code < 300:
            fields["status"], outcome = WebhookDelivery.Status.DELIVERED, "delivered"
        elif response.code == 410:
            # Gone: the receiver asks us to stop. Its endpoint sends nothing more until re-created.
            fields["status"], outcome = WebhookDelivery.Status.FAILED, "disabled"
            WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).update(
                enabled=False, disabled_reason="The receiver answered 410 Gone."
            )
        elif number <= len(delays):
            retry_in, outcome = delays[number - 1], "retrying"
            fields["next_attempt_at"] = now + timedelta(seconds=retry_in)
        else:
            fields["status"], outcome = WebhookDelivery.Status.FAILED, "failed"
        WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
    WEBHOOK_DELIVERIES.labels(outcome=outcome).inc()  # a fixed set of outcomes: never a URL or a status code
    return retry_in


def delivery_attempt(*, delivery_id: str) -> float | None:
    """Make the due attempt of a delivery; returns seconds until the next one, or None (done or not due)."""
    claimed = _claim(delivery_id)
    if claimed is None:
        return None
    delivery, number = claimed
    if not connection.in_atomic_block:
        connection.close()  # back to the pool while the receiver takes its time
    started = timezone.now()
    clock = time.monotonic()
    response = _send(delivery)
    duration_ms = int((time.monotonic() - clock) * 1000)
    logger.info(
        "Webhook %s attempt %s to %s: %s %s", delivery.pk, number, delivery.endpoint_id, response.code, response.error
    )
    return _record(delivery, number, started, duration_ms, response)
