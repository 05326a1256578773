"""OpenAPI shape of GET /api/v1/key (generations/admission.py key_summary builds it)."""

NULLABLE_INT = {"type": "integer", "nullable": True}
KEY_SUMMARY = {
    "type": "object",
    "description": "The calling key: its prefix, name, mode, effective limits (null: unlimited) and usage now.",
    "properties": {
        "object": {"type": "string", "enum": ["api_key"]},
        "prefix": {"type": "string", "example": "gih_live_AbCd"},
        "name": {"type": "string"},
        "mode": {"type": "string", "enum": ["live", "test"]},
        "limits": {
            "type": "object",
            "properties": {
                "rate_limit_per_minute": NULLABLE_INT,
                "max_concurrent": NULLABLE_INT,
                "spend_limit": NULLABLE_INT,
                "spend_period": {"type": "string", "nullable": True},
                "allowed_models": {"type": "array", "items": {"type": "string"}, "nullable": True},
                "allowed_ips": {"type": "array", "items": {"type": "string"}},
            },
            "required": [
                "rate_limit_per_minute",
                "max_concurrent",
                "spend_limit",
                "spend_period",
                "allowed_models",
                "allowed_ips",
            ],
        },
        "usage": {
            "type": "object",
            "properties": {
                "requests_this_minute": NULLABLE_INT,
                "requests_remaining": NULLABLE_INT,
                "in_flight": {"type": "integer"},
                "in_flight_remaining": NULLABLE_INT,
                "spent_this_period": {"type": "integer"},
                "spend_remaining": NULLABLE_INT,
                "spend_resets_at": {"type": "string", "format": "date-time", "nullable": True},
            },
            "required": ["in_flight", "spent_this_period"],
        },
    },
    "required": ["object", "prefix", "name", "mode", "limits", "usage"],
}
