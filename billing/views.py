"""The credits pages: redeem a code, buy a package through Stripe Checkout, see an order.

Views only parse a form, call a service or selector, and render.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from billing import selectors, stripe_checkout
from billing.forms import RedeemForm
from billing.redeeming import RedeemFailed, redeem

# The page's words for redeeming failures (the API's messages stay English).
REDEEM_FAILURES = {
    "invalid_code": gettext_lazy("This code is not valid: it is unknown, used up or expired."),
    "already_redeemed": gettext_lazy("You have already redeemed this code."),
    "rate_limited": gettext_lazy("Too many failed redemptions. Try again later."),
}


@login_required
@require_POST
def redeem_view(request: HttpRequest) -> HttpResponse:
    form = RedeemForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Enter a redemption code."))
        return redirect("accounts:credits")
    try:
        redemption = redeem(user=request.user, raw_code=form.cleaned_data["code"])
    except RedeemFailed as failed:
        messages.error(request, REDEEM_FAILURES.get(failed.code, failed.message))
        return redirect("accounts:credits")
    messages.success(
        request,
        _("Code redeemed: %(credits)s credits were added to your balance.") % {"credits": redemption.batch.amount},
    )
    return redirect("accounts:credits")


@login_required
@require_http_methods(["GET"])
def buy(request: HttpRequest) -> HttpResponse:
    context = {
        "stripe_enabled": stripe_checkout.is_configured(),
        "packages": selectors.packages_for_sale(),
        "support_email": settings.SUPPORT_EMAIL,
        "redeem_form": RedeemForm(),
    }
    return render(request, "billing/buy.html", context)


@login_required
@require_POST
def checkout_start(request: HttpRequest, package_id: int) -> HttpResponse:
    if not stripe_checkout.is_configured():
        raise Http404("Card payments are not enabled.")
    package = selectors.package_for_sale(package_id=package_id)
    if package is None:
        raise Http404("No such package.")
    success_url = request.build_absolute_uri(reverse("billing:checkout_success"))
    cancel_url = request.build_absolute_uri(reverse("billing:buy"))
    try:
        checkout = stripe_checkout.checkout_start(
            user=request.user, package=package, success_url=success_url, cancel_url=cancel_url
        )
    except stripe_checkout.CheckoutUnavailable:
        messages.error(request, _("Card payments are unavailable right now. Please try again in a few minutes."))
        return redirect("billing:buy")
    response = HttpResponseRedirect(checkout.url)
    response.status_code = 303  # See Other: the browser GETs Stripe's page
    return response


@login_required
@require_http_methods(["GET"])
def checkout_success(request: HttpRequest) -> HttpResponse:
    """Where Stripe sends the buyer back. Fulfils a paid order too, in case the webhook is late (once, either way)."""
    order = selectors.order_for_user_by_session(user=request.user, session_id=request.GET.get("session_id", ""))
    if order is None:
        raise Http404("No such order.")
    order = stripe_checkout.order_sync(order=order)
    return render(request, "billing/checkout_success.html", {"order": order})
