"""OpenAPI shapes of /api/v1/credits and /api/v1/credits/redeem (gih/openapi.py explains the document)."""

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework.views import APIView

from generations.openapi import BALANCE, TIMESTAMP
from gih.openapi import error_response, errors

BATCH = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "credits": {"type": "integer"},
        "remaining": {"type": "integer"},
        "expires_at": {**TIMESTAMP, "nullable": True},
        "source": {"type": "string", "example": "redemption"},
    },
    "required": ["id", "credits", "remaining", "expires_at", "source"],
}
CREDIT_BALANCE = {
    "type": "object",
    "properties": {
        "object": {"type": "string", "enum": ["credit_balance"]},
        "livemode": {"type": "boolean", "description": "False when read with a test key (live balance, read-only)."},
        **BALANCE["properties"],
        "expiring_batches": {
            "type": "array",
            "description": "The soonest-expiring usable batches.",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "credits": {"type": "integer"},
                    "expires_at": TIMESTAMP,
                    "source": {"type": "string"},
                },
                "required": ["id", "credits", "expires_at", "source"],
            },
        },
    },
    "required": ["object", "livemode", *BALANCE["required"], "expiring_batches"],
}
REDEMPTION = {
    "type": "object",
    "properties": {
        "object": {"type": "string", "enum": ["redemption"]},
        "credits": {"type": "integer"},
        "batch": BATCH,
        "balance": BALANCE,
    },
    "required": ["object", "credits", "batch", "balance"],
}


class CreditsView(APIView):
    """Schema-only twin of billing.api.credits_view (a plain Django view); never routed."""

    @extend_schema(
        operation_id="api_credits_retrieve",
        summary="Read the credit balance",
        description="The balance, account type and soonest expirations of the key owner's credits.",
        tags=["Credits"],
        responses={
            200: CREDIT_BALANCE,
            **errors(401),
        },
        examples=[
            OpenApiExample(
                "Balance",
                value={
                    "object": "credit_balance",
                    "livemode": True,
                    "credits": 120,
                    "account_type": "PRO",
                    "next_expiration": None,
                    "expiring_batches": [],
                },
                response_only=True,
            )
        ],
    )
    def get(self, request):
        raise NotImplementedError  # documentation only


REDEEM_SCHEMA = extend_schema_view(
    post=extend_schema(
        operation_id="api_credits_redeem",
        summary="Redeem a code",
        description="One grant batch from a redemption code; at most REDEEM_FAILURE_LIMIT failures per hour.",
        tags=["Credits"],
        request={
            "application/json": {
                "type": "object",
                "properties": {"code": {"type": "string", "example": "GIH-XXXX-XXXX-XXXX-XXXX"}},
                "required": ["code"],
            }
        },
        responses={
            200: REDEMPTION,
            400: error_response(400, codes=("invalid_request", "invalid_code", "already_redeemed")),
            403: error_response(403, codes=("test_key_not_allowed", "permission_denied")),
            **errors(401, 406, 415, 429),
        },
    )
)
