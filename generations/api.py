"""The public REST API (/api/v1/...). Views only parse, call a service or selector, and shape."""

from django.urls import reverse
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.selectors import balance_get, balance_summary
from generations import selectors
from generations.serializers import generation_payload, model_payload
from generations.services import generation_request
from generations.validation import REFERENCE_FIELDS
from gih.errors import NotFound


class ModelListView(APIView):
    """GET /api/v1/models: public; OpenAI's list shape so `client.models.list()` works."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"object": "list", "data": [model_payload(model) for model in selectors.enabled_models()]})


def _reference_files(request) -> list:
    return [upload for name in REFERENCE_FIELDS for upload in request.FILES.getlist(name)]


def _request_fields(request) -> dict:
    """The body as a plain dict of fields (file parts are passed separately).

    Form bodies: the text parts only (request.POST), one value per field. A reference
    field sent as text (curl's -F without the @) stays in, so validation refuses it
    instead of charging for a generation without the intended reference.
    """
    if hasattr(request.data, "getlist"):
        return {key: request.POST.get(key) for key in request.POST}
    return request.data


class ImageGenerationView(APIView):
    """POST /api/v1/images/generations (and /images/edits for OpenAI SDK clients)."""

    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def post(self, request):
        outcome = generation_request(
            user=request.user,
            api_key=request.auth,
            data=_request_fields(request),
            files=_reference_files(request),
            idempotency_key=request.headers.get("Idempotency-Key"),
        )
        generation = outcome.generation
        poll_url = request.build_absolute_uri(reverse("api-generation-detail", args=[generation.pk]))
        if generation.is_async or not generation.is_terminal:
            payload = generation_payload(generation, absolute_url=request.build_absolute_uri, poll_url=poll_url)
            return Response(payload, status=202, headers={"Location": poll_url})
        balance = balance_summary(balance_get(user=request.user))
        return Response(generation_payload(generation, absolute_url=request.build_absolute_uri, balance=balance))


class GenerationDetailView(APIView):
    """GET /api/v1/generations/:id: the owner's generation, live state included."""

    def get(self, request, generation_id: str):
        generation = selectors.generation_get_for_user(user=request.user, generation_id=generation_id)
        if generation is None:
            raise NotFound(f"No generation {generation_id!r} for this API key's account.")
        return Response(generation_payload(generation, absolute_url=request.build_absolute_uri))
