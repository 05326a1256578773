"""The credits pages and the Stripe webhook (outside /api/: it is Stripe's, not our API's)."""

from django.urls import path

from billing import views, webhooks

app_name = "billing"

urlpatterns = [
    path("credits/redeem/", views.redeem_view, name="redeem"),
    path("credits/buy/", views.buy, name="buy"),
    path("credits/buy/<int:package_id>/", views.checkout_start, name="checkout_start"),
    path("credits/buy/success/", views.checkout_success, name="checkout_success"),
    path("billing/stripe/webhook", webhooks.stripe_webhook, name="stripe_webhook"),
]
