"""Checks of a POST /v2/images/{id}/import request, before anything changes.

Each function takes the values it needs and raises InvalidInput (400) or
Conflict (409) with Glance's messages; nothing here writes.
"""

from __future__ import annotations

from typing import Any

from glint.domain.errors import Conflict, InvalidInput
from glint.domain.image import Image, ImageStatus
from glint.domain.import_filter import ImportFilter, Resolver, check_uri
from glint.services.glance_download import check_request
from glint.services.import_progress import IMPORT_LOCK
from glint.stores.base import StoreError
from glint.stores.registry import StoreRegistry

# The image properties an import keeps up to date (as Glance names them).
LOCK = IMPORT_LOCK
IMPORTING_TO = "os_glance_importing_to_stores"
FAILED = "os_glance_failed_import"


def parse_method(body: Any, enabled: tuple[str, ...] | list[str], rules: ImportFilter,
                 resolve: Resolver, *, multistore: bool) -> str:
    """The import method named by the request body, once its arguments are checked."""
    if not isinstance(body, dict) or not isinstance(body.get("method"), dict):
        raise InvalidInput("Import request requires a 'method' field.")
    name = body["method"].get("name")
    if not isinstance(name, str):
        raise InvalidInput("Import request requires a 'name' field.")
    if name not in enabled:
        raise InvalidInput(f"Unknown import method name '{name}'.")
    for flag in ("all_stores", "all_stores_must_succeed"):
        if flag in body and not isinstance(body[flag], bool):
            raise InvalidInput(f"'{flag}' must be boolean value only")
    if name == "copy-image" and not multistore:
        raise InvalidInput("Import method 'copy-image' needs multiple stores, which this "
                           "site does not have.")
    if name == "glance-download":
        check_request(body["method"])
    if body.get("all_stores_must_succeed") is False and not multistore:
        raise InvalidInput("All_stores_must_succeed can only be set with enabled_backends")
    if name == "web-download":
        uri = body["method"].get("uri")
        if not isinstance(uri, str) or not uri:
            raise InvalidInput("Import method web-download requires a 'uri'.")
        check_uri(uri, rules, resolve)
    return name


def import_targets(body: dict[str, Any], header: str | None,
                   stores: StoreRegistry) -> list[str]:
    """The ids of the stores an import writes to; InvalidInput or Conflict (unknown store)."""
    names, all_stores = body.get("stores"), body.get("all_stores", False)
    if names is None and header:
        names = [header]
    elif names is not None and header:
        raise InvalidInput("Stores given both in the body and the X-Image-Meta-Store header")
    if names is not None and all_stores:
        raise InvalidInput("'stores' and 'all_stores' cannot be given together")
    if not stores.multistore:
        if names or all_stores:
            raise InvalidInput("This site does not have multiple stores; omit 'stores'.")
        return [stores.default_store().name]
    if all_stores:
        return [info.id for info in stores.infos() if not info.read_only]
    if names is None:
        return [stores.default_store().name]
    if not isinstance(names, list) or not names or \
            not all(isinstance(name, str) for name in names):
        raise InvalidInput("'stores' must be a non-empty list of store ids")
    for name in names:
        try:
            stores.writable(name)
        except StoreError as exc:
            raise Conflict(f"Store {name} cannot take the image: {exc.message}") from exc
    return list(dict.fromkeys(names))


def check_importable(image: Image, method: str, *, staged: bool) -> None:
    """Conflict unless the image's state allows `method` (`staged`: its staged file exists)."""
    if method == "copy-image":
        if image.status != ImageStatus.ACTIVE:
            raise Conflict("Only images with status active can be targeted for copying")
        return
    if image.status == ImageStatus.ACTIVE:
        raise Conflict("Image with status active cannot be target for import")
    if image.container_format is None:
        raise Conflict("'container_format' needs to be set before import")
    if image.disk_format is None:
        raise Conflict("'disk_format' needs to be set before import")
    if method in ("web-download", "glance-download") and image.status != ImageStatus.QUEUED:
        raise Conflict(f"Image needs to be in 'queued' state to use '{method}' method")
    if method == "glance-direct":
        if image.status != ImageStatus.UPLOADING:
            raise Conflict("Image needs to be staged before 'glance-direct' method can be "
                           "used")
        if not staged:
            raise Conflict(f"Image {image.id} has no staged data; stage it again")
    if image.status not in (ImageStatus.QUEUED, ImageStatus.UPLOADING):
        raise Conflict(f"Image {image.id} is {image.status} and cannot be imported")


def copy_targets(image: Image, targets: list[str], *, all_stores: bool) -> list[str]:
    """The stores copy-image writes to: with `all_stores`, those without the image
    yet (maybe none); otherwise InvalidInput if the image is already in one of them."""
    present = {location.store for location in image.locations}
    if all_stores:
        return [name for name in targets if name not in present]
    for name in targets:
        if name in present:
            raise InvalidInput(f"Image is already present at store '{name}'")
    return targets
