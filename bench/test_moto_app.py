"""The bench's S3 server (bench/moto_app.py) still answers as S3 does: ETags are the MD5 of each body, a
rewritten key gets its new body's ETag, and a multipart upload keeps S3's multipart ETag."""

import hashlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parent.parent


def md5(data: bytes):
    return hashlib.md5(data, usedforsecurity=False)  # S3's ETag, not a security use


@pytest.fixture(scope="module")
def s3():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "bench.moto_app", str(port)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            assert time.monotonic() < deadline and server.poll() is None, "moto_app did not start"
            time.sleep(0.1)
        client = boto3.client(
            "s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
            aws_access_key_id="bench", aws_secret_access_key="bench",  # noqa: S106 (moto accepts any)
        )  # fmt: skip
        client.create_bucket(Bucket="bench-media")
        yield client
    finally:
        server.terminate()
        server.wait(10)


def test_a_put_objects_etag_is_the_md5_of_its_body(s3):
    body = os.urandom(1_600_000)

    answer = s3.put_object(Bucket="bench-media", Key="a.png", Body=body)

    assert answer["ETag"] == f'"{md5(body).hexdigest()}"'
    stored = s3.get_object(Bucket="bench-media", Key="a.png")
    assert stored["ETag"] == answer["ETag"] and stored["Body"].read() == body


def test_a_rewritten_key_gets_its_new_bodys_etag(s3):
    s3.put_object(Bucket="bench-media", Key="b.png", Body=b"first")

    s3.put_object(Bucket="bench-media", Key="b.png", Body=b"second")

    assert s3.head_object(Bucket="bench-media", Key="b.png")["ETag"] == f'"{md5(b"second").hexdigest()}"'


def test_a_multipart_upload_keeps_s3s_multipart_etag(s3):
    parts = [os.urandom(5 * 1024 * 1024), b"tail"]
    upload = s3.create_multipart_upload(Bucket="bench-media", Key="c.bin")["UploadId"]
    etags = [
        s3.upload_part(Bucket="bench-media", Key="c.bin", UploadId=upload, PartNumber=number, Body=part)["ETag"]
        for number, part in enumerate(parts, start=1)
    ]
    s3.complete_multipart_upload(
        Bucket="bench-media", Key="c.bin", UploadId=upload,
        MultipartUpload={"Parts": [{"ETag": etag, "PartNumber": n} for n, etag in enumerate(etags, start=1)]},
    )  # fmt: skip

    digests = b"".join(md5(part).digest() for part in parts)
    assert s3.head_object(Bucket="bench-media", Key="c.bin")["ETag"] == f'"{md5(digests).hexdigest()}-2"'
