"""The ``s3`` backend: the archive in an S3 bucket or an S3-compatible server.

Built on obstore. Each object is written with one PUT (no multipart upload), so
it is atomic: a reader sees the old object or the whole new one. Credentials
come from ``storage.s3`` if set there, else from obstore's own chain: the
``AWS_*`` environment variables, web identity, ECS/EKS container credentials,
then the EC2 instance metadata service. Shared profile files (``~/.aws``,
``AWS_PROFILE``) are not read.

Requests are retried by obstore only briefly (about five seconds in all), so
an outage surfaces as StorageUnavailableError quickly and the broker's own
backoff takes over.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import obstore
import obstore.store

from streamweaver.config.model import S3StorageConfig
from streamweaver.errors import ConfigError, StorageError
from streamweaver.storage._names import TEMP_MARK, check_name, check_prefix
from streamweaver.storage._names import is_internal as _is_internal
from streamweaver.storage._s3errors import translate
from streamweaver.storage.base import ObjectInfo, VolumeUsage

_CONNECT_TIMEOUT = timedelta(seconds=3)
_REQUEST_TIMEOUT = timedelta(seconds=30)
_UPLOAD_TIMEOUT = timedelta(seconds=120)
_RETRY: Any = {
    "max_retries": 2,
    "retry_timeout": timedelta(seconds=5),
    "backoff": {
        "init_backoff": timedelta(milliseconds=100),
        "max_backoff": timedelta(seconds=1),
        "base": 2,
    },
}
_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT")


class S3Store:
    """Archive objects in ``s3://bucket/prefix``, on AWS or any S3-compatible server."""

    kind = "s3"

    def __init__(self, config: S3StorageConfig) -> None:
        if not config.bucket:
            raise ConfigError(
                "storage.s3.bucket: required because storage.type is s3",
                path="storage.s3.bucket",
            )
        if config.kms_key_id and config.server_side_encryption != "aws:kms":
            raise ConfigError(
                "storage.s3.kms_key_id: only used with "
                "server_side_encryption: aws:kms; set that or remove the key id",
                path="storage.s3.kms_key_id",
            )
        self.bucket = config.bucket
        self.prefix = _prefix(config.prefix)
        self.endpoint = config.endpoint or _env_endpoint()
        self.location = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self.described = (
            f"{self.location} at {self.endpoint}" if self.endpoint else self.location
        )
        settings = _settings(config)
        self._store = self._open(settings, _REQUEST_TIMEOUT)
        self._upload_store = self._open(settings, _UPLOAD_TIMEOUT)

    def __repr__(self) -> str:
        return f"S3Store({self.described!r})"

    async def check(self) -> None:
        """Verify the bucket exists, the credentials work and objects can be written."""
        try:
            async for _chunk in obstore.list(self._store, chunk_size=1):
                break
        except Exception as exc:
            raise self._translate(exc) from exc
        probe = f"{TEMP_MARK}probe-{uuid.uuid4().hex}"
        await self._put(probe, b"streamweaver write check\n")
        await self._delete(probe)

    async def put(self, name: str, data: bytes) -> None:
        """Write an object with one PUT, replacing any with that name."""
        await self._put(check_name(name), data)

    async def get(self, name: str) -> bytes:
        """Read a whole object; raise StorageError if it is missing."""
        check_name(name)
        try:
            result = await obstore.get_async(self._store, name)
            return bytes(await result.bytes_async())
        except Exception as exc:
            raise self._translate(exc, name) from exc

    async def get_range(self, name: str, start: int, end: int) -> bytes:
        """Read bytes ``[start, end)``; a range past the end is cut short."""
        check_name(name)
        if start < 0 or end < start:
            raise ValueError(
                f"byte range [{start}, {end}) is not allowed; "
                "use 0 <= start <= end (end is exclusive)"
            )
        if end == start:
            await self._head(name)  # still fail for a missing object
            return b""
        try:
            data = await obstore.get_range_async(
                self._store, name, start=start, end=end
            )
        except Exception as exc:
            if "InvalidRange" in str(exc):  # start at or past the end
                return b""
            raise self._translate(exc, name) from exc
        return bytes(data)

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Yield every object whose name starts with ``prefix``."""
        check_prefix(prefix)
        # obstore matches prefixes by whole path segments; ask for the enclosing
        # "directory" and filter by the full string prefix here.
        directory = prefix.rpartition("/")[0] or None
        try:
            async for chunk in obstore.list(self._store, directory, chunk_size=1000):
                for meta in chunk:
                    name = meta["path"]
                    if name.startswith(prefix) and not _is_internal(name):
                        yield ObjectInfo(name, meta["size"], meta["last_modified"])
        except Exception as exc:
            raise self._translate(exc) from exc

    async def delete(self, name: str) -> None:
        """Remove an object; deleting a missing object is not an error."""
        await self._delete(check_name(name))

    async def _delete(self, name: str) -> None:
        try:
            await obstore.delete_async(self._store, name)
        except FileNotFoundError:
            return
        except Exception as exc:
            raise self._translate(exc, name) from exc

    async def usage(self) -> VolumeUsage | None:
        """None: a bucket has no fixed capacity."""
        return None

    async def _put(self, name: str, data: bytes) -> None:
        try:
            await obstore.put_async(self._upload_store, name, data, use_multipart=False)
        except Exception as exc:
            raise self._translate(exc, name) from exc

    async def _head(self, name: str) -> None:
        try:
            await obstore.head_async(self._store, name)
        except Exception as exc:
            raise self._translate(exc, name) from exc

    def _open(
        self, settings: dict[str, str], timeout: timedelta
    ) -> obstore.store.S3Store:
        client: Any = {"connect_timeout": _CONNECT_TIMEOUT, "timeout": timeout}
        if self.endpoint and self.endpoint.lower().startswith("http://"):
            client["allow_http"] = True
        try:
            return obstore.store.S3Store(
                self.bucket,
                prefix=self.prefix or None,
                client_options=client,
                retry_config=_RETRY,
                **settings,  # type: ignore[arg-type]
            )
        except Exception as exc:
            raise _config_error(exc, self.described) from exc

    def _translate(self, exc: BaseException, name: str | None = None) -> StorageError:
        if isinstance(exc, StorageError):
            return exc
        return translate(exc, self.described, self.location, name)


def _settings(config: S3StorageConfig) -> dict[str, str]:
    """obstore keyword settings for what the config sets; the environment fills in."""
    settings: dict[str, str] = {}
    if config.region:
        settings["region"] = config.region
    if config.endpoint:
        # AWS_ENDPOINT_URL_S3 would otherwise win over the configured endpoint.
        settings["endpoint"] = settings["aws_endpoint_url_s3"] = config.endpoint
    secrets = {
        "access_key_id": config.access_key,
        "secret_access_key": config.secret_key,
        "session_token": config.session_token,
    }
    for key, secret in secrets.items():
        if secret is not None and secret.get_secret_value():
            settings[key] = secret.get_secret_value()
    if config.server_side_encryption:
        settings["server_side_encryption"] = config.server_side_encryption
    if config.kms_key_id:
        settings["sse_kms_key_id"] = config.kms_key_id
    return settings


def _config_error(exc: Exception, described: str) -> ConfigError:
    reason = str(exc).split("\n", 1)[0].removeprefix("Generic S3 error: ")
    for missing, key, other, variable in (
        ("SecretAccessKey", "secret_key", "access_key", "AWS_SECRET_ACCESS_KEY"),
        ("AccessKeyId", "access_key", "secret_key", "AWS_ACCESS_KEY_ID"),
    ):
        if reason == f"Missing {missing}":
            return ConfigError(
                f"storage.s3.{key}: required because storage.s3.{other} is set "
                f"(here or in the environment); set it or {variable}",
                path=f"storage.s3.{key}",
            )
    return ConfigError(
        f"storage.s3: cannot set up {described}: {reason}", path="storage.s3"
    )


def _prefix(raw: str) -> str:
    prefix = raw.strip("/")
    if prefix:
        try:
            check_name(prefix)
        except ValueError as exc:
            raise ConfigError(
                f"storage.s3.prefix: {raw!r} is not a usable key prefix; "
                "use '/'-separated parts without '.', '..' or empty parts",
                path="storage.s3.prefix",
            ) from exc
    return prefix


def _env_endpoint() -> str | None:
    return next((os.environ[v] for v in _ENDPOINT_VARIABLES if os.environ.get(v)), None)
