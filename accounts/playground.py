"""The playground: a web form over the API's generation flow, its price quote, and its stream.

The quote is what the current selection costs, priced by the API's own code. The page asks
`quote.json` whenever a field changes; the first quote is rendered with the page, so the price
shows without JavaScript too. A quote never charges and never creates a generation.

Streaming: when the chosen model's provider relays partial images, the page's script
(static/js/playground.js) posts the form to `stream` instead and shows each partial image as
it arrives, then opens the generation's page. That is the API's own stream (the /api/v1
events), charged and stored the same way. A request refused before the stream starts (an
invalid form, too few credits) answers JSON; the script then submits the form the plain way,
whose page explains the error, as it does without JavaScript.
"""

import secrets

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.forms import PlaygroundForm
from billing.selectors import balance_get
from billing.services import InsufficientCredits
from generations import selectors as generation_selectors
from generations.api import api_stream_shape, stream_response
from generations.providers import provider_streams
from generations.serializers import model_payload
from generations.services import generation_accept, generation_request
from generations.validation import generation_spec_build
from gih.errors import ApiError, InvalidRequest, error_response

QUOTED_FIELDS = ("model", "aspect_ratio", "size", "quality", "n")
STREAM_PARTIAL_IMAGES = 2  # partial images the playground asks for while streaming (OpenAI allows 0-3)
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


def model_with_price_grid(model: dict) -> dict:
    """A model's price rows as a grid of quality by image size, easier to read than the API's list."""
    brackets = sorted({price["max_pixels"] for price in model["pricing"]})
    prices = {(price["quality"], price["max_pixels"]): price["credits_per_image"] for price in model["pricing"]}
    grid = {
        "columns": [f"≤ {pixels / 1_000_000:.1f} MP" for pixels in brackets],
        "rows": [(quality, [prices.get((quality, pixels)) for pixels in brackets]) for quality in model["qualities"]],
    }
    return {**model, "price_grid": grid}


@login_required
@require_http_methods(["GET", "POST"])
def playground(request: HttpRequest) -> HttpResponse:
    """A web form over generation_request: the same validation, pricing and billing as the API."""
    models = generation_selectors.enabled_models()
    if request.method == "POST":
        form = PlaygroundForm(request.POST, request.FILES, models=models)
    else:
        form = PlaygroundForm(models=models)
    if form.is_valid():
        try:
            outcome = generation_request(
                user=request.user,
                data=form.request_data(),
                files=form.cleaned_data["reference_images"],
                idempotency_key=form.cleaned_data["idempotency_key"] or None,
            )
        except InsufficientCredits as error:
            form.add_error(
                None,
                _("Not enough credits: this request costs %(needed)s, your balance is %(available)s.")
                % {"needed": error.needed, "available": error.available}
                + " "
                + _("Buy credits or redeem a code on the Credits page."),
            )
        except ApiError as error:
            form.add_error(None, error.message)
        else:
            return redirect("accounts:generation_detail", generation_id=outcome.generation.pk)
    context = {
        "form": form,
        "quote": playground_form_quote(user=request.user, form=form, models=models),
        "balance": balance_get(user=request.user),
        "models": [model_with_price_grid(model_payload(model)) for model in models],
        # A fresh key for every rendered form; after an error the corrected request is a new one.
        "idempotency_key": f"playground-{secrets.token_hex(16)}",
        "stream_config": _stream_config(models),
    }
    return render(request, "generations/playground.html", context)


def _stream_config(models: list) -> dict:
    """What static/js/playground.js needs: where to stream, which models stream, and its words."""
    return {
        "stream_url": reverse("accounts:playground_stream"),
        "detail_url": reverse("accounts:generation_detail", args=["GENERATION_ID"]),
        "models": [model.id for model in models if provider_streams(model.provider)],
        "text": {
            "waiting": _("Waiting for the first partial image…"),
            "partial": _("Partial image: still generating…"),
            "final": _("Final image"),
            "failed": _("The generation failed; its credits were refunded."),
        },
    }


@login_required
@require_POST
def playground_stream(request: HttpRequest) -> HttpResponse:
    """The playground's form as the API's event stream, partial images included (see the module docstring)."""
    form = PlaygroundForm(request.POST, request.FILES, models=generation_selectors.enabled_models())
    if not form.is_valid():
        return error_response(400, InvalidRequest.code, "The form is invalid.")  # the plain submit shows why
    data = {**form.request_data(), "stream": True, "partial_images": STREAM_PARTIAL_IMAGES}
    try:
        outcome = generation_accept(
            user=request.user,
            data=data,
            files=form.cleaned_data["reference_images"],
            idempotency_key=form.cleaned_data["idempotency_key"] or None,
        )
    except InsufficientCredits as error:
        return error_response(402, "insufficient_credits", str(error))
    except ApiError as error:
        return error_response(error.status_code, error.code, error.message)
    return stream_response(outcome, api_stream_shape(request))
