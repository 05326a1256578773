"""The Webhooks account page: endpoints, their recent deliveries, resend. Views call services and selectors."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from generations.webhooks import selectors
from generations.webhooks.forms import EndpointForm
from generations.webhooks.models import WebhookDelivery
from generations.webhooks.services import (
    EndpointWithSecret,
    delivery_resend,
    endpoint_create,
    endpoint_delete,
    endpoint_rotate_secret,
)
from gih.errors import InvalidRequest


def _owned_endpoint(request: HttpRequest, endpoint_id: str):
    endpoint = selectors.endpoint_get_for_user(user=request.user, endpoint_id=endpoint_id)
    if endpoint is None:
        raise Http404("No such webhook endpoint.")
    return endpoint


def _secret_page(request: HttpRequest, shown: EndpointWithSecret, *, rotated: bool) -> HttpResponse:
    context = {"endpoint": shown.endpoint, "secret": shown.secret, "rotated": rotated}
    return render(request, "generations/webhook_secret.html", context)


@login_required
@never_cache  # the create answer shows a secret once: never from a cache or the back button
def webhooks(request: HttpRequest) -> HttpResponse:
    form = EndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            created = endpoint_create(user=request.user, base_url=request.build_absolute_uri("/"), **form.cleaned_data)
        except InvalidRequest as error:
            form.add_error("url" if error.param == "url" else None, error.message)
        else:
            return _secret_page(request, created, rotated=False)
    endpoints = selectors.endpoints_with_recent_deliveries(user=request.user)
    return render(request, "generations/webhooks.html", {"form": form, "endpoints": endpoints})


@login_required
@require_POST
def webhook_delete(request: HttpRequest, endpoint_id: str) -> HttpResponse:
    endpoint = _owned_endpoint(request, endpoint_id)
    endpoint_delete(endpoint=endpoint)
    messages.success(request, _("Webhook endpoint %(url)s is deleted.") % {"url": endpoint.url})
    return redirect("webhooks:list")


@login_required
@require_POST
@never_cache
def webhook_rotate(request: HttpRequest, endpoint_id: str) -> HttpResponse:
    rotated = endpoint_rotate_secret(endpoint=_owned_endpoint(request, endpoint_id))
    return _secret_page(request, rotated, rotated=True)


@login_required
@require_POST
def webhook_resend(request: HttpRequest, delivery_id: str) -> HttpResponse:
    delivery = (
        WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id, endpoint__user=request.user).first()
    )
    if delivery is None:
        raise Http404("No such delivery.")
    try:
        delivery_resend(delivery=delivery)
    except InvalidRequest as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("The event is sent again."))
    return redirect("webhooks:list")
