"""The credits part of the public API (/api/v1/credits, /api/v1/credits/redeem)."""

from functools import partial

from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.services import api_key_authenticate, bearer_value
from billing.api_key_loaders import api_key_with_balance
from billing.openapi import REDEEM_SCHEMA, CreditsView
from billing.redeeming import RedeemFailed, redeem
from billing.selectors import balance_get, balance_summary, batch_payload
from gih.client_ip import client_ip
from gih.errors import ApiError, error_response
from gih.openapi import documented_by

TEST_KEY_REDEEM_MESSAGE = "A test key cannot add credits: redeem the code with a live key (gih_live_...)."


@documented_by(CreditsView)
@csrf_exempt  # a bearer-key API: no cookies are read, so there is nothing to forge
def credits_view(request):
    """GET /api/v1/credits: the balance of the key's owner.

    A plain Django view on one query (key and balance together), not DRF: clients poll
    it, and DRF plus the ORM cost ~10x the query itself (bench/RESULTS.md). Errors are
    raised and enveloped by gih.errors.ApiErrorMiddleware like the DRF views' ones.
    """
    if request.method not in ("GET", "HEAD"):
        message = f'Method "{request.method}" not allowed.'
        return error_response(405, "method_not_allowed", message, headers={"Allow": "GET, HEAD"})
    raw_key = bearer_value(request.headers.get("Authorization", ""))
    now = timezone.now()
    load = partial(api_key_with_balance, now=now)
    key = api_key_authenticate(raw_key=raw_key, load=load, now=now, client_ip=client_ip(request))
    # A test key reads the account's live balance; nothing it does changes it.
    return JsonResponse({"object": "credit_balance", "livemode": key.mode != "test", **key.balance})


@REDEEM_SCHEMA
class RedeemView(APIView):
    """POST /api/v1/credits/redeem {"code": "GIH-…"}: one grant batch from a redemption code."""

    parser_classes = [JSONParser]

    def post(self, request):
        if not request.auth.livemode:
            raise ApiError(TEST_KEY_REDEEM_MESSAGE, code="test_key_not_allowed", status_code=403)
        code = request.data.get("code") if isinstance(request.data, dict) else None
        if not isinstance(code, str) or not code.strip():
            raise ApiError("code: a redemption code (a string such as GIH-XXXX-XXXX-XXXX-XXXX) is required.")
        try:
            redemption = redeem(user=request.user, raw_code=code)
        except RedeemFailed as failed:
            if failed.code == "rate_limited":
                raise drf.Throttled(wait=failed.retry_after, detail=failed.message) from None
            raise ApiError(failed.message, code=failed.code) from None
        return Response(
            {
                "object": "redemption",
                "credits": redemption.batch.amount,
                "batch": batch_payload(redemption.batch),
                "balance": balance_summary(balance_get(user=request.user)),
            }
        )
