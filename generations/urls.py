from django.urls import path

from generations import api

urlpatterns = [
    path("models", api.ModelListView.as_view(), name="api-models"),
    path("credits", api.CreditsView.as_view(), name="api-credits"),
]
