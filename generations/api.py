"""The public REST API (/api/v1/...). Views only parse, call a service or selector, and shape."""

from collections.abc import Mapping
from functools import partial

from django.db import connection
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api_key_loaders import api_key_for_generation
from billing.selectors import balance_get, balance_summary
from generations import openapi, selectors
from generations.admission import Admission, admission_for
from generations.files import output_load
from generations.listing import list_query_parse
from generations.models import GeneratedImage, Generation
from generations.openai_shapes import gih_headers
from generations.openapi_models import HUB_MODEL, model_list
from generations.retention import generation_images_delete
from generations.serializers import generation_payload, image_url, model_payload
from generations.services import GenerationOutcome, failed_message, generation_accept, generation_finish
from generations.streaming import StreamShape, generation_stream
from generations.transitions import generation_cancel
from generations.validation import MASK_FIELD, REFERENCE_FIELDS
from generations.waiting import generation_await, prefer_wait
from gih import fair_share
from gih.errors import NotFound
from gih.openapi import error_response, errors
from gih.parsers import JSONParser


@extend_schema_view(
    get=extend_schema(
        operation_id="api_models_list",
        summary="List the image models",
        description="Public (no key): each model's ratios, sizes, qualities, reference-image limit and prices.",
        tags=["Models"],
        responses={200: model_list(HUB_MODEL), **errors(406)},
    )
)
class ModelListView(APIView):
    """GET /api/v1/models: public; OpenAI's list shape so `client.models.list()` works."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"object": "list", "data": [model_payload(model) for model in selectors.enabled_models()]})


def reference_files(request) -> list:
    return [upload for name in REFERENCE_FIELDS for upload in request.FILES.getlist(name)]


def mask_file(request):
    return request.FILES.get(MASK_FIELD)


def sdk_retry_count(request) -> int:
    """How many times an official OpenAI SDK has retried this request (its `x-stainless-retry-count`)."""
    try:
        return max(0, int(request.headers.get("x-stainless-retry-count", "0")))
    except ValueError:
        return 0


def stream_response(outcome: GenerationOutcome, shape: StreamShape, balance: dict | None = None):
    """The accepted generation as an event stream (generations/streaming.py); the charge is already taken."""
    # The stream keeps the request's fair-share place until it ends (gih/fair_share.py).
    events = fair_share.carried(generation_stream(outcome, shape))
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    for name, value in gih_headers(outcome.generation, balance).items():
        response[name] = value
    if not connection.in_atomic_block:
        connection.close()  # the stream holds no database connection while it lasts
    return response


def request_fields(request) -> dict:
    """The body as a plain dict of fields (file parts are passed separately).

    Form bodies: the text parts only (request.POST), one value per field. A reference
    field sent as text (curl's -F without the @) stays in, so validation refuses it
    instead of charging for a generation without the intended reference.
    """
    if hasattr(request.data, "getlist"):
        return {key: request.POST.get(key) for key in request.POST}
    return request.data


def request_admission(request) -> Admission | None:
    """The request's pass through its key's limits, kept on the request for the x-ratelimit-* headers."""
    request.gih_admission = admission_for(request.auth)
    return request.gih_admission


class GenerationKeyLoaderMixin:
    """The key's query also reads its limits and its owner's usable credits, which a generation request reads
    next anyway (billing.api_key_loaders.api_key_for_generation; accounts.authentication asks the view)."""

    def api_key_loader(self):
        return partial(api_key_for_generation, now=timezone.now())


class ReleasedResponseMixin:
    """The answer goes as soon as it is sent, not at the next cyclic collection.

    DRF keeps the response on the view (`view.response`), the view in the response's renderer context, and
    (while rendering) the response in that context too: reference cycles, so every generation's answer (on /v1
    2-4 MB of base64 and its JSON) stayed in memory until the collector next ran: gunicorn's peak RSS under 16
    /v1 clients was 1.5 GB (bench/RESULTS.md). Dropping the view's reference, and the context once rendered,
    ends them; the response is freed once the server has written it.
    """

    def dispatch(self, request, *args, **kwargs):
        response = super().dispatch(request, *args, **kwargs)
        self.__dict__.pop("response", None)
        if hasattr(response, "add_post_render_callback"):  # not a stream
            response.add_post_render_callback(_release_renderer_context)
        return response


def _release_renderer_context(response) -> None:
    response.renderer_context = {}  # it held the view, the request and the response itself


class RateLimitHeadersMixin:
    """Every answer of a generation view, error or not, carries the key's x-ratelimit-* headers (when it has one)."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        admission = getattr(request, "gih_admission", None)
        window = admission.rate_window() if admission is not None else None
        if window is not None:
            for name, value in window.headers().items():
                response[name] = value
        return response


