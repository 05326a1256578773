"""Response shapes: the webhook_endpoint object and the event body."""

import json
from urllib.parse import urljoin

from generations.models import Generation
from generations.serializers import generation_payload, iso
from generations.webhooks.models import WebhookEndpoint


def endpoint_payload(endpoint: WebhookEndpoint, *, secret: str | None = None) -> dict:
    """The webhook_endpoint object; `secret` only in the answers that create or rotate it."""
    payload = {
        "id": endpoint.id,
        "object": "webhook_endpoint",
        "url": endpoint.url,
        "events": endpoint.events,
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "created_at": iso(endpoint.created_at),
    }
    if secret is not None:
        payload["secret"] = secret
    return payload


def event_body(*, event_id: str, event_type: str, generation: Generation, base_url: str, created_at) -> str:
    """The JSON body of an event: `data` is the generation exactly as GET /api/v1/generations/:id shows it."""
    data = generation_payload(generation, absolute_url=lambda url: urljoin(base_url, url))
    body = {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "livemode": generation.livemode,  # false: a test key's generation (free, rendered locally)
        "created_at": iso(created_at),
        "data": data,
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)
