from django.urls import path

from billing import api

urlpatterns = [
    path("credits", api.credits_view, name="api-credits"),
    path("credits/redeem", api.RedeemView.as_view(), name="api-credits-redeem"),
]
