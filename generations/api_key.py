"""GET /api/v1/key: what the calling key is and may still do (generations/admission.py)."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.response import Response
from rest_framework.views import APIView

from generations.admission import key_summary
from generations.openapi_key import KEY_SUMMARY
from gih.openapi import errors


@extend_schema_view(
    get=extend_schema(
        operation_id="api_key_retrieve",
        summary="Read the calling key",
        description="What the calling key is and may still do: limits and usage now; counts nothing.",
        tags=["Keys"],
        responses={200: KEY_SUMMARY, **errors(401, 406)},
    )
)
class KeyView(APIView):
    """The calling key's prefix, name, mode, effective limits and usage now; counts nothing."""

    def get(self, request):
        return Response(key_summary(request.auth))
