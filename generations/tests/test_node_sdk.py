"""The official OpenAI Node SDK (`openai` from npm, pinned in testsupport/node) against a live hub on /v1.

Each test runs testsupport/node/sdk_check.mjs with node: it calls the SDK the way
OpenAI's guides do (`Buffer.from(b64_json, "base64")`, `toFile`, `for await` over a
stream) and prints what it got, which is checked here. `make test` installs the SDK
(`make install-node`); on CI a missing node or SDK fails the tests instead of skipping them.
"""

import base64
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from PIL import Image

from accounts.services import api_key_create
from billing.selectors import balance_get, billing_audit
from generations.models import Generation

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("generation_files_cleanup")]

NODE_DIR = Path(settings.BASE_DIR) / "testsupport" / "node"


@pytest.fixture(scope="module")
def node() -> str:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "openai").is_dir():
        message = "node or the openai npm package is missing: run `make install-node`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return node


@pytest.fixture
def run(node, live_server, make_user, openai_standin, tmp_path):
    user = make_user("node@example.com", credits=100)
    raw_key = api_key_create(user=user).raw_key

    def run(scenario: str, *images: bytes, api_key: str = raw_key) -> dict:
        paths = []
        for index, content in enumerate(images):
            path = tmp_path / f"input-{index}.png"
            path.write_bytes(content)
            paths.append(str(path))
        env = {**os.environ, "GIH_BASE_URL": f"{live_server.url}/v1", "GIH_API_KEY": api_key}
        completed = subprocess.run(
            [node, str(NODE_DIR / "sdk_check.mjs"), scenario, *paths],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert completed.returncode == 0, completed.stderr
        return json.loads(completed.stdout.strip().splitlines()[-1])

    run.user = user
    return run


def _png(colour: str, size=(64, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _image(b64: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    image.load()
    return image


def test_it_generates_two_images_read_as_the_node_guide_reads_them(run):
    outcome = run("generate")

    assert outcome["ok"], outcome
    result = outcome["result"]
    assert [_image(b64).size for b64 in result["images"]] == [(1024, 1536), (1024, 1536)]
    assert (result["size"], result["quality"], result["output_format"]) == ("1024x1536", "low", "png")
    assert result["usage"]["total_tokens"] == result["usage"]["input_tokens"] + result["usage"]["output_tokens"]
    assert balance_get(user=run.user)["credits"] == 98
    assert Generation.objects.get().face == "openai"


def test_it_edits_one_image_from_to_file(run, openai_standin):
    outcome = run("edit_one", _png("red"))

    assert outcome["ok"], outcome
    assert _image(outcome["result"]["images"][0]).size == (1024, 1024)
    assert [file.name for file in openai_standin.requests[0].files] == ["image[]"]


def test_it_edits_two_images_from_to_file(run, openai_standin):
    outcome = run("edit_two", _png("red"), _png("blue"))

    assert outcome["ok"], outcome
    assert _image(outcome["result"]["images"][0]).size == (1536, 1024)
    assert [file.name for file in openai_standin.requests[0].files] == ["image[]", "image[]"]


def test_it_returns_a_webp_with_alpha(run):
    outcome = run("webp_transparent")

    assert outcome["ok"], outcome
    image = _image(outcome["result"]["images"][0])
    assert (image.format, image.mode) == ("WEBP", "RGBA")
    assert image.getchannel("A").getextrema() == (0, 255)


def test_it_streams_partial_images_then_a_completed_image(run):
    outcome = run("stream")

    assert outcome["ok"], outcome
    events = outcome["result"]["events"]
    assert [(event["type"], event["index"]) for event in events] == [
        ("image_generation.partial_image", 0),
        ("image_generation.partial_image", 1),
        ("image_generation.completed", None),
    ]
    assert _image(events[-1]["image"]).size == (1024, 1024)
    assert events[-1]["usage"]["output_tokens"] > 0


def test_it_streams_an_edit(run):
    outcome = run("stream_edit", _png("green"))

    assert outcome["ok"], outcome
    assert [event["type"] for event in outcome["result"]["events"]] == [
        "image_edit.partial_image",
        "image_edit.completed",
    ]


def test_it_lists_and_retrieves_models(run):
    outcome = run("models")

    assert outcome["ok"], outcome
    assert [model["id"] for model in outcome["result"]["models"]] == ["gpt-image-2"]
    assert outcome["result"]["one"]["object"] == "model"


def test_it_raises_authentication_error_for_a_bad_key(run, openai_standin):
    outcome = run("generate_small", api_key="gih_live_" + "x" * 32)

    assert not outcome["ok"]
    assert (outcome["error"]["class"], outcome["error"]["status"]) == ("AuthenticationError", 401)
    assert outcome["error"]["type"] == "authentication_error"
    assert openai_standin.requests == []


def test_it_raises_a_402_once_when_credits_run_out(run, make_user):
    poor = make_user("poor@example.com", credits=0)

    outcome = run("generate_small", api_key=api_key_create(user=poor).raw_key)

    assert not outcome["ok"]
    assert (outcome["error"]["status"], outcome["error"]["type"]) == (402, "insufficient_quota")
    assert Generation.objects.count() == 0


def test_it_raises_bad_request_naming_the_parameter(run):
    outcome = run("invalid_parameter")

    assert not outcome["ok"]
    assert (outcome["error"]["class"], outcome["error"]["param"]) == ("BadRequestError", "size")
    assert billing_audit() == []
