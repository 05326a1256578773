"""The API docs' curl examples, run verbatim with the real curl binary against a live server.

Only the host and the API key differ from the published pages (seeds 000, the older
Chinese page, and 001, the newer one). The multipart examples upload ./reference.png,
so curl runs in a directory holding one.
"""

import json
import subprocess

import pytest
import requests

from accounts.services import api_key_create
from billing.selectors import billing_audit
from generations.models import Generation
from generations.tests.factories import decoded, image_bytes

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_cleanup")]

DOCS_KEY = "gih_live_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
OLD_HOST = "https://your-domain.com"
NEW_HOST = "https://www.gptimagehub.com"

OLD_QUICKSTART_JSON = r"""curl https://your-domain.com/api/v1/images/generations \
  -H "Authorization: Bearer gih_live_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
  -H "Content-Type: application/json" \
  -d '{
    "model": "gpt-image-2",
    "prompt": "A cinematic product photo with premium studio lighting",
    "aspect_ratio": "auto",
    "quality": "1K",
    "n": 1
  }'"""

OLD_QUICKSTART_MULTIPART = r'''curl https://your-domain.com/api/v1/images/generations \
  -H "Authorization: Bearer gih_live_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
  -F "model=gpt-image-2" \
  -F "prompt=Use the reference image and render it as a premium studio product shot" \
  -F "aspect_ratio=auto" \
  -F "quality=1K" \
  -F "n=1" \
  -F "reference_image=@./reference.png"'''

OLD_JSON = r"""curl https://your-domain.com/api/v1/images/generations \
  -H "Authorization: Bearer gih_live_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
  -H "Content-Type: application/json" \
  -d '{
    "model": "gpt-image-2",
    "prompt": "A cinematic product photo of a transparent perfume bottle on black marble",
    "aspect_ratio": "1:1",
    "quality": "1K",
    "n": 1
  }'"""

OLD_MULTIPART = r'''curl https://your-domain.com/api/v1/images/generations \
  -H "Authorization: Bearer gih_live_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
  -F "model=gpt-image-2" \
  -F "prompt=Use the reference image and render it as a premium studio product shot" \
  -F "aspect_ratio=1:1" \
  -F "quality=1K" \
  -F "n=1" \
  -F "reference_image=@./reference.png"'''

NEW_QUICKSTART_JSON = r"""curl https://www.gptimagehub.com/api/v1/images/generations \
-H "Authorization: Bearer gih_live_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
-H "Content-Type: application/json" \
-d '{
"model": "gpt-image-2",
"prompt": "A cinematic product photo with premium studio lighting",
"size": "1024x1024",
"quality": "high",
"n": 1
}'"""

NEW_JSON = r"""curl https://www.gptimagehub.com/api/v1/images/generations \
-H "Authorization: Bearer gih_live_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
-H "Content-Type: application/json" \
-d '{
"model": "gpt-image-2",
"prompt": "A cinematic product photo of a transparent perfume bottle on black marble",
"size": "1024x1024",
"quality": "high",
"n": 1
}'"""

NEW_MULTIPART = r'''curl https://www.gptimagehub.com/api/v1/images/generations \
-H "Authorization: Bearer gih_live_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
-F "model=gpt-image-2" \
-F "prompt=Use the reference image and render it as a premium studio product shot" \
-F "size=1024x1024" \
-F "quality=high" \
-F "n=1" \
-F "reference_image=@./reference.png"'''


def run_curl(example: str, *, host: str, base_url: str, raw_key: str, cwd) -> dict:
    command = example.replace(host, base_url).replace(DOCS_KEY, raw_key)
    assert command.startswith(f"curl {base_url}/api/v1/images/generations")
    # Run by a real shell, as a reader would paste it: quoting and line continuations included.
    result = subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, timeout=120, check=False, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("example", "host", "expected", "balance_after"),
    [
        # The older page's example response: 1 credit, balance 119 of 120.
        (OLD_QUICKSTART_JSON, OLD_HOST, {"aspect_ratio": "auto", "quality": "1K", "credits": 1}, 119),
        (OLD_QUICKSTART_MULTIPART, OLD_HOST, {"aspect_ratio": "auto", "quality": "1K", "credits": 1}, 119),
        (OLD_JSON, OLD_HOST, {"aspect_ratio": "1:1", "quality": "1K", "credits": 1}, 119),
        (OLD_MULTIPART, OLD_HOST, {"aspect_ratio": "1:1", "quality": "1K", "credits": 1}, 119),
        # The newer page's example response: 8 credits, balance 112 of 120, aspect_ratio 1:1.
        (NEW_QUICKSTART_JSON, NEW_HOST, {"aspect_ratio": "1:1", "quality": "high", "credits": 8}, 112),
        (NEW_JSON, NEW_HOST, {"aspect_ratio": "1:1", "quality": "high", "credits": 8}, 112),
        (NEW_MULTIPART, NEW_HOST, {"aspect_ratio": "1:1", "quality": "high", "credits": 8}, 112),
    ],
    ids=[
        "000-quickstart-json",
        "000-quickstart-multipart",
        "000-json",
        "000-multipart",
        "001-quickstart-json",
        "001-json",
        "001-multipart",
    ],
)
def test_it_answers_the_documented_curl_example(
    live_server, make_user, tmp_path, example, host, expected, balance_after
):
    owner = make_user("curl@example.com", credits=120, account_type="PRO")
    raw_key = api_key_create(user=owner).raw_key
    (tmp_path / "reference.png").write_bytes(image_bytes(size=(256, 256)))

    payload = run_curl(example, host=host, base_url=live_server.url, raw_key=raw_key, cwd=tmp_path)

    assert "error" not in payload, payload
    assert payload["object"] == "image_generation"
    assert payload["id"].startswith("gen_")
    assert payload["status"] == "succeeded"
    assert payload["model"] == "gpt-image-2"
    assert payload["aspect_ratio"] == expected["aspect_ratio"]
    assert payload["quality"] == expected["quality"]
    assert payload["usage"]["credits"] == expected["credits"]
    assert payload["balance"] == {"credits": balance_after, "account_type": "PRO", "next_expiration": None}
    [image] = payload["images"]
    assert image["object"] == "image"
    assert image["id"].startswith("img_")
    assert image["created_at"].endswith("Z")
    served = requests.get(image["url"], timeout=30)
    assert served.status_code == 200
    assert decoded(served.content).format == "PNG"
    assert Generation.objects.get().status == Generation.Status.SUCCEEDED
    assert billing_audit() == []
