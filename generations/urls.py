from django.urls import path

from generations import api, api_key

urlpatterns = [
    path("key", api_key.KeyView.as_view(), name="api-key"),
    path("models", api.ModelListView.as_view(), name="api-models"),
    path("images/generations", api.ImageGenerationView.as_view(), name="api-image-generations"),
    path("images/edits", api.ImageEditView.as_view(), name="api-image-edits"),
    path("generations", api.GenerationListView.as_view(), name="api-generations"),
    path("generations/<str:generation_id>", api.GenerationDetailView.as_view(), name="api-generation-detail"),
    path("generations/<str:generation_id>/cancel", api.GenerationCancelView.as_view(), name="api-generation-cancel"),
]
