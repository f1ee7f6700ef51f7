"""S3 servers for the tests: moto in its own process, or an external server.

:class:`MotoS3Server` runs ``python -m moto.server`` on a free port and can be
stopped and restarted mid-test to simulate an outage. Moto keeps everything in
memory, so a restart loses all buckets and objects: ``restart()`` re-creates
(empty) the buckets made through :meth:`S3TestServer.create_bucket`. With
``auth=True`` moto checks signatures and IAM permissions; the helper then
creates an IAM user allowed everything on S3 (``access_key``/``secret_key``)
and one allowed nothing (``denied_access_key``/``denied_secret_key``), anew on
every start, so keys change across a restart.

:class:`ExternalS3Server` points the same tests at a server that is already
running (a real MinIO, say), from STREAMWEAVER_TEST_S3_ENDPOINT,
STREAMWEAVER_TEST_S3_ACCESS_KEY, STREAMWEAVER_TEST_S3_SECRET_KEY and optionally
STREAMWEAVER_TEST_S3_REGION. It cannot be stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from streamweaver.config.model import S3StorageConfig
from streamweaver.embedded import free_port

ENDPOINT_VARIABLE = "STREAMWEAVER_TEST_S3_ENDPOINT"

_ALLOW_S3 = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
)
_BOOTSTRAP_REQUESTS = 5  # the unauthenticated calls in MotoS3Server._bootstrap
_CLIENT_CONFIG = botocore.config.Config(
    connect_timeout=2, read_timeout=10, retries={"max_attempts": 1}
)


class S3TestServer:
    """An S3-compatible server that tests make buckets on."""

    endpoint: str
    access_key: str
    secret_key: str
    region = "us-east-1"
    restartable = False

    def __init__(self) -> None:
        self._buckets: set[str] = set()

    def client(self, access_key: str | None = None, secret_key: str | None = None):
        """A boto3 S3 client, for setting up and inspecting what a test needs."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name=self.region,
            config=_CLIENT_CONFIG,
        )

    def create_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a fresh random name by default) and return its name."""
        name = name or f"sw-test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        self._buckets.add(name)
        return name

    def delete_bucket(self, name: str) -> None:
        """Empty and delete a bucket; a missing bucket or a stopped server is fine."""
        self._buckets.discard(name)
        client = self.client()
        with contextlib.suppress(
            botocore.exceptions.ClientError, botocore.exceptions.EndpointConnectionError
        ):
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
                for item in page.get("Contents", []):
                    client.delete_object(Bucket=name, Key=item["Key"])
            client.delete_bucket(Bucket=name)

    def config(self, bucket: str, **overrides: Any) -> S3StorageConfig:
        """An ``S3StorageConfig`` for ``bucket`` on this server."""
        return S3StorageConfig(**self.section(bucket, **overrides))

    def section(self, bucket: str, **overrides: Any) -> dict[str, Any]:
        """The ``storage.s3`` section as plain values, for ``make_config``."""
        return {
            "bucket": bucket,
            "endpoint": self.endpoint,
            "region": self.region,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            **overrides,
        }


class ExternalS3Server(S3TestServer):
    """A server the environment names; the tests do not manage its process."""

    def __init__(self, endpoint: str, access_key: str, secret_key: str, region: str):
        super().__init__()
        self.endpoint = endpoint.rstrip("/")
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region

    @classmethod
    def from_environment(cls) -> ExternalS3Server | None:
        endpoint = os.environ.get(ENDPOINT_VARIABLE)
        if not endpoint:
            return None
        return cls(
            endpoint,
            os.environ.get("STREAMWEAVER_TEST_S3_ACCESS_KEY", ""),
            os.environ.get("STREAMWEAVER_TEST_S3_SECRET_KEY", ""),
            os.environ.get("STREAMWEAVER_TEST_S3_REGION", "us-east-1"),
        )


class MotoS3Server(S3TestServer):
    """A moto S3 server in a child process on a free port."""

    restartable = True

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        auth: bool = False,
        log_path: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__()
        self.host = host
        self.port = port or free_port(host)
        self.endpoint = f"http://{host}:{self.port}"
        self.auth = auth
        self.log_path = Path(log_path) if log_path else None
        self.access_key = self.secret_key = "testing"
        self.denied_access_key = self.denied_secret_key = ""
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout_s: float = 30.0) -> MotoS3Server:
        """Start moto, wait until it answers, set up auth and lost buckets."""
        env = dict(os.environ)
        if self.auth:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(_BOOTSTRAP_REQUESTS)
        log = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        args = [sys.executable, "-m", "moto.server", "-H", self.host]
        try:
            self._process = subprocess.Popen(
                [*args, "-p", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
            )
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        self._wait_ready(timeout_s)
        if self.auth:
            self._bootstrap()
        for bucket in sorted(self._buckets):
            self.client().create_bucket(Bucket=bucket)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the process; everything it stored is gone."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> MotoS3Server:
        """Stop and start on the same port; buckets come back empty."""
        self.stop()
        return self.start()

    def __enter__(self) -> MotoS3Server:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        url = f"{self.endpoint}/moto-api/"
        while True:
            if self._process is None or self._process.poll() is not None:
                raise RuntimeError(f"moto server on port {self.port} exited at start")
            with (
                contextlib.suppress(urllib.error.URLError, ConnectionError),
                urllib.request.urlopen(url, timeout=1) as response,
            ):
                if response.status == 200:
                    return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"moto server on port {self.port} did not start")
            time.sleep(0.05)

    def _bootstrap(self) -> None:
        # Moto lets the first INITIAL_NO_AUTH_ACTION_COUNT requests through
        # unauthenticated; these five create the users every later request needs.
        iam = boto3.client(
            "iam",
            endpoint_url=self.endpoint,
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
            region_name=self.region,
            config=_CLIENT_CONFIG,
        )
        iam.create_user(UserName="streamweaver")
        iam.put_user_policy(
            UserName="streamweaver", PolicyName="s3", PolicyDocument=_ALLOW_S3
        )
        key = iam.create_access_key(UserName="streamweaver")["AccessKey"]
        self.access_key, self.secret_key = key["AccessKeyId"], key["SecretAccessKey"]
        iam.create_user(UserName="nobody")
        key = iam.create_access_key(UserName="nobody")["AccessKey"]
        self.denied_access_key = key["AccessKeyId"]
        self.denied_secret_key = key["SecretAccessKey"]
