"""Turn obstore's long, multi-line S3 errors into one line an operator can act on.

obstore raises ``FileNotFoundError`` for a 404, ``PermissionDeniedError`` for
most 403s and ``GenericError`` for everything else, with the HTTP status, the
S3 error document and a Rust debug dump in the message. What matters is the
S3 error code, the status, or, without either, why the request never got an
answer.
"""

from __future__ import annotations

import re

from streamweaver.errors import StorageError, StorageUnavailableError

_CODE = re.compile(r"<Code>([^<]*)</Code>")
_MESSAGE = re.compile(r"<Message>([^<]*)</Message>")
_STATUS = re.compile(r"status code: (\d{3})")
_URL = re.compile(r"Error performing \w+ (\S+)")

_CODE_REASONS = {
    "NoSuchBucket": "bucket does not exist",
    "AccessDenied": "access denied: the credentials lack permission on this bucket",
    "AllAccessDisabled": "access denied: all access to this bucket is disabled",
    "InvalidAccessKeyId": "access denied: the server does not know the access key",
    "SignatureDoesNotMatch": (
        "access denied: the secret key does not match the access key"
    ),
    "ExpiredToken": "access denied: the session token has expired",
    "InvalidToken": "access denied: the session token is not valid",
    "TokenRefreshRequired": "access denied: the session token must be refreshed",
    "PermanentRedirect": (
        "the bucket is in another region; set storage.s3.region to its region"
    ),
    "AuthorizationHeaderMalformed": (
        "the request was signed for the wrong region; set storage.s3.region"
    ),
    "SlowDown": "the server asks to slow down (throttled)",
    "ServiceUnavailable": "the service is unavailable",
    "InternalError": "the server had an internal error",
}
_METADATA_HOSTS = ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "sts.")


def translate(
    exc: BaseException, described: str, location: str, name: str | None = None
) -> StorageError:
    """The StorageError (or StorageUnavailableError) for an obstore failure."""
    text = str(exc)
    code = _first(_CODE, text)
    status = int(_first(_STATUS, text) or 0)
    if code == "NoSuchKey" or (
        isinstance(exc, FileNotFoundError) and code is None and name is not None
    ):
        return StorageError(
            f"{described}: object {name!r} does not exist", location=location
        )
    reason = _reason(text, code, status)
    unavailable = (
        code in _CODE_REASONS
        or status in (401, 403, 408, 429)
        or status >= 500
        or status == 0
    )
    error = StorageUnavailableError if unavailable else StorageError
    return error(f"{described}: {reason}", location=location)


def _reason(text: str, code: str | None, status: int) -> str:
    url = _first(_URL, text) or ""
    if any(host in url for host in _METADATA_HOSTS):
        return (
            "no credentials: storage.s3.access_key/secret_key and "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set, and fetching "
            f"credentials from {url} failed ({_short(text, status)})"
        )
    if code in _CODE_REASONS:
        return f"{_CODE_REASONS[code]} ({code})"
    if code is not None:
        message = _first(_MESSAGE, text)
        return f"{code}: {message}" if message else code
    if status:
        return f"the server answered HTTP {status}"
    return f"cannot reach the endpoint: {_short(text, status)}"


def _short(text: str, status: int) -> str:
    if status:
        return f"HTTP {status}"
    lowered = text.lower()
    for needle, meaning in (
        ("connection refused", "connection refused"),
        ("dns error", "the host name does not resolve"),
        ("failed to lookup address", "the host name does not resolve"),
        ("timed out", "timed out"),
        ("timeout", "timed out"),
        ("connection reset", "connection reset"),
        ("certificate", "TLS certificate problem"),
        ("invalid url", "the endpoint is not a valid URL"),
    ):
        if needle in lowered:
            return meaning
    first_line = text.split("\n", 1)[0].strip()
    return first_line.removeprefix("Generic S3 error: ")


def _first(pattern: re.Pattern[str], text: str) -> str | None:
    match = pattern.search(text)
    return match.group(1) if match else None
