"""OpenAPI shapes of /api/v1/webhooks (serializers.py builds the bodies: a field added there belongs here too)."""

from drf_spectacular.utils import OpenApiExample, extend_schema

from generations.openapi import TIMESTAMP
from generations.webhooks.models import EVENT_TYPES
from gih.openapi import errors

EVENTS = {"type": "array", "items": {"type": "string", "enum": list(EVENT_TYPES)}}
ENDPOINT_FIELDS = {
    "id": {"type": "string", "example": "we_0k6c2x8m4n1p9q3r5s7t2v4w"},
    "object": {"type": "string", "enum": ["webhook_endpoint"]},
    "url": {"type": "string", "example": "https://example.com/hooks/gih"},
    "events": EVENTS,
    "description": {"type": "string"},
    "enabled": {"type": "boolean", "description": "False once the receiver answered 410 Gone."},
    "created_at": TIMESTAMP,
}
ENDPOINT = {"type": "object", "properties": ENDPOINT_FIELDS, "required": list(ENDPOINT_FIELDS)}
SECRET = {
    "type": "string",
    "example": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "description": "The signing secret (Standard Webhooks): in this answer only.",
}
ENDPOINT_WITH_SECRET = {
    "type": "object",
    "properties": {**ENDPOINT_FIELDS, "secret": SECRET},
    "required": [*ENDPOINT_FIELDS, "secret"],
}
ENDPOINT_LIST = {
    "type": "object",
    "properties": {
        "object": {"type": "string", "enum": ["list"]},
        "data": {"type": "array", "items": ENDPOINT},
        "has_more": {"type": "boolean"},
    },
    "required": ["object", "data", "has_more"],
}
DELETED = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string", "enum": ["webhook_endpoint"]},
        "deleted": {"type": "boolean", "enum": [True]},
    },
    "required": ["id", "object", "deleted"],
}
CREATE_BODY = {
    "application/json": {
        "type": "object",
        "properties": {
            "url": {"type": "string", "maxLength": 2000, "description": "https (http only where allowed)."},
            "events": {**EVENTS, "description": "Default: all of them."},
            "description": {"type": "string", "maxLength": 200},
        },
        "required": ["url"],
    }
}
TAGS = ["Webhooks"]

LIST = extend_schema(
    operation_id="api_webhooks_list",
    summary="List webhook endpoints",
    description="The account's endpoints (their secrets are never shown again).",
    tags=TAGS,
    responses={200: ENDPOINT_LIST, **errors(401, 406)},
)
CREATE = extend_schema(
    operation_id="api_webhooks_create",
    summary="Add a webhook endpoint",
    description=(
        "Events are POSTed signed (Standard Webhooks 1.0) when a generation succeeds, fails or is canceled. "
        "The URL must not resolve to a loopback, private, link-local or otherwise non-public address."
    ),
    tags=TAGS,
    request=CREATE_BODY,
    examples=[
        OpenApiExample("endpoint", value={"url": "https://example.com/hooks/gih", "events": ["generation.succeeded"]})
    ],
    responses={201: ENDPOINT_WITH_SECRET, **errors(401, 406, 415)},
)
DELETE = extend_schema(
    operation_id="api_webhooks_delete",
    summary="Delete a webhook endpoint",
    tags=TAGS,
    responses={200: DELETED, **errors(401, 404, 406)},
)
ROTATE = extend_schema(
    operation_id="api_webhooks_rotate_secret",
    summary="Rotate a webhook endpoint's signing secret",
    description="A new secret, shown once; the previous one keeps signing beside it for 24 hours.",
    tags=TAGS,
    request=None,
    responses={200: ENDPOINT_WITH_SECRET, **errors(401, 404, 406)},
)
