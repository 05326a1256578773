"""GET /api/v1/key: what the calling key is and may still do (generations/admission.py)."""

from rest_framework.response import Response
from rest_framework.views import APIView

from generations.admission import key_summary


class KeyView(APIView):
    """The calling key's prefix, name, mode, effective limits and usage now; counts nothing."""

    def get(self, request):
        return Response(key_summary(request.auth))
