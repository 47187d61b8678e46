"""Listing an S3 bucket by image id (the s3 store's ListableStore part): objects,
and multipart uploads never completed or aborted. Runs on the store's threads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from glint.domain.image import Location
from glint.stores.listing import StoredImages, image_id_of


def list_bucket(client: Any, bucket: str, store: str, url_of: Any) -> StoredImages:
    """Every object named by an image id, and every unfinished multipart upload of one.
    Raises the SDK's errors (the store converts them)."""
    found = StoredImages()
    for entry in _pages(client.list_objects_v2, "Contents", Bucket=bucket):
        image_id = image_id_of(str(entry["Key"]))
        if image_id is not None:
            found.data(image_id, Location(url=url_of(entry["Key"]), store=store),
                       _moment(entry["LastModified"]))
    for upload in _pages(client.list_multipart_uploads, "Uploads", Bucket=bucket):
        image_id = image_id_of(str(upload["Key"]))
        if image_id is not None:
            found.leftover(image_id, f"multipart upload {upload['UploadId']} of "
                           f"{bucket}/{upload['Key']}", _moment(upload["Initiated"]))
    return found


def _moment(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _pages(call: Any, items: str, **arguments: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        page = call(**arguments)
        found += page.get(items, [])
        if not page.get("IsTruncated"):
            return found
        if "NextContinuationToken" in page:
            arguments["ContinuationToken"] = page["NextContinuationToken"]
        else:
            arguments.update(KeyMarker=page["NextKeyMarker"],
                             UploadIdMarker=page["NextUploadIdMarker"])
