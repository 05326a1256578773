from django.urls import path

from generations import api, api_key
from generations.webhooks import api as webhooks_api

urlpatterns = [
    path("key", api_key.KeyView.as_view(), name="api-key"),
    path("models", api.ModelListView.as_view(), name="api-models"),
    path("images/generations", api.ImageGenerationView.as_view(), name="api-image-generations"),
    path("images/edits", api.ImageEditView.as_view(), name="api-image-edits"),
    path("generations", api.GenerationListView.as_view(), name="api-generations"),
    path("generations/<str:generation_id>", api.GenerationDetailView.as_view(), name="api-generation-detail"),
    path("generations/<str:generation_id>/cancel", api.GenerationCancelView.as_view(), name="api-generation-cancel"),
    path("webhooks", webhooks_api.WebhookListView.as_view(), name="api-webhooks"),
    path("webhooks/<str:endpoint_id>", webhooks_api.WebhookDetailView.as_view(), name="api-webhook-detail"),
    path(
        "webhooks/<str:endpoint_id>/rotate-secret",
        webhooks_api.WebhookRotateSecretView.as_view(),
        name="api-webhook-rotate-secret",
    ),
]
