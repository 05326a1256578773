"""OpenAPI shapes of the generation endpoints, both faces (gih/openapi.py explains the document).

Raw OpenAPI schemas, kept next to the code that builds the bodies (serializers.py, openai_shapes.py):
a field added there belongs here too, or the schemathesis run (gih/tests/test_schemathesis.py) fails.
Examples are the public docs' ones.
"""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse

TIMESTAMP = {"type": "string", "format": "date-time"}
NULLABLE_TIMESTAMP = {**TIMESTAMP, "nullable": True}
BINARY = {"type": "string", "format": "binary"}

BALANCE = {
    "type": "object",
    "description": "The account's balance after the call.",
    "properties": {
        "credits": {"type": "integer", "minimum": 0},
        "account_type": {"type": "string", "example": "PRO"},
        "next_expiration": {
            "type": "object",
            "nullable": True,
            "description": "The credits expiring soonest and when (null: none expire).",
            "properties": {"credits": {"type": "integer"}, "expires_at": TIMESTAMP},
            "required": ["credits", "expires_at"],
        },
    },
    "required": ["credits", "account_type", "next_expiration"],
}

# --- Request bodies (both faces take the same fields; /v1 refuses the hub's own ones) ---------------------

OPENAI_OPTIONS = {
    "response_format": {"type": "string", "enum": ["url", "b64_json"]},
    "output_format": {"type": "string", "enum": ["png", "jpeg", "webp"]},
    "output_compression": {"type": "integer", "minimum": 0, "maximum": 100},
    "background": {"type": "string", "enum": ["auto", "opaque", "transparent"]},
    "moderation": {"type": "string", "enum": ["auto", "low"]},
    "user": {"type": "string", "maxLength": 256},
    "stream": {"type": "boolean", "description": "Answer as a server-sent event stream of OpenAI's image events."},
    "partial_images": {"type": "integer", "minimum": 0, "maximum": 3},
}
COMMON_FIELDS = {
    "model": {"type": "string", "example": "gpt-image-2", "description": "An id from GET /models."},
    "prompt": {"type": "string", "minLength": 1, "example": "A cinematic product photo with premium studio lighting"},
    "n": {"type": "integer", "minimum": 1, "maximum": 4, "default": 1},
    "size": {"type": "string", "example": "1024x1024", "description": "`auto` or WxH within the model's limits."},
    "quality": {
        "type": "string",
        "example": "high",
        "description": "OpenAI style: auto, low, medium, high; older style (with aspect_ratio): 1K, 2K, 4K.",
    },
    **OPENAI_OPTIONS,
}
HUB_FIELDS = {
    "aspect_ratio": {"type": "string", "example": "1:1", "description": "Older style: `auto` or a supported ratio."},
    "async": {"type": "boolean", "description": "Answer 202 at once with `poll_url` instead of waiting."},
}
EDIT_FIELDS = {"input_fidelity": {"type": "string", "enum": ["low", "high"]}}
REFERENCE_PARTS = {
    "reference_image": {"type": "array", "items": BINARY, "description": "Reference images (PNG, JPEG, WebP)."},
    "image": {"type": "array", "items": BINARY, "description": "OpenAI's name for reference images (edits)."},
    "mask": {**BINARY, "description": "A PNG mask (edits)."},
}


def request_body(fields: dict) -> dict:
    """JSON, or multipart with the reference images as file parts."""
    json_body = {"type": "object", "properties": fields, "required": ["model", "prompt"]}
    multipart = {"type": "object", "properties": {**fields, **REFERENCE_PARTS}, "required": ["model", "prompt"]}
    return {"application/json": json_body, "multipart/form-data": multipart}


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="A retry with the same key and body returns the original generation without a second charge.",
)

PREFER = OpenApiParameter(
    "Prefer",
    str,
    OpenApiParameter.HEADER,
    description=(
        "`wait=N` (RFC 7240, N 1-60): run as a job and wait up to N seconds for it; 200 with the sync response "
        "if it finished, else 202 with `poll_url`. Answered with `Preference-Applied: wait=N`; not with `stream`."
    ),
)

REQUEST_EXAMPLES = [
    OpenApiExample(
        "OpenAI-style size",
        value={
            "model": "gpt-image-2",
            "prompt": "A cinematic product photo with premium studio lighting",
            "size": "1024x1024",
            "quality": "high",
            "n": 1,
        },
        request_only=True,
    ),
    OpenApiExample(
        "Older style: aspect ratio and 1K/2K/4K",
        value={
            "model": "gpt-image-2",
            "prompt": "A cinematic product photo of a transparent perfume bottle on black marble",
            "aspect_ratio": "1:1",
            "quality": "1K",
            "n": 1,
        },
        request_only=True,
    ),
    OpenApiExample(
        "Async task",
        value={
            "model": "gpt-image-2",
            "prompt": "A cinematic product photo with premium studio lighting",
            "size": "1024x1024",
            "quality": "high",
            "n": 1,
            "async": True,
        },
        request_only=True,
    ),
]

# --- /api/v1 responses ----------------------------------------------------------------------------------------

