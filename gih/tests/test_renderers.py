import base64
import json
import os

from django.utils.translation import gettext_lazy
from rest_framework.exceptions import ErrorDetail

from gih.renderers import Base64, OrjsonRenderer


def test_it_renders_what_the_json_renderer_renders_including_lazy_and_detail_strings():
    image = {"b64_json": "iVBORw0KGgo" * 1000}
    data = {"data": [image], "error": ErrorDetail("bad", code="x"), "t": gettext_lazy("Hi")}

    rendered = OrjsonRenderer().render(data)

    assert json.loads(rendered) == {"data": [image], "error": "bad", "t": "Hi"}
    assert OrjsonRenderer().render(None) == b""


def test_it_encodes_image_bytes_into_the_body_as_base64_in_place():
    first, second = os.urandom(5000), os.urandom(7)
    data = {"created": 1, "data": [{"b64_json": Base64(first)}, {"b64_json": Base64(second)}], "note": "end"}

    rendered = OrjsonRenderer().render(data)

    assert json.loads(rendered) == {
        "created": 1,
        "data": [{"b64_json": base64.b64encode(first).decode()}, {"b64_json": base64.b64encode(second).decode()}],
        "note": "end",
    }
