"""The s3 store: one object per image in a bucket of any S3-compatible service.

glance_store's option names: data is cut into parts of
`s3_store_large_object_chunk_size` MiB as it arrives. Data that ends within
the first part (and below `s3_store_large_object_size`) is sent with one
PUT; anything longer as a multipart upload, up to `s3_store_thread_pools`
parts in flight at once. Unlike glance_store, data below the large-object
size is never held whole: an upload holds at most the part being filled and
the parts in flight, whatever the image's size. Both ways are atomic on the
S3 side: the object appears complete or not at all, and a failed multipart
upload is aborted so no parts are left behind. Unlike glance_store, reads
pass byte ranges to S3, so Range downloads work, and read the next block
while the current one is being sent.

boto3 is synchronous; its calls run on the store's own threads.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlparse

import boto3
import botocore.exceptions
from botocore.config import Config

from glint.domain.image import Location
from glint.stores.base import (
    READ_CHUNK_SIZE,
    DataNotFound,
    InUse,
    StoredData,
    StoredImage,
    StoreError,
    StoreUnreachable,
)
from glint.stores.options import BackendConfig, OptionError
from glint.stores.s3_listing import list_bucket

T = TypeVar("T")
MIB = 1024 * 1024
# S3 refuses multipart parts below 5 MiB (except the last one).
MIN_PART_SIZE = 5 * MIB
READ_BLOCK = READ_CHUNK_SIZE
URL_FORMATS = {"auto": "auto", "virtual": "virtual", "path": "path"}
NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}
NO_BUCKET_CODES = {"NoSuchBucket"}


class S3Store:
    """Image data as objects `<bucket>/<image id>`."""

    def __init__(
        self, name: str, *, endpoint: str, access_key: str, secret_key: str, bucket: str,
        region: str = "us-east-1", create_bucket_on_put: bool = False,
        url_format: str = "auto", large_object_size: int = 100 * MIB,
        chunk_size: int = 10 * MIB, thread_pools: int = 10, cacert: str | None = None,
    ) -> None:
        self.name = name
        self.endpoint = endpoint.rstrip("/")
        self.bucket = bucket
        self.create_bucket_on_put = create_bucket_on_put
        self.large_object_size = large_object_size
        self.chunk_size = chunk_size
        self.thread_pools = thread_pools
        parsed = urlparse(self.endpoint)
        self._host = parsed.netloc
        self._scheme = "s3+https" if parsed.scheme == "https" else "s3"
        self._client: Any = boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=access_key,
            aws_secret_access_key=secret_key, region_name=region,
            verify=cacert if cacert else None,
            config=Config(
                s3={"addressing_style": url_format}, signature_version="s3v4",
                retries={"max_attempts": 2, "mode": "standard"},
                # CRC32s only where S3 requires them, as botocore did before 1.36:
                # without a checksum header botocore signs the payload's SHA-256 (over
                # http it does anyway), so the data stays covered; over http the CRC32
                # cost ~0.6 CPU s per GiB uploaded; and several S3-compatible services
                # mishandle the newer default checksum headers.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                connect_timeout=5, read_timeout=60,
                max_pool_connections=thread_pools + 4,
            ),
        )
        self._threads = ThreadPoolExecutor(thread_pools + 2, f"glint-s3-{name}")

    @classmethod
    def from_config(cls, config: BackendConfig) -> S3Store:
        """The store glance_store's s3_store_* options describe; raises OptionError."""
        host = config.required("s3_store_host")
        if "://" not in host:
            host = f"http://{host}"
        url_format = (config.text("s3_store_bucket_url_format", "auto") or "auto").lower()
        if url_format not in URL_FORMATS:
            raise OptionError(config.section, "s3_store_bucket_url_format",
                              f"must be auto, virtual or path, got {url_format!r}")
        chunk = config.integer("s3_store_large_object_chunk_size", 10, minimum=5) * MIB
        return cls(
            config.name, endpoint=host,
            access_key=config.required("s3_store_access_key"),
            secret_key=config.required("s3_store_secret_key"),
            bucket=config.required("s3_store_bucket"),
            region=config.text("s3_store_region_name") or "us-east-1",
            create_bucket_on_put=config.boolean("s3_store_create_bucket_on_put", False),
            url_format=URL_FORMATS[url_format],
            large_object_size=config.integer("s3_store_large_object_size", 100, minimum=0) * MIB,
            chunk_size=chunk,
            thread_pools=config.integer("s3_store_thread_pools", 10, minimum=1),
            cacert=config.text("s3_store_cacert"),
        )

    def properties(self) -> dict[str, object]:
        return {
            "s3_store_large_object_size": self.large_object_size // MIB,
            "s3_store_large_object_chunk_size": self.chunk_size // MIB,
            "s3_store_thread_pools": self.thread_pools,
        }

    async def aclose(self) -> None:
        self._threads.shutdown(wait=False)

    # Locations -----------------------------------------------------------

    def _url(self, key: str) -> str:
        return f"{self._scheme}://{self._host}/{self.bucket}/{key}"

    def accepts(self, url: str) -> bool:
        try:
            self._key_of(url)
        except DataNotFound:
            return False
        return True

    def _key_of(self, url: str) -> str:
        """The object key of one of this store's URLs. Credentials that glance_store
        put into its URLs (s3://KEY:SECRET@host/...) are ignored."""
        parsed = urlparse(url)
        bucket, _, key = parsed.path.lstrip("/").partition("/")
        host = parsed.netloc.rpartition("@")[2]
        if (parsed.scheme not in ("s3", "s3+http", "s3+https") or host != self._host
                or bucket != self.bucket or not key):
            raise DataNotFound(self.name, f"location {url!r} is not in this store")
        return key

    # Calls ---------------------------------------------------------------

    async def _call(self, function: Callable[..., T], /, **arguments: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._threads, functools.partial(function, **arguments))
        except botocore.exceptions.ClientError as exc:
            raise self._error(exc) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise StoreUnreachable(self.name, f"cannot reach {self.endpoint}: {exc}") from exc

    def _error(self, exc: botocore.exceptions.ClientError) -> StoreError:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        message = f"{code or status}: {error.get('Message', '')}".rstrip(": ")
        if code in NOT_FOUND_CODES:
            return DataNotFound(self.name, message)
        if status >= 500:
            return StoreUnreachable(self.name, message)
        return StoreError(self.name, message)

    async def check(self) -> None:
        try:
            await self._call(self._client.head_bucket, Bucket=self.bucket)
        except DataNotFound as exc:
            if not self.create_bucket_on_put:
                raise StoreError(self.name, f"bucket {self.bucket!r} does not exist and "
                                 "s3_store_create_bucket_on_put is off") from exc

    # Reading -------------------------------------------------------------

    async def size(self, location: Location) -> int:
        head = await self._call(self._client.head_object, Bucket=self.bucket,
                                Key=self._key_of(location.url))
        return int(head["ContentLength"])

    async def read(
        self, location: Location, start: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        key = self._key_of(location.url)
        if length == 0:
            return
        arguments: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if start or length is not None:
            end = "" if length is None else str(start + length - 1)
            arguments["Range"] = f"bytes={start}-{end}"
        response = await self._call(self._client.get_object, **arguments)
        body = response["Body"]
        loop = asyncio.get_running_loop()
        # Read-ahead: the next block comes from S3 while this one is being sent.
        pending = loop.run_in_executor(self._threads, body.read, READ_BLOCK)
        try:
            while True:
                try:
                    block = await pending
                except (botocore.exceptions.BotoCoreError, OSError) as exc:
                    raise StoreUnreachable(self.name, f"reading {key} failed: {exc}") from exc
                if not block:
                    break
                pending = loop.run_in_executor(self._threads, body.read, READ_BLOCK)
                for offset in range(0, len(block), READ_CHUNK_SIZE):
                    yield block[offset:offset + READ_CHUNK_SIZE]
        finally:
            # Let a read still running finish before closing the body under it.
            await asyncio.gather(pending, return_exceptions=True)
            body.close()

    # Writing -------------------------------------------------------------

    async def write(self, image_id: str, chunks: AsyncIterator[bytes],
                    size_hint: int | None = None) -> StoredData:
        key = str(uuid.UUID(image_id))
        parts = _Parts(chunks, self.chunk_size)
        first = await parts.next() or bytearray()
        await self._ensure_bucket()
        if parts.ended and (len(first) < self.large_object_size or not first):
            await self._call(self._client.put_object, Bucket=self.bucket, Key=key, Body=first)
        else:
            parts.give_back(first)
            del first  # held by `parts` only, so it is freed once sent
            await self._write_multipart(key, parts)
        return StoredData(location=Location(url=self._url(key), store=self.name))

    async def _ensure_bucket(self) -> None:
        if not self.create_bucket_on_put:
            return
        try:
            await self._call(self._client.head_bucket, Bucket=self.bucket)
        except DataNotFound:
            try:
                await self._call(self._client.create_bucket, Bucket=self.bucket)
            except StoreError as exc:
                # Another upload may have created it meanwhile.
                if "BucketAlreadyOwnedByYou" not in exc.message:
                    raise

    async def _write_multipart(self, key: str, data: _Parts) -> None:
        created = await self._call(self._client.create_multipart_upload,
                                   Bucket=self.bucket, Key=key)
        upload_id = created["UploadId"]
        in_flight: set[asyncio.Task[dict[str, Any]]] = set()
        tasks: list[asyncio.Task[dict[str, Any]]] = []
        try:
            part = await data.next()
            while part is not None:
                while len(in_flight) >= self.thread_pools:
                    done, in_flight = await asyncio.wait(
                        in_flight, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        task.result()
                task = asyncio.create_task(
                    self._upload_part(key, upload_id, len(tasks) + 1, part, data))
                in_flight.add(task)
                tasks.append(task)
                part = None  # not held here while the next part fills
                part = await data.next()
            parts = [await task for task in tasks]
            await self._call(self._client.complete_multipart_upload, Bucket=self.bucket,
                             Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.shield(self._abort(key, upload_id))
            raise

    async def _upload_part(self, key: str, upload_id: str, number: int,
                           part: bytearray, data: _Parts) -> dict[str, Any]:
        answer = await self._call(self._client.upload_part, Bucket=self.bucket, Key=key,
                                  UploadId=upload_id, PartNumber=number, Body=part)
        data.recycle(part)  # sent and answered: its buffer can take the next part
        return {"ETag": answer["ETag"], "PartNumber": number}

    async def _abort(self, key: str, upload_id: str) -> None:
        try:
            await self._call(self._client.abort_multipart_upload, Bucket=self.bucket, Key=key,
                             UploadId=upload_id)
        except StoreError:
            pass  # the server is gone; it drops unfinished uploads by its own rules

    async def delete(self, location: Location) -> None:
        key = self._key_of(location.url)
        try:
            await self._call(self._client.delete_object, Bucket=self.bucket, Key=key)
        except DataNotFound:
            pass

    async def remove_unfinished(self, image_id: str, in_use: InUse) -> list[str]:
        """Abort the image's multipart uploads (a single PUT leaves nothing when cut),
        and delete its object if no live image names it."""
        key = str(uuid.UUID(image_id))
        removed = []
        try:
            uploads = await self._call(self._unfinished_uploads, key=key)
        except StoreError as exc:
            if any(code in exc.message for code in NO_BUCKET_CODES):
                return []
            raise
        for upload_id in uploads:
            await self._call(self._client.abort_multipart_upload, Bucket=self.bucket, Key=key,
                             UploadId=upload_id)
            removed.append(f"multipart upload {upload_id} of {self.bucket}/{key}")
        location = Location(url=self._url(key), store=self.name)
        try:
            await self.size(location)
        except DataNotFound:
            return removed
        if not await in_use(location):
            await self.delete(location)
            removed.append(f"{self.bucket}/{key}")
        return removed

    async def stored_images(self) -> AsyncIterator[StoredImage]:
        """The bucket's image objects and unfinished multipart uploads."""
        try:
            found = await self._call(list_bucket, client=self._client, bucket=self.bucket,
                                     store=self.name, url_of=self._url)
        except StoreError as exc:
            if any(code in exc.message for code in NO_BUCKET_CODES):
                return
            raise
        for stored in found.images():
            yield stored

    def _unfinished_uploads(self, key: str) -> list[str]:
        """Ids of the multipart uploads to `key` (runs on a store thread)."""
        found: list[str] = []
        arguments: dict[str, Any] = {"Bucket": self.bucket, "Prefix": key}
        while True:
            page = self._client.list_multipart_uploads(**arguments)
            found += [u["UploadId"] for u in page.get("Uploads", []) if u["Key"] == key]
            if not page.get("IsTruncated"):
                return found
            arguments.update(KeyMarker=page["NextKeyMarker"],
                             UploadIdMarker=page["NextUploadIdMarker"])


class _Parts:
    """The data of a stream of blocks, cut into parts of `size` bytes (the last one
    shorter). Each block is copied once, straight into the part being filled, so
    at most that part and one block are held. Buffers of parts already sent are
    reused: a fresh 10 MiB buffer for every part costs page faults on each byte."""

    def __init__(self, blocks: AsyncIterator[bytes], size: int) -> None:
        self._blocks = aiter(blocks)
        self._size = size
        self._rest: memoryview | None = None
        self._finished = False
        self._given_back: bytearray | None = None
        self._spare: list[bytearray] = []

    @property
    def ended(self) -> bool:
        """Whether every byte of the stream has been returned as a part."""
        return self._finished and self._rest is None and self._given_back is None

    def recycle(self, part: bytearray) -> None:
        """Take back the buffer of a part that is no longer needed."""
        if len(part) == self._size:
            self._spare.append(part)

    def give_back(self, part: bytearray) -> None:
        """Make `part`, the last one returned, the next one again."""
        self._given_back = part

    async def _fill_rest(self) -> None:
        while self._rest is None and not self._finished:
            block = await anext(self._blocks, None)
            if block is None:
                self._finished = True
            elif block:
                self._rest = memoryview(block)

    async def next(self) -> bytearray | None:
        """The next part, or None when the stream has no more data."""
        if self._given_back is not None:
            given, self._given_back = self._given_back, None
            return given
        part = self._spare.pop() if self._spare else bytearray(self._size)
        filled = 0
        while filled < self._size:
            await self._fill_rest()
            if self._rest is None:
                break
            taken = min(len(self._rest), self._size - filled)
            part[filled:filled + taken] = self._rest[:taken]
            filled += taken
            self._rest = self._rest[taken:] if taken < len(self._rest) else None
        # One block past a full part tells whether more data follows it (see `ended`).
        await self._fill_rest()
        if not filled:
            return None
        del part[filled:]
        return part
