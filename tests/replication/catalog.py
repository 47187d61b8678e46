"""A mixed catalog of images to replicate, and checks that two services hold the same."""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass

from glint.client.images import ImageClient, ImageRecord
from tests.servers import GLINT

VISIBILITIES = ("public", "private", "shared", "community")
SEEN = ("id", "name", "status", "visibility", "protected", "os_hidden", "owner", "min_ram",
        "min_disk", "disk_format", "container_format", "checksum", "os_hash_algo",
        "os_hash_value", "size", "hw_disk_bus", "note")


@dataclass(frozen=True)
class Spec:
    """One image of the catalog."""

    index: int

    @property
    def size(self) -> int:
        # Mixed sizes: empty, a few bytes, up to ~1.5 MiB.
        return 0 if self.index == 3 else (self.index * 104_729) % 1_600_000 + 17

    @property
    def body(self) -> dict[str, object]:
        i = self.index
        return {"name": f"image-{i}", "disk_format": "raw",
                "container_format": ("bare", "ovf")[i % 2],
                "visibility": VISIBILITIES[i % 4], "os_hidden": i % 7 == 1,
                "owner": f"project-{i % 3}", "min_ram": 64 * (i % 4), "min_disk": i % 3,
                "tags": [f"tag-{i % 5}", "catalog"], "hw_disk_bus": "scsi", "note": f"n{i}"}


def add_image(client: ImageClient, spec: Spec) -> str:
    """Create, upload and finish (members, protection, deactivation) one catalog image."""
    image = client.create(spec.body)
    image_id = str(image["id"])
    client.upload(image_id, [os.urandom(spec.size)] if spec.size else [], spec.size)
    if spec.body["visibility"] == "shared":
        for member, status in (("project-member-a", "accepted"), ("project-member-b", None)):
            client.add_member(image_id, member)
            if status:
                client.set_member_status(image_id, member, status)
    if spec.index % 5 == 2:
        client.update(image_id, [{"op": "add", "path": "/protected", "value": True}])
    if spec.index % 11 == 4:
        client.deactivate(image_id)
    return image_id


def seed(client: ImageClient, count: int, first: int = 0) -> list[str]:
    """`count` catalog images, plus one queued image without data (never copied)."""
    ids = [add_image(client, Spec(index)) for index in range(first, first + count)]
    client.create({"name": "no-data", "disk_format": "raw", "container_format": "bare"})
    return ids


def digest(client: ImageClient, image_id: str) -> str:
    sha = hashlib.sha256()
    with client.download(image_id, 1 << 20) as chunks:
        for chunk in chunks:
            sha.update(chunk)
    return sha.hexdigest()


def assert_same(source: ImageClient, target: ImageClient, ids: list[str]) -> None:
    """Every image in `ids` is field-identical (SEEN, tags, members) and byte-identical."""
    for image_id in ids:
        left, right = source.image(image_id), target.image(image_id)
        assert left is not None and right is not None, image_id
        assert _seen(left) == _seen(right), image_id
        assert sorted(left["tags"]) == sorted(right["tags"])
        if left["visibility"] == "shared":
            assert sorted(map(str, source.members(image_id))) == \
                sorted(map(str, target.members(image_id)))
        if left["status"] == "active" and left["size"]:
            assert digest(source, image_id) == digest(target, image_id)


def _seen(record: ImageRecord) -> dict[str, object]:
    return {key: record.get(key) for key in SEEN}


def replicate(*arguments: str, env: dict[str, str] | None = None,
              check: bool = True) -> subprocess.CompletedProcess[str]:
    """`glint replicate ARGUMENTS` as a separate process."""
    done = subprocess.run([str(GLINT), "replicate", *arguments], capture_output=True, text=True,
                          timeout=900, env={**os.environ, **(env or {})},
                          stdin=subprocess.DEVNULL)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def host_port(url: str) -> str:
    """glance-replicator's `host:port` form of `url`."""
    return url.removeprefix("http://").removeprefix("https://").rstrip("/")
