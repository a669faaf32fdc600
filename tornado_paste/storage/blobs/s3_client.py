"""The S3 connection: one aiobotocore session and client per process, bounded timeouts, error mapping.

aiobotocore (pinned in requirements.txt) costs about 34 MB per process (botocore's S3 model); one
session and one client are shared by every upload and download of the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from tornado_paste.storage.blobs.base import BlobMissing, BlobStoreMisconfigured, BlobStoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

MIN_PART_SIZE = 5 << 20  # S3's smallest part (all but the last)
MAX_COPY_SIZE = 5 << 30  # CopyObject's limit; above it the copy goes part by part (UploadPartCopy)
# Error codes that mean "no such object" (HEAD has no body, so only its status).
MISSING = frozenset({"NoSuchKey", "404", "NotFound", "NoSuchUpload"})
# Codes that mean the store refuses us for good: at start-up a clear error, later a 503.
REFUSED = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "NoSuchBucket",
                     "InvalidBucketName", "AuthorizationHeaderMalformed", "InvalidToken", "ExpiredToken"})


@dataclass(frozen=True)
class S3Config:
    bucket: str
    endpoint_url: str = ""
    region: str = "us-east-1"
    prefix: str = ""
    access_key: str = ""
    secret_key: str = ""
    part_size: int = 8 << 20
    upload_concurrency: int = 2
    connect_timeout: float = 2.0
    read_timeout: float = 30.0
    max_attempts: int = 3
    addressing_style: str = "path"
    presign_expiry: int = 300

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.prefix} at {self.endpoint_url or 'AWS ' + self.region}"


class EmptyRange(Exception):
    """A Range that starts at or past the end of the object (S3's InvalidRange): no bytes to read."""


def client_error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code") or "") or None
    return None


class S3Connection:
    """The client and the one place that turns botocore/aiohttp failures into our errors."""

    def __init__(self, config: S3Config) -> None:
        self.config = config
        self.client: Any = None
        self._stack: contextlib.AsyncExitStack | None = None

    async def open(self) -> None:
        if self.client is not None:
            return
        from aiobotocore.config import AioConfig
        from aiobotocore.session import get_session

        c = self.config
        boto_config = AioConfig(
            connect_timeout=c.connect_timeout, read_timeout=c.read_timeout,
            retries={"max_attempts": c.max_attempts, "mode": "standard"},
            s3={"addressing_style": c.addressing_style}, signature_version="s3v4",
            # Our own sha256 covers the bytes end to end; no second checksum pass per part on the loop.
            request_checksum_calculation="when_required", response_checksum_validation="when_required",
            max_pool_connections=64,
        )
        kwargs: dict[str, Any] = {"region_name": c.region, "config": boto_config}
        if c.endpoint_url:
            kwargs["endpoint_url"] = c.endpoint_url
        if c.access_key or c.secret_key:
            # Otherwise botocore's chain: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profiles, instance roles.
            kwargs["aws_access_key_id"] = c.access_key
            kwargs["aws_secret_access_key"] = c.secret_key
        stack = contextlib.AsyncExitStack()
        self.client = await stack.enter_async_context(get_session().create_client("s3", **kwargs))
        self._stack = stack

    async def close(self) -> None:
        stack, self._stack = self._stack, None
        self.client = None
        if stack is not None:
            await stack.aclose()

    async def check_access(self) -> None:
        """HEAD the bucket: a refusal is a start-up error; an unreachable store only a warning (503s until back)."""
        try:
            await self.call(self.client.head_bucket(Bucket=self.config.bucket), refused_is_fatal=True)
        except BlobMissing as exc:
            raise BlobStoreMisconfigured(f"the bucket of {self.config.where} does not exist (create it first)") \
                from exc
        except BlobStoreUnavailable as exc:
            log.warning("object store %s unreachable at start-up (%s); serving 503 until it answers",
                        self.config.where, exc)

    async def call(self, awaitable: Awaitable[T], *, missing_ok: bool = False, refused_is_fatal: bool = False) -> T:
        """Await a client call. Missing objects raise BlobMissing; everything else the store's fault
        (connection, timeout, 5xx, throttling, even a refusal after start-up) BlobStoreUnavailable."""
        if self.client is None:
            raise BlobStoreUnavailable("the object store client is not open")
        try:
            return await awaitable
        except (BlobMissing, BlobStoreUnavailable, StopAsyncIteration, EmptyRange):
            raise
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            code = client_error_code(exc)
            if code in MISSING:
                raise BlobMissing(code) from exc
            if code == "InvalidRange":
                raise EmptyRange(code) from exc
            if code in REFUSED and refused_is_fatal:
                raise BlobStoreMisconfigured(
                    f"the object store refused us ({code}) for {self.config.where}: check s3_bucket, "
                    f"s3_access_key/s3_secret_key (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and the "
                    f"bucket policy") from exc
            if _is_ours(exc):
                raise
            raise BlobStoreUnavailable(f"object store: {type(exc).__name__}: {exc}") from exc

    async def pages(self, operation: str, result_key: str, **params: Any) -> AsyncIterator[dict[str, Any]]:
        """Every item of a paginated listing (list_objects_v2 Contents, list_multipart_uploads Uploads)."""
        paginator = self.client.get_paginator(operation)
        iterator = paginator.paginate(Bucket=self.config.bucket, **params).__aiter__()
        while True:
            try:
                page = await self.call(iterator.__anext__())
            except StopAsyncIteration:
                return
            for item in page.get(result_key) or ():
                yield item


def _is_ours(exc: BaseException) -> bool:
    """Programming errors (bad parameters) stay themselves: a bug must not look like an outage."""
    name = type(exc).__name__
    return name in ("ParamValidationError", "TypeError", "ValueError", "AttributeError", "KeyError")
