"""Many images written straight into a Glint database with bulk SQL (no API): the
data set of the listing-at-scale benchmark (bench/scale.py) and of the query-plan
tests (tests/db/test_list_plans.py).

The mix models a cloud that grows by adding projects. 10 % of the rows are
soft-deleted; of the live images 1 % are public and 0.5 % community, the rest
private or shared, owned by projects of about 25 images each. What one project
sees does not grow with the cloud: `MEMBER_PROJECT` owns 100 images and 50 of the
others' shared images are shared with it (four in five accepted), both spread
evenly over time (a third of the other shared images are shared with one other
project), so a non-admin listing cannot be served by walking every image
in time order. Every image has the properties os_distro (ubuntu on 30 %),
os_version, hw_disk_bus and architecture, and two tags: `golden` on 5 %,
`nightly` on 20 %, the rest from a pool of 50, and a build tag. Statuses: 90 %
active, 5 % queued, 3 % deactivated, 1 % killed, 1 % importing. One image every
few minutes; a fifth have no name.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, text

from glint.db.models import ImageMemberRow, ImagePropertyRow, ImageRow, ImageTagRow

MEMBER_PROJECT = "f" * 32
MEMBER_OWNED = 100
SHARED_WITH_MEMBER = 50
DISTROS = ["ubuntu"] * 30 + ["centos"] * 20 + ["debian"] * 20 + ["fedora"] * 15 + \
    ["rhel"] * 10 + ["windows"] * 5
STATUSES = ["active"] * 90 + ["queued"] * 5 + ["deactivated"] * 3 + ["killed", "importing"]
BATCH = 2000
START = datetime(2026, 1, 1)


@dataclass
class BuiltImages:
    """What was written: counts a test or benchmark can check its answers against."""

    live: int = 0
    deleted: int = 0
    shared_with_member: int = 0
    # Live images the member project may list by default (own, public, accepted shares),
    # oldest first.
    member_visible: list[str] = field(default_factory=list)

    @property
    def deep_marker(self) -> str:
        """An image the member may list, nine tenths down its default (newest first) order."""
        return self.member_visible[len(self.member_visible) // 10]

    @property
    def middle_marker(self) -> str:
        """An image the member may list, half way down its default order."""
        return self.member_visible[len(self.member_visible) // 2]


def _role(number: int, count: int) -> str | None:
    """"own" or "shared" for the rows that belong to the member's view, spread evenly."""
    if number % max(count // MEMBER_OWNED, 1) == 0:
        return "own"
    if number % max(count // SHARED_WITH_MEMBER, 1) == 1:
        return "shared"
    return None


def _visibility(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.01:
        return "public"
    if roll < 0.015:
        return "community"
    return "shared" if roll < 0.5 else "private"


def _image_rows(count: int, rng: random.Random) -> Iterator[tuple[str | None, dict[str, Any]]]:
    projects = max(count // 25, 4)
    moment = START
    for number in range(count):
        moment += timedelta(seconds=rng.randint(60, 600), microseconds=rng.randint(0, 999_999))
        role = _role(number, count)
        deleted = role is None and rng.random() < 0.10
        visibility = {"own": "private", "shared": "shared"}.get(role or "", _visibility(rng))
        status = "deleted" if deleted else rng.choice(STATUSES)
        yield role, {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "name": None if rng.random() < 0.2 else f"image-{rng.randint(0, 10**9):09d}",
            "disk_format": rng.choice(["raw", "qcow2", "vmdk"]),
            "container_format": "bare",
            "size": rng.randint(10**6, 10**10),
            "virtual_size": None,
            "status": status,
            "visibility": visibility,
            "checksum": f"{rng.getrandbits(128):032x}",
            "os_hash_algo": "sha512",
            "os_hash_value": f"{rng.getrandbits(512):0128x}",
            "min_disk": 0, "min_ram": 0,
            "owner": MEMBER_PROJECT if role == "own" else f"project-{rng.randrange(projects):06d}",
            "protected": False, "os_hidden": False,
            "created_at": moment, "updated_at": moment,
            "deleted": deleted, "deleted_at": moment if deleted else None,
        }


def _properties(image_id: str, rng: random.Random) -> list[dict[str, Any]]:
    return [
        {"image_id": image_id, "name": "os_distro", "value": rng.choice(DISTROS)},
        {"image_id": image_id, "name": "os_version", "value": str(rng.randint(1, 30))},
        {"image_id": image_id, "name": "hw_disk_bus", "value": rng.choice(["virtio", "scsi"])},
        {"image_id": image_id, "name": "architecture", "value": "x86_64"},
    ]


def _tags(image_id: str, rng: random.Random) -> list[dict[str, Any]]:
    roll = rng.random()
    first = "golden" if roll < 0.05 else "nightly" if roll < 0.25 else f"team-{rng.randrange(50)}"
    return [{"image_id": image_id, "value": first},
            {"image_id": image_id, "value": f"build-{rng.randrange(1000)}"}]


def build(engine: Engine, count: int, seed: int = 7) -> BuiltImages:
    """Write `count` images (and their properties, tags and members) into the
    empty, migrated database behind `engine`, then refresh its statistics."""
    rng = random.Random(seed)
    built = BuiltImages()
    batch: list[tuple[str | None, dict[str, Any]]] = []
    with engine.begin() as connection:
        for row in _image_rows(count, rng):
            batch.append(row)
            if len(batch) == BATCH:
                _write(connection, batch, rng, built)
                batch = []
        if batch:
            _write(connection, batch, rng, built)
    analyze(engine)
    return built


def _write(connection: Any, rows: list[tuple[str | None, dict[str, Any]]], rng: random.Random,
           built: BuiltImages) -> None:
    images, properties, tags, members = [], [], [], []
    for role, image in rows:
        images.append(image)
        properties += _properties(image["id"], rng)
        tags += _tags(image["id"], rng)
        if image["deleted"]:
            built.deleted += 1
            continue
        built.live += 1
        accepted = True
        if role == "shared":
            built.shared_with_member += 1
            accepted = built.shared_with_member % 5 != 0
            members.append({"image_id": image["id"], "member": MEMBER_PROJECT,
                            "status": "accepted" if accepted else "pending",
                            "created_at": image["created_at"], "updated_at": image["created_at"]})
        elif image["visibility"] == "shared" and rng.random() < 0.33:
            members.append({"image_id": image["id"], "member": f"{image['owner']}-partner",
                            "status": "accepted", "created_at": image["created_at"],
                            "updated_at": image["created_at"]})
        listable = role is not None or image["visibility"] == "public"
        if listable and accepted and image["status"] != "killed":
            built.member_visible.append(image["id"])
    connection.execute(insert(ImageRow), images)
    connection.execute(insert(ImagePropertyRow), properties)
    connection.execute(insert(ImageTagRow), tags)
    if members:
        connection.execute(insert(ImageMemberRow), members)


def analyze(engine: Engine) -> None:
    """Leave the database as it would settle after a bulk load on its own: PostgreSQL
    vacuumed and analyzed (autovacuum; also so that it does not start during a
    measurement) and checkpointed, MariaDB's InnoDB statistics refreshed. SQLite
    has none until ANALYZE runs, and Glint never runs it: left as it is."""
    tables = ["images", "image_properties", "image_tags", "image_members", "image_locations"]
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"VACUUM ANALYZE {', '.join(tables)}"))
            connection.execute(text("CHECKPOINT"))
        elif engine.dialect.name in ("mysql", "mariadb"):
            connection.execute(text(f"ANALYZE TABLE {', '.join(tables)}"))
