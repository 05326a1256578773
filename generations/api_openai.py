"""The OpenAI face (/v1/...): OpenAI's Images API, exactly, over the same generation service as /api/v1.

`OpenAI(base_url="https://host/v1", api_key="gih_live_…")` behaves as against OpenAI.
Only parsing and shaping live here: keys, credits, limits, idempotency and the
generation log are the service's, and each generation records that it came this way.
Errors take OpenAI's shape from gih.errors (the path decides).
"""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.selectors import balance_get, balance_summary
from generations import openai_shapes, selectors
from generations.api import (
    GenerationKeyLoaderMixin,
    RateLimitHeadersMixin,
    ReleasedResponseMixin,
    mask_file,
    reference_files,
    request_admission,
    request_fields,
    sdk_retry_count,
    stream_response,
)
from generations.catalogue import catalogue
from generations.failures import FailureCode, is_retryable, public_failure_reason
from generations.files import output_load
from generations.models import Generation
from generations.openapi import COMMON_FIELDS, EDIT_FIELDS, EVENT_STREAM, IDEMPOTENCY_KEY, request_body
from generations.openapi_models import OPENAI_MODEL, model_list
from generations.openapi_openai import GIH_HEADERS, REQUEST_EXAMPLE, images_response
from generations.services import generation_accept, generation_complete
from generations.streaming import StreamShape
from gih.errors import ApiError, GenerationFailed, NotFound
from gih.openai_errors import openai_error
from gih.openapi import openai_errors
from gih.renderers import OrjsonRenderer


@extend_schema_view(
    get=extend_schema(
        operation_id="v1_models_list",
        summary="List models (OpenAI)",
        tags=["OpenAI face"],
        responses={
            200: model_list(OPENAI_MODEL),
            **openai_errors(406),
        },
    )
)
class ModelListView(APIView):
    """GET /v1/models: OpenAI's model list."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request):
        models = [openai_shapes.openai_model(model) for model in selectors.enabled_models()]
        return Response({"object": "list", "data": models})


@extend_schema_view(
    get=extend_schema(
        operation_id="v1_models_retrieve",
        summary="Retrieve a model (OpenAI)",
        tags=["OpenAI face"],
        responses={200: OPENAI_MODEL, **openai_errors(404, 406)},
    )
)
class ModelDetailView(APIView):
    """GET /v1/models/{id}: one model, or OpenAI's 404 `model_not_found`."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request, model_id: str):
        model = catalogue().enabled_model(model_id)
        if model is None:
            raise NotFound(f"The model '{model_id}' does not exist.", code="model_not_found", param="model")
        return Response(openai_shapes.openai_model(model))


def failure(generation: Generation) -> ApiError:
    """A failed generation as OpenAI reports it: a content-policy refusal is a 400, anything else a 500."""
    message = (
        f"{public_failure_reason(generation.error_code)} Generation {generation.pk}; "
        f"its {generation.credits_refunded} credits were refunded."
    )
    if generation.error_code == FailureCode.MODERATION_BLOCKED:
        return ApiError(message, code="moderation_blocked", status_code=400, retryable=False)
    return GenerationFailed(message, retryable=is_retryable(generation.error_code))


def failure_error(generation: Generation) -> dict:
    error = failure(generation)
    return openai_error(error.status_code, error.code, error.message)["error"]


def _images_schema(*, edit: bool):
    return extend_schema(
        operation_id="v1_images_edits_create" if edit else "v1_images_generations_create",
        summary="Edit images (OpenAI)" if edit else "Create images (OpenAI)",
        description=(
            "OpenAI's Images API exactly (any other field is refused); the hub's facts travel in `x-gih-*` headers. "
            "A failed generation is refunded: 500 `generation_failed`, or 400 `moderation_blocked`."
        ),
        tags=["OpenAI face"],
        request=request_body({**COMMON_FIELDS, **(EDIT_FIELDS if edit else {})}),
        parameters=[IDEMPOTENCY_KEY, *GIH_HEADERS],
        examples=[] if edit else [REQUEST_EXAMPLE],
        responses={
            (200, "application/json"): images_response(),
            (200, "text/event-stream"): EVENT_STREAM["text/event-stream"]["schema"],
            **openai_errors(401, 402, 406, 409, 415, 429),
        },
    )


@extend_schema_view(post=_images_schema(edit=False))
class ImagesView(ReleasedResponseMixin, GenerationKeyLoaderMixin, RateLimitHeadersMixin, APIView):
    """POST /v1/images/generations and /v1/images/edits."""

    parser_classes = [JSONParser, MultiPartParser, FormParser]
    renderer_classes = [OrjsonRenderer]  # b64_json answers are megabytes
    edit = False

    def post(self, request):
        outcome = generation_accept(
            user=request.user,
            api_key=request.auth,
            data=request_fields(request),
            files=reference_files(request),
            mask=mask_file(request),
            idempotency_key=request.headers.get("Idempotency-Key"),
            face=Generation.Face.OPENAI,
            edit=self.edit,
            sdk_retry=sdk_retry_count(request) > 0,
            admission=request_admission(request),
        )
        spec = outcome.spec
        if spec.stream:
            return stream_response(outcome, StreamShape(edit=self.edit, failure_error=failure_error))
        generation = generation_complete(outcome=outcome)
        if generation.status != Generation.Status.SUCCEEDED:
            raise failure(generation)
        images = list(generation.images.all())
        body = openai_shapes.images_response(
            generation,
            images,
            response_format=spec.response_format,
            content=output_load,
            absolute_url=request.build_absolute_uri,
        )
        balance = balance_summary(balance_get(user=request.user, batches=generation.usable_batches))
        return Response(body, headers=openai_shapes.gih_headers(generation, balance))


@extend_schema_view(post=_images_schema(edit=True))
class EditsView(ImagesView):
    edit = True