def queued_if_waiting(fields, wait: int | None):
    """`Prefer: wait` runs the generation as a job (async), whatever the body says; the request then waits for it."""
    if wait is None or not isinstance(fields, Mapping):
        return fields  # a body that is not an object is refused by validation as it is
    return {**fields, "async": True}


def _stream_failure(generation: Generation) -> dict:
    return {"message": failed_message(generation), "type": "server_error", "param": None, "code": "generationFailed"}


def api_stream_shape(request, *, edit: bool = False) -> StreamShape:
    """The /api/v1 stream: OpenAI's events, the completed ones also naming the generation and the image's URL."""

    def extra(generation: Generation, image: GeneratedImage) -> dict:
        return {"generation_id": generation.pk, "url": image_url(image, request.build_absolute_uri)}

    return StreamShape(edit=edit, failure_error=_stream_failure, completed_extra=extra)


def _generation_schema(*, edit: bool):
    noun = "edit" if edit else "generation"
    return extend_schema(
        operation_id=f"api_images_{noun}s_create",
        summary="Edit images (OpenAI SDK's images.edit)" if edit else "Generate images",
        description=(
            "Charged before the provider is called, refunded automatically when it fails or returns fewer images. "
            "Sync by default (up to 800 s); `async: true` answers 202 with `poll_url`; `stream: true` answers "
            "OpenAI's server-sent image events."
        ),
        tags=["Images"],
        request=openapi.request_body({**openapi.COMMON_FIELDS, **openapi.HUB_FIELDS, **openapi.EDIT_FIELDS}),
        parameters=[openapi.IDEMPOTENCY_KEY, openapi.PREFER],
        examples=[] if edit else openapi.REQUEST_EXAMPLES,
        responses={
            (200, "application/json"): openapi.generation_response("Finished.", openapi.SUCCEEDED_EXAMPLE),
            (200, "text/event-stream"): openapi.EVENT_STREAM["text/event-stream"]["schema"],
            (202, "application/json"): openapi.generation_response(
                "Accepted (async, or still running): poll `poll_url`.", openapi.QUEUED_EXAMPLE
            ),
            **errors(401, 402, 406, 409, 415, 429),
        },
    )


@extend_schema_view(post=_generation_schema(edit=False))
class ImageGenerationView(ReleasedResponseMixin, GenerationKeyLoaderMixin, RateLimitHeadersMixin, APIView):
    """POST /api/v1/images/generations (and /images/edits for OpenAI SDK clients)."""

    parser_classes = [JSONParser, MultiPartParser, FormParser]
    edit = False

    def post(self, request):
        wait = prefer_wait(request.headers.get("Prefer"))
        outcome = generation_accept(
            user=request.user,
            api_key=request.auth,
            data=queued_if_waiting(request_fields(request), wait),
            files=reference_files(request),
            mask=mask_file(request),
            idempotency_key=request.headers.get("Idempotency-Key"),
            sdk_retry=sdk_retry_count(request) > 0,
            admission=request_admission(request),
        )
        if outcome.spec.stream:
            return self._stream(request, outcome)
        outcome = generation_finish(outcome=outcome)
        generation = outcome.generation
        applied = {}
        if wait is not None:
            generation = generation_await(generation=generation, seconds=wait)
            applied = {"Preference-Applied": f"wait={wait}"}
        content = output_load if outcome.spec.response_format == "b64_json" else None
        poll_url = request.build_absolute_uri(reverse("api-generation-detail", args=[generation.pk]))
        if (generation.is_async and wait is None) or not generation.is_terminal:
            payload = generation_payload(generation, absolute_url=request.build_absolute_uri, poll_url=poll_url)
            return Response(payload, status=202, headers={"Location": poll_url, **applied})
        balance = balance_summary(balance_get(user=request.user, batches=generation.usable_batches))
        payload = generation_payload(
            generation, absolute_url=request.build_absolute_uri, balance=balance, content=content
        )
        return Response(payload, headers=applied)

    def _stream(self, request, outcome: GenerationOutcome):
        balance = balance_summary(balance_get(user=request.user))
        return stream_response(outcome, api_stream_shape(request, edit=self.edit), balance)


