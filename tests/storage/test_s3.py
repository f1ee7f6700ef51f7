"""What only the s3 backend does: startup errors, credentials, outages, encryption."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from streamweaver.config.model import S3StorageConfig
from streamweaver.embedded import free_port
from streamweaver.errors import ConfigError, StorageUnavailableError
from streamweaver.storage.s3 import S3Store

from s3server import ExternalS3Server, MotoS3Server, S3TestServer

external_server = pytest.mark.skipif(
    ExternalS3Server.from_environment() is not None,
    reason="needs moto's behaviour (SSE without KMS setup)",
)


async def failure_of(call) -> BaseException | None:
    try:
        await call
    except Exception as exc:
        return exc
    return None


@pytest.fixture(scope="module")
def moto_with_auth(tmp_path_factory) -> Iterator[MotoS3Server]:
    """Moto checking signatures and IAM policies, with a bucket named ``guarded``."""
    log_path = tmp_path_factory.mktemp("moto-auth") / "moto.log"
    with MotoS3Server(auth=True, log_path=log_path) as server:
        server.create_bucket("guarded")
        yield server


async def test_check_names_a_bucket_that_does_not_exist(s3_server: S3TestServer):
    store = S3Store(s3_server.config("no-such-bucket-here", prefix="archive"))

    with pytest.raises(StorageUnavailableError) as info:
        await store.check()

    assert str(info.value) == (
        f"s3://no-such-bucket-here/archive at {s3_server.endpoint}: "
        "bucket does not exist (NoSuchBucket)"
    )
    assert info.value.location == "s3://no-such-bucket-here/archive"


async def test_an_unreachable_endpoint_fails_within_seconds():
    endpoint = f"http://127.0.0.1:{free_port()}"
    store = S3Store(
        S3StorageConfig(bucket="b", endpoint=endpoint, access_key="k", secret_key="s")
    )

    started_s = time.monotonic()
    with pytest.raises(StorageUnavailableError) as info:
        await store.check()
    elapsed_s = time.monotonic() - started_s

    assert str(info.value) == (
        f"s3://b at {endpoint}: cannot reach the endpoint: connection refused"
    )
    # The retry budget is about five seconds; minutes would mean it is not applied.
    assert elapsed_s < 20


async def test_an_unknown_access_key_is_refused(moto_with_auth: MotoS3Server):
    config = moto_with_auth.config("guarded", access_key="AKIANOTAREALKEY00000")

    with pytest.raises(StorageUnavailableError) as info:
        await S3Store(config).check()

    assert str(info.value) == (
        f"s3://guarded at {moto_with_auth.endpoint}: access denied: "
        "the server does not know the access key (InvalidAccessKeyId)"
    )


async def test_a_wrong_secret_key_is_refused(moto_with_auth: MotoS3Server):
    config = moto_with_auth.config("guarded", secret_key="not-the-secret")

    with pytest.raises(StorageUnavailableError, match="SignatureDoesNotMatch"):
        await S3Store(config).check()


async def test_credentials_without_permission_are_refused(moto_with_auth):
    config = moto_with_auth.config(
        "guarded",
        access_key=moto_with_auth.denied_access_key,
        secret_key=moto_with_auth.denied_secret_key,
    )

    with pytest.raises(StorageUnavailableError) as info:
        await S3Store(config).check()

    assert str(info.value) == (
        f"s3://guarded at {moto_with_auth.endpoint}: access denied: "
        "the credentials lack permission on this bucket (AccessDenied)"
    )


async def test_the_right_credentials_pass_the_check(moto_with_auth: MotoS3Server):
    store = S3Store(moto_with_auth.config("guarded", prefix="ok"))

    await store.check()
    await store.put("seg", b"x")

    assert await store.get("seg") == b"x"


async def test_credentials_and_endpoint_come_from_the_environment(
    moto_with_auth: MotoS3Server, monkeypatch
):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto_with_auth.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto_with_auth.secret_key)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_with_auth.endpoint)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    store = S3Store(S3StorageConfig(bucket="guarded", prefix="from-env"))

    await store.check()
    await store.put("seg", b"env")

    assert store.endpoint == moto_with_auth.endpoint
    assert await store.get("seg") == b"env"


async def test_configured_credentials_win_over_the_environment(
    moto_with_auth: MotoS3Server, monkeypatch
):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto_with_auth.denied_access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto_with_auth.denied_secret_key)

    await S3Store(moto_with_auth.config("guarded")).check()


async def test_operations_during_an_outage_fail_and_work_again_after_it(
    moto_s3_server: MotoS3Server,
):
    bucket = moto_s3_server.create_bucket()
    store = S3Store(moto_s3_server.config(bucket, prefix="archive"))
    await store.put("before", b"1")

    moto_s3_server.stop()
    calls = {
        "put": store.put("during", b"2"),
        "get": store.get("before"),
        "get_range": store.get_range("before", 0, 1),
        "delete": store.delete("before"),
        "list": anext(aiter(store.list())),
        "check": store.check(),
    }
    failures = {what: await failure_of(call) for what, call in calls.items()}

    assert {
        what: (type(exc).__name__, "connection refused" in str(exc))
        for what, exc in failures.items()
    } == dict.fromkeys(calls, ("StorageUnavailableError", True))

    moto_s3_server.restart()  # moto forgets everything; the bucket comes back empty
    await store.check()
    await store.put("after", b"3")

    assert await store.get("after") == b"3"
    assert [info.name async for info in store.list()] == ["after"]


async def test_objects_live_under_the_prefix_and_nothing_else_is_listed(
    s3_server: S3TestServer, s3_config: S3StorageConfig
):
    store = S3Store(s3_config)
    client = s3_server.client()
    client.put_object(Bucket=s3_config.bucket, Key="elsewhere/seg", Body=b"x")
    client.put_object(Bucket=s3_config.bucket, Key="archive/.swtmp-probe-1", Body=b"")

    await store.put("stream/seg", b"data")

    keys = client.list_objects_v2(Bucket=s3_config.bucket)["Contents"]
    assert sorted(k["Key"] for k in keys) == [
        "archive/.swtmp-probe-1",
        "archive/stream/seg",
        "elsewhere/seg",
    ]
    assert [info.name async for info in store.list()] == ["stream/seg"]


@external_server
@pytest.mark.parametrize(
    ("sse", "kms_key_id"),
    [("AES256", None), ("aws:kms", "arn:aws:kms:us-east-1:000000000000:key/k1")],
)
async def test_objects_are_written_with_server_side_encryption(
    s3_server: S3TestServer, s3_bucket: str, sse, kms_key_id
):
    config = s3_server.config(
        s3_bucket, server_side_encryption=sse, kms_key_id=kms_key_id
    )

    await S3Store(config).put("seg", b"secret")

    head = s3_server.client().head_object(Bucket=s3_bucket, Key="seg")
    assert head["ServerSideEncryption"] == sse
    assert head.get("SSEKMSKeyId") == kms_key_id


def test_a_kms_key_without_kms_encryption_is_a_config_error():
    config = S3StorageConfig(
        bucket="b", server_side_encryption="AES256", kms_key_id="k"
    )

    with pytest.raises(ConfigError, match=r"storage\.s3\.kms_key_id"):
        S3Store(config)


def test_an_access_key_without_a_secret_is_a_config_error(monkeypatch):
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)

    with pytest.raises(ConfigError) as info:
        S3Store(S3StorageConfig(bucket="b", access_key="AKIAEXAMPLE"))

    assert str(info.value) == (
        "storage.s3.secret_key: required because storage.s3.access_key is set "
        "(here or in the environment); set it or AWS_SECRET_ACCESS_KEY"
    )


@pytest.mark.parametrize("prefix", ["../up", "a/../b", "a//b"])
def test_an_unusable_prefix_is_a_config_error(prefix):
    with pytest.raises(ConfigError, match=r"storage\.s3\.prefix"):
        S3Store(S3StorageConfig(bucket="b", prefix=prefix))


def test_the_location_names_bucket_prefix_and_endpoint():
    store = S3Store(
        S3StorageConfig(bucket="b", prefix="/x/y/", endpoint="http://minio:9000")
    )

    assert store.location == "s3://b/x/y"
    assert repr(store) == "S3Store('s3://b/x/y at http://minio:9000')"
