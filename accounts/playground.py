"""The playground's price quote: what the current selection costs, priced by the API's own code.

The page asks `quote.json` whenever a field changes; the first quote is rendered with the page, so
the price shows without JavaScript too. A quote never charges and never creates a generation.
"""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from billing.selectors import balance_get
from generations.services import generation_spec_build
from gih.errors import InvalidRequest, error_response

QUOTED_FIELDS = ("model", "aspect_ratio", "size", "quality", "n")
# The price does not depend on the prompt, but the request validation wants one.
PROMPT_FOR_QUOTE = "price quote"


def playground_quote_get(*, user, params) -> dict:
    """The price of a request with these fields and the user's balance after it; raises InvalidRequest."""
    data = {name: params.get(name) for name in QUOTED_FIELDS if params.get(name) not in (None, "")}
    data["prompt"] = PROMPT_FOR_QUOTE
    spec = generation_spec_build(data=data)
    balance = balance_get(user=user)["credits"]
    return {
        "object": "price_quote",
        "model": spec.model.id,
        "n": spec.n,
        "aspect_ratio": spec.resolution.aspect_ratio,
        "quality": spec.resolution.quality,
        "size": spec.resolution.size,
        "credits_per_image": spec.credits_per_image,
        "credits": spec.credits,
        "balance": balance,
        "balance_after": balance - spec.credits,
        "enough": balance >= spec.credits,
    }


def playground_form_quote(*, user, form, models: list) -> dict | None:
    """The quote of the form's current selection (the first model if none is chosen), or None if it is invalid."""
    params = {name: form[name].value() for name in QUOTED_FIELDS}
    if not params["model"] and models:
        params["model"] = models[0].id
    try:
        return playground_quote_get(user=user, params=params)
    except InvalidRequest:
        return None  # the page shows the form's own errors; the script quotes again on the next change


@never_cache
@login_required
@require_GET
def playground_quote(request: HttpRequest) -> JsonResponse:
    try:
        return JsonResponse(playground_quote_get(user=request.user, params=request.GET))
    except InvalidRequest as error:
        return error_response(400, error.code, error.message)