@extend_schema_view(post=_generation_schema(edit=True))
class ImageEditView(ImageGenerationView):
    edit = True


@extend_schema_view(
    get=extend_schema(
        operation_id="api_generations_list",
        summary="List generations",
        description="The key owner's generations, newest first, one cursor page at a time.",
        tags=["Generations"],
        parameters=openapi.LIST_PARAMETERS,
        responses={200: openapi.GENERATION_PAGE, **errors(401, 406)},
    )
)
class GenerationListView(APIView):
    """GET /api/v1/generations: the owner's generations, newest first, one cursor page at a time."""

    def get(self, request):
        generations, has_more = selectors.generations_page(
            user=request.user, query=list_query_parse(request.GET), livemode=request.auth.livemode
        )
        data = [generation_payload(generation, absolute_url=request.build_absolute_uri) for generation in generations]
        return Response({"object": "list", "data": data, "has_more": has_more})


def key_generation(request, generation_id: str) -> Generation:
    """The key owner's generation in the key's mode, or NotFound: a test key never reads, cancels or
    deletes a live generation (a cancel would move credits), nor a live key a test one."""
    generation = selectors.generation_get_for_user(
        user=request.user, generation_id=generation_id, livemode=request.auth.livemode
    )
    if generation is None:
        raise NotFound(f"No generation {generation_id!r} for this API key's account.")
    return generation


@extend_schema_view(
    get=extend_schema(
        operation_id="api_generations_retrieve",
        summary="Read a generation",
        description="The key owner's generation and its saved images, live while it runs.",
        tags=["Generations"],
        responses={
            200: openapi.generation_response("The generation.", openapi.SUCCEEDED_EXAMPLE),
            **errors(401, 404, 406),
        },
    ),
    delete=extend_schema(
        operation_id="api_generations_images_delete",
        summary="Delete a generation's images now",
        description="Deletes the stored images (their URLs then 404); the generation and its billing stay readable.",
        tags=["Generations"],
        responses={
            200: openapi.generation_response("The generation, its images marked expired."),
            409: error_response(409, codes=("generation_in_progress",)),
            **errors(401, 404, 406),
        },
    ),
)
class GenerationDetailView(APIView):
    """GET /api/v1/generations/:id: the owner's generation, live state included.

    DELETE deletes its stored images now (generations/retention.py); the generation stays.
    """

    def get(self, request, generation_id: str):
        generation = key_generation(request, generation_id)
        return Response(generation_payload(generation, absolute_url=request.build_absolute_uri))

    def delete(self, request, generation_id: str):
        key_generation(request, generation_id)
        generation_images_delete(user=request.user, generation_id=generation_id)
        generation = selectors.generation_get_for_user(user=request.user, generation_id=generation_id)
        return Response(generation_payload(generation, absolute_url=request.build_absolute_uri))


@extend_schema_view(
    post=extend_schema(
        operation_id="api_generations_cancel",
        summary="Cancel a queued generation",
        description="Only while queued: the generation becomes `canceled` and its credits are refunded in full.",
        tags=["Generations"],
        request=None,
        responses={
            200: openapi.generation_response("The canceled generation."),
            409: error_response(409, codes=("generation_running", "generation_finished")),
            **errors(401, 404, 406),
        },
    )
)
class GenerationCancelView(APIView):
    """POST /api/v1/generations/:id/cancel: the owner cancels a queued generation, fully refunded."""

    def post(self, request, generation_id: str):
        key_generation(request, generation_id)
        generation = generation_cancel(user=request.user, generation_id=generation_id)
        return Response(generation_payload(generation, absolute_url=request.build_absolute_uri))
