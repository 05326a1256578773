"""The OpenAI face: /v1/... (see generations/api_openai.py)."""

from django.urls import path

from generations import api_openai

urlpatterns = [
    path("models", api_openai.ModelListView.as_view(), name="openai-models"),
    path("models/<str:model_id>", api_openai.ModelDetailView.as_view(), name="openai-model"),
    path("images/generations", api_openai.ImagesView.as_view(), name="openai-image-generations"),
    path("images/edits", api_openai.EditsView.as_view(), name="openai-image-edits"),
]
