"""The stores this deployment has, by id. A single store is a registry of one.

Drivers are imported only when configured, so a deployment without S3 never
loads boto3.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from glint.domain.image import Location
from glint.settings import StoreSettings
from glint.stores.base import CheckedStore, ClosableStore, Store, StoreError, WritableStore
from glint.stores.options import BackendConfig, backends_of, default_store_of


class UnknownStore(StoreError):
    """No store has this id, or it cannot take new data."""


@dataclass(frozen=True)
class StoreInfo:
    """What the discovery API tells about a store."""

    id: str
    type: str
    description: str | None
    weight: int
    default: bool
    read_only: bool


@dataclass
class StoreRegistry:
    stores: dict[str, Store]
    default: str
    multistore: bool = False
    configs: dict[str, BackendConfig] = field(default_factory=dict)

    def default_store(self) -> WritableStore:
        return self.writable(self.default)

    def writable(self, name: str) -> WritableStore:
        """The store `name` if it takes new data; UnknownStore otherwise."""
        store = self.stores.get(name)
        if store is None:
            raise UnknownStore(name, "no store has this id")
        if not isinstance(store, WritableStore):
            raise UnknownStore(name, "this store is read-only")
        return store

    def for_location(self, location: Location) -> Store:
        """The store that reads a location: the one it names, else one that accepts its URL."""
        store = self.stores.get(location.store)
        if store is not None:
            return store
        found = self.store_for_url(location.url)
        if found is None:
            raise StoreError(location.store or location.url,
                             "no configured store can read this location")
        return found

    def store_for_url(self, url: str) -> Store | None:
        for store in self.stores.values():
            if store.accepts(url):
                return store
        return None

    def weight(self, name: str) -> int:
        config = self.configs.get(name)
        return config.weight if config is not None else 0

    def infos(self) -> list[StoreInfo]:
        return [
            StoreInfo(id=name, type=config.type, description=config.description,
                      weight=config.weight, default=name == self.default,
                      read_only=not isinstance(self.stores[name], WritableStore))
            for name, config in self.configs.items()
        ]

    async def check(self) -> None:
        """Check every store that can be checked; StoreError names the first that fails."""
        for store in self.stores.values():
            if isinstance(store, CheckedStore):
                await store.check()

    async def close(self) -> None:
        for store in self.stores.values():
            if isinstance(store, ClosableStore):
                await store.aclose()


def build_store(config: BackendConfig) -> Store:
    """The driver for one configured store; raises OptionError or StoreError."""
    if config.type == "file":
        from glint.stores.filesystem import FilesystemStore

        store = FilesystemStore.from_config(config)
        store.prepare()
        return store
    if config.type == "http":
        from glint.stores.http import HttpStore

        return HttpStore.from_config(config)
    if config.type == "s3":
        from glint.stores.s3 import S3Store

        return S3Store.from_config(config)
    if config.type == "swift":
        from glint.stores.swift import SwiftStore

        return SwiftStore.from_config(config)
    if config.type == "rbd":
        from glint.stores.rbd import RbdStore

        return RbdStore.from_config(config)
    raise StoreError(config.name, f"unknown store type {config.type!r}")


def build_registry(settings: StoreSettings) -> StoreRegistry:
    """Create (and prepare) the stores named in the settings.

    Raises OptionError naming the section and key of a bad option, and
    StoreError naming the store when one cannot be used.
    """
    configs = {config.name: config for config in backends_of(settings)}
    stores = {name: build_store(config) for name, config in configs.items()}
    return StoreRegistry(stores=stores, default=default_store_of(settings),
                         multistore=settings.multistore, configs=configs)


def check_registry(settings: StoreSettings) -> None:
    """Build the stores and check each can be reached, for `glint serve` before it starts.

    Raises OptionError or StoreError naming the store.
    """
    registry = build_registry(settings)

    async def run() -> None:
        try:
            await registry.check()
        finally:
            await registry.close()

    asyncio.run(run())
