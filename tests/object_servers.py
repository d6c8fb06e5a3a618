"""Real S3 and GCS servers on 127.0.0.1 for the tests (moto's server, gcp-storage-emulator)."""
import os
import socket
from contextlib import contextmanager

S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def s3_server():
    """Yields the endpoint URL of a moto S3 server; AWS_* credentials are set meanwhile."""
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in S3_CREDENTIALS}
    os.environ.update(S3_CREDENTIALS)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def gcs_server():
    """Yields the endpoint URL of a GCS emulator; STORAGE_EMULATOR_HOST points at it meanwhile."""
    from gcp_storage_emulator.server import create_server

    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    saved = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = endpoint
    # Without Google credentials Beam retries their lookup for about 20 s (once per process)
    # before it connects anonymously; settle that lookup as anonymous up front.
    from apache_beam.internal.gcp.auth import _Credentials

    settled = (_Credentials._credentials_init, _Credentials._credentials)
    _Credentials._credentials_init, _Credentials._credentials = True, None
    try:
        yield endpoint
    finally:
        _Credentials._credentials_init, _Credentials._credentials = settled
        server.stop()
        if saved is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = saved


def s3_client(endpoint: str):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def gcs_client():
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project="test", credentials=AnonymousCredentials())


def upload_folder(folder: str, put) -> None:
    """put(key, bytes) for every file under folder, keys relative to it."""
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                put(os.path.relpath(path, folder), f.read())


def listed(store, bucket: str, prefix: str) -> list:
    """Every object a store lists below prefix."""
    return [obj for page in store.pages(bucket, prefix) for obj in page.objects]
