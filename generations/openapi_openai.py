"""OpenAPI shapes of the OpenAI face (/v1): OpenAI's own objects (generations/openai_shapes.py builds them)."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse

USAGE = {
    "type": "object",
    "description": "OpenAI's token usage of the call (estimated the way OpenAI counts with the local renderer).",
    "properties": {
        "input_tokens": {"type": "integer"},
        "input_tokens_details": {
            "type": "object",
            "properties": {"text_tokens": {"type": "integer"}, "image_tokens": {"type": "integer"}},
        },
        "output_tokens": {"type": "integer"},
        "total_tokens": {"type": "integer"},
    },
    "required": ["input_tokens", "output_tokens", "total_tokens"],
}
IMAGES_RESPONSE = {
    "type": "object",
    "description": "OpenAI's ImagesResponse; `size` and `quality` as actually used (never `auto`).",
    "properties": {
        "created": {"type": "integer"},
        "data": {
            "type": "array",
            "items": {
                "type": "object",
                "description": "`b64_json` by default, `url` with response_format url.",
                "properties": {"b64_json": {"type": "string"}, "url": {"type": "string", "format": "uri"}},
            },
        },
        "background": {"type": "string", "enum": ["opaque", "transparent"]},
        "output_format": {"type": "string", "enum": ["png", "jpeg", "webp"]},
        "quality": {"type": "string"},
        "size": {"type": "string", "example": "1024x1024"},
        "usage": USAGE,
    },
    "required": ["created", "data", "background", "output_format", "quality", "size", "usage"],
}
GIH_HEADERS = [
    OpenApiParameter(
        "x-gih-generation-id",
        str,
        OpenApiParameter.HEADER,
        response=["200"],
        description="The hub's generation id (GET /api/v1/generations/{id}).",
    ),
    OpenApiParameter(
        "x-gih-credits-charged",
        int,
        OpenApiParameter.HEADER,
        response=["200"],
        description="Credits this call cost (charged minus refunded).",
    ),
    OpenApiParameter(
        "x-gih-credits-balance",
        int,
        OpenApiParameter.HEADER,
        response=["200"],
        description="The account's balance after the call.",
    ),
]
IMAGES_EXAMPLE = OpenApiExample(
    "b64_json (default)",
    value={
        "created": 1777536000,
        "data": [{"b64_json": "iVBORw0KGgo…"}],
        "background": "opaque",
        "output_format": "png",
        "quality": "high",
        "size": "1024x1024",
        "usage": {
            "input_tokens": 12,
            "input_tokens_details": {"text_tokens": 12, "image_tokens": 0},
            "output_tokens": 4160,
            "total_tokens": 4172,
        },
    },
    response_only=True,
    status_codes=["200"],
)
REQUEST_EXAMPLE = OpenApiExample(
    "Generate",
    value={
        "model": "gpt-image-2",
        "prompt": "A lighthouse",
        "size": "1024x1024",
        "quality": "high",
        "output_format": "webp",
        "background": "transparent",
    },
    request_only=True,
)


def images_response() -> OpenApiResponse:
    return OpenApiResponse(IMAGES_RESPONSE, description="The images.", examples=[IMAGES_EXAMPLE])
