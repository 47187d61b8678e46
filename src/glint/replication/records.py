"""Pure rules over image records: what is compared, what is written, what differs.

A record is the JSON object the Images v2 API returns. Fields fall in three kinds:
- never looked at: links, locations and stores (they name the source's own storage),
  `os_glance_*` (reserved: no client may set them), and the `--dontreplicate` names;
- compared but only ever set by the target itself: status, size, virtual_size and the
  hashes, which the target computes from the data it receives;
- written: everything else (name, visibility, protected, os_hidden, owner, formats,
  min_disk/min_ram, tags and every extra property).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from glint.client.images import ImageRecord, Member

DEFAULT_DONT_REPLICATE = "created_at date deleted_at location updated_at"
IGNORED = frozenset({"self", "file", "schema", "direct_url", "locations", "stores", "id"})
RESERVED_PREFIX = "os_glance_"
COMPUTED = frozenset({"status", "size", "virtual_size", "checksum", "os_hash_algo",
                      "os_hash_value"})
BASE_FIELDS = frozenset({"name", "visibility", "protected", "os_hidden", "owner", "min_disk",
                         "min_ram", "disk_format", "container_format", "tags", "created_at",
                         "updated_at"}) | COMPUTED | IGNORED
# Images in these statuses hold data the replicator copies; others are not copied.
WITH_DATA = frozenset({"active", "deactivated"})
UNDEFINED = "undefined"


@dataclass(frozen=True)
class FieldDifference:
    """`key` is `source` on the source and `target` on the target (UNDEFINED when absent)."""

    key: str
    source: Any
    target: Any


def dont_replicate(names: str) -> frozenset[str]:
    """`--dontreplicate`'s space-separated names as a set."""
    return frozenset(names.split())


def comparable(record: ImageRecord, skipped: frozenset[str]) -> ImageRecord:
    """The fields of `record` that replication compares (see the module docstring)."""
    return {key: value for key, value in record.items()
            if key not in IGNORED and key not in skipped and not key.startswith(RESERVED_PREFIX)}


def _normal(key: str, value: Any) -> Any:
    # Tags are a set: neither Glance nor Glint promise an order.
    return sorted(value) if key == "tags" and isinstance(value, list) else value


def differences(source: ImageRecord, target: ImageRecord,
                skipped: frozenset[str]) -> list[FieldDifference]:
    """Every compared field whose value differs, including extra properties the
    target has and the source does not (they would be removed on update)."""
    # A value the source never computed (an old image's virtual_size or hash) is no
    # difference: the target computing it from the same bytes adds, never contradicts.
    wanted = {key: value for key, value in comparable(source, skipped).items()
              if not (key in COMPUTED and value is None)}
    present = comparable(target, skipped)
    found = [FieldDifference(key, value, present.get(key, UNDEFINED))
             for key, value in wanted.items()
             if _normal(key, value) != _normal(key, present.get(key, UNDEFINED))]
    found.extend(FieldDifference(key, UNDEFINED, value) for key, value in present.items()
                 if key not in wanted and key not in BASE_FIELDS)
    return found


def member_differences(source: list[Member], target: list[Member]) -> list[FieldDifference]:
    """One difference for the whole member list when the two lists differ."""
    wanted = sorted((m.member_id, m.status) for m in source)
    present = sorted((m.member_id, m.status) for m in target)
    if wanted == present:
        return []
    return [FieldDifference("members", wanted, present)]


def creation_body(source: ImageRecord, skipped: frozenset[str]) -> dict[str, Any]:
    """The POST /v2/images body that recreates `source` under its own id.

    `protected` is left out: it is set once the data is verified, so that a bad
    copy can still be deleted.
    """
    body = {key: value for key, value in comparable(source, skipped).items()
            if key not in COMPUTED and key != "protected" and value is not None}
    body["id"] = source["id"]
    return body


def update_operations(source: ImageRecord, target: ImageRecord,
                      skipped: frozenset[str]) -> list[dict[str, Any]]:
    """The JSON-patch operations that make the target's writable fields equal the source's."""
    operations: list[dict[str, Any]] = []
    for difference in differences(source, target, skipped):
        key = difference.key
        if key in COMPUTED:
            continue
        path = f"/{key}"
        if difference.source == UNDEFINED:
            operations.append({"op": "remove", "path": path})
        elif difference.target == UNDEFINED:
            operations.append({"op": "add", "path": path, "value": difference.source})
        else:
            operations.append({"op": "replace", "path": path, "value": difference.source})
    return operations


def data_mismatches(source: ImageRecord, arrived: ImageRecord) -> list[FieldDifference]:
    """Size and hashes the target computed on arrival that differ from the source's.

    A hash the source never recorded cannot be checked and is not a mismatch; the
    multihash is compared only when both sides use the same algorithm.
    """
    keys = ["size", "checksum"]
    if source.get("os_hash_algo") == arrived.get("os_hash_algo"):
        keys.append("os_hash_value")
    return [FieldDifference(key, source.get(key), arrived.get(key)) for key in keys
            if source.get(key) is not None and source.get(key) != arrived.get(key)]
