"""The stores this deployment has, by name. A single store is a registry of one."""

from __future__ import annotations

from dataclasses import dataclass

from glint.domain.image import Location
from glint.settings import StoreSettings
from glint.stores.base import Store, StoreError
from glint.stores.filesystem import FilesystemStore


@dataclass
class StoreRegistry:
    stores: dict[str, Store]
    default: str

    def default_store(self) -> Store:
        return self.stores[self.default]

    def for_location(self, location: Location) -> Store:
        try:
            return self.stores[location.store]
        except KeyError:
            raise StoreError(location.store, "this store is not configured") from None


def build_registry(settings: StoreSettings) -> StoreRegistry:
    """Create (and prepare) the writable stores named in the settings.

    Raises StoreError naming the store when one cannot be used.
    """
    stores: dict[str, Store] = {}
    if "file" in settings.stores:
        store = FilesystemStore("file", settings.filesystem_store_datadir)
        store.prepare()
        stores["file"] = store
    return StoreRegistry(stores=stores, default=settings.default_store)
