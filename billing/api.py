"""The credits part of the public API (/api/v1/credits)."""

from functools import partial

from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from accounts.services import api_key_authenticate, bearer_value
from billing.selectors import api_key_with_balance
from gih.errors import error_response


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
    key = api_key_authenticate(raw_key=raw_key, load=partial(api_key_with_balance, now=now), now=now)
    return JsonResponse({"object": "credit_balance", **key.balance})
