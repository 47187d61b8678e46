"""An import request (POST /v2/images/{id}/import), parsed once into a frozen
`ImportRequest`, and the checks made before anything changes.

Each check takes the values it needs and raises InvalidInput (400) or
Conflict (409) with Glance's messages; nothing here writes, and only
`check_import_uri` touches the network (it resolves the URI's host): call
it once the image is known to exist, be visible, importable and the caller
allowed, so the request is no DNS probe for anyone. The task records the
request as the client sent it, in Glance's task input (`ImportTaskInput`);
the runner reads it back through `ImportTaskInput.of`, the one parser of it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from glint.domain.errors import Conflict, InvalidInput
from glint.domain.image import Image, ImageStatus
from glint.domain.import_filter import ImportFilter, Resolver, check_uri
from glint.services.import_progress import IMPORT_LOCK
from glint.stores.base import StoreError
from glint.stores.registry import StoreRegistry

# The image properties an import keeps up to date (as Glance names them).
LOCK = IMPORT_LOCK
IMPORTING_TO = "os_glance_importing_to_stores"
FAILED = "os_glance_failed_import"


class ImportMethod(StrEnum):
    GLANCE_DIRECT = "glance-direct"
    WEB_DOWNLOAD = "web-download"
    COPY_IMAGE = "copy-image"
    GLANCE_DOWNLOAD = "glance-download"


@dataclass(frozen=True)
class RemoteImage:
    """glance-download's source: an image of another region's Glance."""

    region: str
    image_id: str
    interface: str = "public"


@dataclass(frozen=True)
class ImportRequest:
    method: ImportMethod
    # web-download's URI.
    uri: str | None = None
    remote: RemoteImage | None = None
    # The target stores the client named (None: not named).
    stores: tuple[str, ...] | None = None
    all_stores: bool = False
    all_stores_must_succeed: bool = True
    # The body as the client sent it (checked), which the task records as
    # Glance does; never read back but through `from_body`.
    document: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> ImportRequest:
        """The request in a body already checked by `parse_request` (as a task records it)."""
        method = body["method"]
        remote = None
        if method["name"] == ImportMethod.GLANCE_DOWNLOAD:
            remote = RemoteImage(str(method["glance_region"]), str(method["glance_image_id"]),
                                 str(method.get("glance_service_interface") or "public"))
        stores = body.get("stores")
        return cls(
            method=ImportMethod(method["name"]),
            uri=str(method["uri"]) if method.get("uri") is not None else None,
            remote=remote,
            stores=tuple(str(name) for name in stores) if isinstance(stores, list) else None,
            all_stores=body.get("all_stores") is True,
            all_stores_must_succeed=body.get("all_stores_must_succeed", True) is not False,
            document=body,
        )


@dataclass(frozen=True)
class ImportTaskInput:
    """An `api_image_import` task's input, in Glance's shape: `{"image_id": ...,
    "import_req": <the request body>, "backend": [<target store ids>]}`."""

    image_id: str
    request: ImportRequest
    # The stores the import writes to; empty when not recorded (Glance records
    # None on a single-store site), meaning the default store.
    targets: tuple[str, ...]

    def as_input(self) -> dict[str, Any]:
        """The input to record on the task."""
        return {"image_id": self.image_id, "import_req": dict(self.request.document),
                "backend": list(self.targets)}

    @classmethod
    def of(cls, task_input: Mapping[str, Any]) -> ImportTaskInput:
        """The input a task recorded with `as_input` (ValueError if it is not one)."""
        body, backend = task_input.get("import_req"), task_input.get("backend")
        if not isinstance(body, dict) or not isinstance(body.get("method"), dict):
            raise ValueError(f"not an image import task's input: {task_input!r}")
        return cls(image_id=str(task_input.get("image_id")),
                   request=ImportRequest.from_body(body),
                   targets=tuple(str(name) for name in backend)
                   if isinstance(backend, list) else ())


def parse_request(body: Any, enabled: tuple[str, ...] | list[str], *,
                  multistore: bool) -> ImportRequest:
    """The request in the body, once its arguments are checked (web-download's URI
    only for its presence: see `check_import_uri`); InvalidInput otherwise."""
    if not isinstance(body, dict) or not isinstance(body.get("method"), dict):
        raise InvalidInput("Import request requires a 'method' field.")
    name = body["method"].get("name")
    if not isinstance(name, str):
        raise InvalidInput("Import request requires a 'name' field.")
    if name not in enabled or name not in tuple(ImportMethod):
        raise InvalidInput(f"Unknown import method name '{name}'.")
    for flag in ("all_stores", "all_stores_must_succeed"):
        if flag in body and not isinstance(body[flag], bool):
            raise InvalidInput(f"'{flag}' must be boolean value only")
    if name == ImportMethod.COPY_IMAGE and not multistore:
        raise InvalidInput("Import method 'copy-image' needs multiple stores, which this "
                           "site does not have.")
    if name == ImportMethod.GLANCE_DOWNLOAD:
        _check_remote(body["method"])
    if body.get("all_stores_must_succeed") is False and not multistore:
        raise InvalidInput("All_stores_must_succeed can only be set with enabled_backends")
    if name == ImportMethod.WEB_DOWNLOAD:
        uri = body["method"].get("uri")
        if not isinstance(uri, str) or not uri:
            raise InvalidInput("Import method web-download requires a 'uri'.")
    if multistore:
        _check_stores(body)
    return ImportRequest.from_body(body)


def _check_remote(method: dict[str, Any]) -> None:
    """InvalidInput unless glance-download names a region and a remote image id (a
    UUID); the interface defaults to public (recorded so in the request)."""
    if not method.get("glance_region"):
        raise InvalidInput("'glance_region' needs to be set for glance-download import method")
    if not method.get("glance_image_id"):
        raise InvalidInput("'glance_image_id' needs to be set for glance-download import "
                           "method")
    try:
        uuid.UUID(str(method["glance_image_id"]))
    except ValueError:
        raise InvalidInput("Remote image id does not look like a UUID: "
                           f"{method['glance_image_id']}") from None
    method.setdefault("glance_service_interface", "public")


def check_import_uri(request: ImportRequest, rules: ImportFilter, resolve: Resolver) -> None:
    """UriRefused (400) unless web-download's URI passes `[import_filtering_opts]`;
    resolves its host. Nothing to check for the other methods."""
    if request.method == ImportMethod.WEB_DOWNLOAD and request.uri is not None:
        check_uri(request.uri, rules, resolve)


def _check_stores(body: dict[str, Any]) -> None:
    """InvalidInput unless the body's target stores, if named, are a non-empty
    list of store ids and not given together with `all_stores`."""
    names = body.get("stores")
    if names is None:
        return
    if body.get("all_stores"):
        raise InvalidInput("'stores' and 'all_stores' cannot be given together")
    if not isinstance(names, list) or not names or \
            not all(isinstance(name, str) for name in names):
        raise InvalidInput("'stores' must be a non-empty list of store ids")


def import_targets(request: ImportRequest, header: str | None,
                   stores: StoreRegistry) -> list[str]:
    """The ids of the stores an import writes to; InvalidInput or Conflict (unknown store).
    A single-store site ignores the request's stores: its one store takes the data."""
    if not stores.multistore:
        return [stores.default_store().name]
    names = list(request.stores) if request.stores is not None else None
    if names is not None and header:
        raise InvalidInput("Stores given both in the body and the X-Image-Meta-Store header")
    if names is None and header:
        names = [header]
    if names is not None and request.all_stores:
        raise InvalidInput("'stores' and 'all_stores' cannot be given together")
    if request.all_stores:
        return [info.id for info in stores.infos() if not info.read_only]
    if names is None:
        return [stores.default_store().name]
    for name in names:
        try:
            stores.writable(name)
        except StoreError as exc:
            raise Conflict(f"Store {name} cannot take the image: {exc.message}") from exc
    return list(dict.fromkeys(names))


def check_importable(image: Image, method: ImportMethod, *, staged: bool) -> None:
    """Conflict unless the image's state allows `method` (`staged`: its staged file exists)."""
    if method == ImportMethod.COPY_IMAGE:
        if image.status != ImageStatus.ACTIVE:
            raise Conflict("Only images with status active can be targeted for copying")
        return
    if image.status == ImageStatus.ACTIVE:
        raise Conflict("Image with status active cannot be target for import")
    if image.container_format is None:
        raise Conflict("'container_format' needs to be set before import")
    if image.disk_format is None:
        raise Conflict("'disk_format' needs to be set before import")
    if method in (ImportMethod.WEB_DOWNLOAD, ImportMethod.GLANCE_DOWNLOAD) \
            and image.status != ImageStatus.QUEUED:
        raise Conflict(f"Image needs to be in 'queued' state to use '{method}' method")
    if method == ImportMethod.GLANCE_DIRECT:
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