IMAGE = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string", "enum": ["image"]},
        "url": {"type": "string", "format": "uri", "nullable": True, "description": "null once expired."},
        "url_expires_at": {**NULLABLE_TIMESTAMP, "description": "When a signed URL stops working (null: never)."},
        "expired": {"type": "boolean", "description": "Deleted by retention or by its owner (no URL then)."},
        "width": {"type": "integer"},
        "height": {"type": "integer"},
        "content_type": {"type": "string", "example": "image/png"},
        "created_at": TIMESTAMP,
        "b64_json": {"type": "string", "description": "With response_format b64_json only."},
    },
    "required": ["id", "object", "url", "url_expires_at", "expired", "width", "height", "content_type", "created_at"],
}
GENERATION = {
    "type": "object",
    "description": "The image_generation object (OpenAI's `created` and `data` included for SDK clients).",
    "properties": {
        "object": {"type": "string", "enum": ["image_generation"]},
        "id": {"type": "string"},
        "status": {"type": "string", "enum": ["queued", "running", "succeeded", "failed", "canceled"]},
        "livemode": {
            "type": "boolean",
            "description": "False for a test key's generation (gih_test_…): rendered locally, no credits moved.",
        },
        "model": {"type": "string"},
        "prompt": {"type": "string"},
        "n": {"type": "integer"},
        "aspect_ratio": {"type": "string"},
        "quality": {"type": "string"},
        "size": {"type": "string"},
        "async": {"type": "boolean"},
        "created_at": TIMESTAMP,
        "started_at": NULLABLE_TIMESTAMP,
        "finished_at": NULLABLE_TIMESTAMP,
        "created": {"type": "integer", "description": "Unix seconds."},
        "images": {"type": "array", "items": IMAGE, "description": "Empty until the generation succeeded."},
        "data": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "url": {"type": "string", "format": "uri", "nullable": True},
                    "revised_prompt": {"type": "string", "nullable": True},
                    "b64_json": {"type": "string"},
                    "expired": {"type": "boolean"},
                },
                "required": ["url", "revised_prompt"],
            },
        },
        "usage": {
            "type": "object",
            "properties": {
                "credits": {"type": "integer", "description": "Charged minus refunded (0 until finished)."},
                "credits_requested": {"type": "integer"},
                "credits_refunded": {"type": "integer"},
            },
            "required": ["credits", "credits_requested", "credits_refunded"],
        },
        "error": {
            "type": "object",
            "description": "Failed generations only: why (credits refunded).",
            "properties": {"code": {"type": "string", "enum": ["generationFailed"]}, "message": {"type": "string"}},
            "required": ["code", "message"],
        },
        "balance": BALANCE,
        "poll_url": {"type": "string", "format": "uri", "description": "Async (202) answers only."},
    },
    "required": [
        "object",
        "id",
        "status",
        "livemode",
        "model",
        "prompt",
        "n",
        "aspect_ratio",
        "quality",
        "size",
        "async",
        "created_at",
        "started_at",
        "finished_at",
        "created",
        "images",
        "data",
        "usage",
    ],
}
EVENT_STREAM = {
    "text/event-stream": {
        "schema": {"type": "string", "description": "With `stream: true`: OpenAI's image events, then `[DONE]`."}
    }
}
_DOC_IMAGE = {
    "id": "clx_image_id",
    "object": "image",
    "url": "https://cdn.example.com/generations/user/image.png",
    "width": 1024,
    "height": 1024,
    "content_type": "image/png",
    "created_at": "2026-04-30T08:00:00.000Z",
}
SUCCEEDED_EXAMPLE = OpenApiExample(
    "Succeeded",
    value={
        "object": "image_generation",
        "id": "clx_generation_log_id",
        "status": "succeeded",
        "livemode": True,
        "model": "gpt-image-2",
        "prompt": "A cinematic product photo",
        "n": 1,
        "aspect_ratio": "1:1",
        "quality": "1K",
        "size": "1024x1024",
        "async": False,
        "created_at": "2026-04-30T08:00:00.000Z",
        "started_at": "2026-04-30T08:00:00.100Z",
        "finished_at": "2026-04-30T08:00:21.000Z",
        "created": 1777536000,
        "images": [_DOC_IMAGE],
        "data": [{"url": _DOC_IMAGE["url"], "revised_prompt": None}],
        "usage": {"credits": 1, "credits_requested": 1, "credits_refunded": 0},
        "balance": {"credits": 119, "account_type": "PRO", "next_expiration": None},
    },
    response_only=True,
    status_codes=["200"],
)
QUEUED_EXAMPLE = OpenApiExample(
    "Queued (async)",
    value={
        "object": "image_generation",
        "id": "clx_generation_log_id",
        "status": "queued",
        "livemode": True,
        "model": "gpt-image-2",
        "prompt": "A cinematic product photo",
        "n": 1,
        "aspect_ratio": "1:1",
        "quality": "high",
        "size": "1024x1024",
        "async": True,
        "created_at": "2026-04-30T08:00:00.000Z",
        "started_at": None,
        "finished_at": None,
        "created": 1777536000,
        "images": [],
        "data": [],
        "usage": {"credits": 0, "credits_requested": 8, "credits_refunded": 0},
        "poll_url": "https://your-domain.com/api/v1/generations/clx_generation_log_id",
    },
    response_only=True,
    status_codes=["202"],
)


def generation_response(description: str, *examples: OpenApiExample) -> OpenApiResponse:
    return OpenApiResponse(GENERATION, description=description, examples=list(examples))


GENERATION_PAGE = {
    "type": "object",
    "properties": {
        "object": {"type": "string", "enum": ["list"]},
        "data": {"type": "array", "items": GENERATION},
        "has_more": {"type": "boolean"},
    },
    "required": ["object", "data", "has_more"],
}
_INSTANT = "Unix seconds, an ISO 8601 date-time (UTC unless it says otherwise) or a date (its UTC midnight)."
LIST_PARAMETERS = [
    OpenApiParameter("limit", int, description="1 to 100 (default 20)."),
    OpenApiParameter("starting_after", str, description="A generation id: the page holds older generations."),
    OpenApiParameter("ending_before", str, description="A generation id: the page holds newer generations."),
    OpenApiParameter("status", str, enum=["queued", "running", "succeeded", "failed", "canceled"]),
    OpenApiParameter("created_after", str, description=_INSTANT),
    OpenApiParameter("created_before", str, description=_INSTANT),
]
