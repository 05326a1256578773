"""OpenAPI shapes of the model lists, both faces: the hub's catalogue (/api/v1) and OpenAI's model object (/v1)."""

OPENAI_MODEL = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "example": "gpt-image-2"},
        "object": {"type": "string", "enum": ["model"]},
        "created": {"type": "integer"},
        "owned_by": {"type": "string", "example": "openai"},
    },
    "required": ["id", "object", "created", "owned_by"],
}
HUB_MODEL = {
    "type": "object",
    "description": "OpenAI's model object plus the hub's catalogue: ratios, sizes, qualities, limits and prices.",
    "properties": {
        "id": {"type": "string", "example": "gpt-image-2"},
        "object": {"type": "string", "enum": ["model"]},
        "created": {"type": "integer"},
        "owned_by": {"type": "string"},
        "name": {"type": "string"},
        "display_name": {"type": "string"},
        "provider": {"type": "string"},
        "provider_model": {"type": "string"},
        "defaults": {
            "type": "object",
            "properties": {"aspect_ratio": {"type": "string"}, "quality": {"type": "string"}},
        },
        "qualities": {"type": "array", "items": {"type": "string"}},
        "tier_qualities": {"type": "array", "items": {"type": "string"}},
        "openai_qualities": {"type": "array", "items": {"type": "string"}},
        "aspect_ratios": {"type": "array", "items": {"type": "string"}},
        "sizes": {"type": "array", "items": {"type": "string"}},
        "size_limits": {"type": "object", "additionalProperties": {"type": "number"}},
        "reference_image_limit": {"type": "integer"},
        "max_images_per_request": {"type": "integer"},
        "credits_per_image": {"type": "integer", "nullable": True},
        "pricing": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "quality": {"type": "string"},
                    "max_pixels": {"type": "integer"},
                    "credits_per_image": {"type": "integer"},
                },
            },
        },
    },
    "required": ["id", "object", "created", "owned_by", "display_name", "provider", "reference_image_limit"],
}


def model_list(model: dict) -> dict:
    return {
        "type": "object",
        "properties": {"object": {"type": "string", "enum": ["list"]}, "data": {"type": "array", "items": model}},
        "required": ["object", "data"],
    }
