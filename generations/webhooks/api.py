"""/api/v1/webhooks: the account's webhook endpoints. Views parse, call a service or selector, and shape."""

from drf_spectacular.utils import extend_schema_view
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from generations.webhooks import openapi, selectors
from generations.webhooks.serializers import endpoint_payload
from generations.webhooks.services import endpoint_create, endpoint_delete, endpoint_rotate_secret
from gih.errors import NotFound
from gih.parsers import JSONParser


class EndpointCreateInput(serializers.Serializer):
    url = serializers.CharField(max_length=2000)
    events = serializers.ListField(child=serializers.CharField(max_length=40), required=False, max_length=10)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


def _base_url(request) -> str:
    return request.build_absolute_uri("/")


def _owned(request, endpoint_id: str):
    endpoint = selectors.endpoint_get_for_user(user=request.user, endpoint_id=endpoint_id)
    if endpoint is None:
        raise NotFound(f"No webhook endpoint {endpoint_id!r} for this API key's account.")
    return endpoint


@extend_schema_view(get=openapi.LIST, post=openapi.CREATE)
class WebhookListView(APIView):
    """GET: the account's endpoints (no secrets). POST: a new endpoint, its secret shown in this answer only."""

    parser_classes = [JSONParser]

    def get(self, request):
        endpoints = selectors.endpoints_for_user(user=request.user)
        return Response(
            {"object": "list", "data": [endpoint_payload(endpoint) for endpoint in endpoints], "has_more": False}
        )

    def post(self, request):
        fields = EndpointCreateInput(data=request.data)
        fields.is_valid(raise_exception=True)
        created = endpoint_create(user=request.user, base_url=_base_url(request), **fields.validated_data)
        return Response(endpoint_payload(created.endpoint, secret=created.secret), status=201)


@extend_schema_view(delete=openapi.DELETE)
class WebhookDetailView(APIView):
    def delete(self, request, endpoint_id: str):
        endpoint = _owned(request, endpoint_id)
        endpoint_delete(endpoint=endpoint)
        return Response({"id": endpoint_id, "object": "webhook_endpoint", "deleted": True})


@extend_schema_view(post=openapi.ROTATE)
class WebhookRotateSecretView(APIView):
    """POST: a new signing secret (shown once); the previous one keeps signing for 24 h."""

    def post(self, request, endpoint_id: str):
        rotated = endpoint_rotate_secret(endpoint=_owned(request, endpoint_id))
        return Response(endpoint_payload(rotated.endpoint, secret=rotated.secret))
