import json

from django.utils.translation import gettext_lazy
from rest_framework.exceptions import ErrorDetail

from gih.renderers import OrjsonRenderer


def test_it_renders_what_the_json_renderer_renders_including_lazy_and_detail_strings():
    image = {"b64_json": "iVBORw0KGgo" * 1000}
    data = {"data": [image], "error": ErrorDetail("bad", code="x"), "t": gettext_lazy("Hi")}

    rendered = OrjsonRenderer().render(data)

    assert json.loads(rendered) == {"data": [image], "error": "bad", "t": "Hi"}
    assert OrjsonRenderer().render(None) == b""
