"""The public REST API (/api/v1/...). Views only parse, call a service or selector, and shape."""

from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.selectors import balance_get
from generations import selectors
from generations.serializers import model_payload


class ModelListView(APIView):
    """GET /api/v1/models: public; OpenAI's list shape so `client.models.list()` works."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"object": "list", "data": [model_payload(model) for model in selectors.enabled_models()]})


class CreditsView(APIView):
    """GET /api/v1/credits: the balance of the key's owner."""

    def get(self, request):
        return Response({"object": "credit_balance", **balance_get(user=request.user)})
