"""Media on S3 (moto's server over real HTTP): default_storage switches, objects land, signed URLs serve them."""

import io

import requests
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image
from storages.backends.s3 import S3Storage


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 200, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_it_switches_default_storage_to_the_bucket(s3_storage):
    assert isinstance(default_storage, S3Storage)
    assert default_storage.bucket_name == s3_storage.bucket


def test_it_stores_a_png_in_the_bucket_and_serves_it_from_a_signed_url(s3_storage):
    content = _png()

    name = default_storage.save("generations/test/image.png", ContentFile(content))

    head = s3_storage.client.head_object(Bucket=s3_storage.bucket, Key=name)
    assert head["ContentLength"] == len(content)
    assert head["ContentType"] == "image/png"
    assert head["CacheControl"] == "public, max-age=31536000, immutable"  # AWS_S3_OBJECT_PARAMETERS
    url = default_storage.url(name)
    assert url.startswith(f"{s3_storage.endpoint_url}/")
    assert "Signature=" in url  # AWS_QUERYSTRING_AUTH: a signed URL, the bucket stays private
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == content


def test_it_uploads_a_file_read_from_its_current_position_as_a_whole(s3_storage):
    """Django hands storages files that may have been read already: the upload rewinds them."""
    content = _png()
    upload = ContentFile(content, name="image.png")
    upload.read(10)

    name = default_storage.save("generations/test/rewound.png", upload)

    stored = s3_storage.client.get_object(Bucket=s3_storage.bucket, Key=name)["Body"].read()
    assert stored == content


def test_it_uploads_without_computing_checksums_the_store_does_not_require(s3_storage):
    """botocore's default CRC32 of every upload costs CPU per image; TLS already protects the transfer."""
    sent = []
    client = default_storage.connection.meta.client
    client.meta.events.register("before-send.s3.PutObject", lambda request, **_: sent.append(dict(request.headers)))
    try:
        name = default_storage.save("generations/test/plain.png", ContentFile(_png()))
    finally:
        client.meta.events.unregister("before-send.s3.PutObject")

    [headers] = sent
    assert not [header for header in headers if header.lower().startswith("x-amz-checksum-")], headers
    assert s3_storage.client.head_object(Bucket=s3_storage.bucket, Key=name)["ContentLength"] > 0


def test_it_sends_the_body_at_once_without_waiting_for_100_continue(s3_storage):
    """botocore would send `Expect: 100-continue` and wait for the store's interim answer: a round trip per image."""
    sent = []
    client = default_storage.connection.meta.client
    client.meta.events.register("before-send.s3.PutObject", lambda request, **_: sent.append(dict(request.headers)))
    content = _png() + bytes(3 * 1024 * 1024)  # a body of several MB, sent in many writes
    try:
        name = default_storage.save("generations/test/large.png", ContentFile(content))
    finally:
        client.meta.events.unregister("before-send.s3.PutObject")

    [headers] = sent
    assert "expect" not in {header.lower() for header in headers}, headers
    assert s3_storage.client.get_object(Bucket=s3_storage.bucket, Key=name)["Body"].read() == content


def _bodies_sent(save) -> list:
    """What botocore hands urllib3 as each PutObject's body while `save()` runs."""
    sent = []
    client = default_storage.connection.meta.client
    client.meta.events.register("before-send.s3.PutObject", lambda request, **_: sent.append(request.body))
    try:
        save()
    finally:
        client.meta.events.unregister("before-send.s3.PutObject")
    return sent


def test_it_sends_bytes_held_in_memory_as_one_body_and_a_file_on_disk_as_a_stream(s3_storage, tmp_path):
    """urllib3 sends a file object in 16 KB reads, one socket send each; bytes already in memory go in one."""
    content = _png() + bytes(2 * 1024 * 1024)
    in_memory = ContentFile(content)
    in_memory.read(100)  # a position other than 0 does not matter: the whole file is the object
    on_disk = tmp_path / "on-disk.png"
    on_disk.write_bytes(content)

    with open(on_disk, "rb") as handle:
        handle.read(100)
        [memory_body, disk_body] = _bodies_sent(
            lambda: (
                default_storage.save("generations/test/memory.png", in_memory),
                default_storage.save("generations/test/disk.png", File(handle)),
            )
        )

    assert isinstance(memory_body, bytes) and memory_body is in_memory.file.getvalue()
    assert not isinstance(disk_body, bytes | bytearray | memoryview)
    for key in ("generations/test/memory.png", "generations/test/disk.png"):
        assert s3_storage.client.get_object(Bucket=s3_storage.bucket, Key=key)["Body"].read() == content


def test_it_does_not_validate_parameters_it_builds_itself(s3_storage):
    """botocore walks the operation's model over every call's parameters; ours have fixed shapes. With validation
    on, botocore refuses an integer where the model says string before sending anything (ParamValidationError)."""
    client = default_storage.connection.meta.client

    client.put_object(Bucket=s3_storage.bucket, Key="generations/test/unvalidated.png", Body=b"x", ContentLanguage=5)

    head = s3_storage.client.head_object(Bucket=s3_storage.bucket, Key="generations/test/unvalidated.png")
    assert head["ContentLanguage"] == "5"
