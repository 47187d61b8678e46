"""Every service a request may use, built once by the application's lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from glint.db.session import Database
from glint.domain.import_filter import ImportFilter
from glint.domain.policy import Policy
from glint.services.image_data import ImageDataServices
from glint.services.images import ImageServices
from glint.services.imports import ImportServices
from glint.services.location_fetch import CheckedFetcher
from glint.services.locations import LocationServices
from glint.services.members import MemberServices
from glint.services.metadef_contents import MetadefContentServices
from glint.services.metadefs import MetadefServices
from glint.services.staging import Staging, staging_folder
from glint.services.stores import StoreServices
from glint.services.tasks import TaskServices
from glint.settings import Settings
from glint.stores.registry import StoreRegistry


@dataclass
class Services:
    settings: Settings
    db: Database
    stores: StoreRegistry
    images: ImageServices
    members: MemberServices
    data: ImageDataServices
    placement: StoreServices
    locations: LocationServices
    metadefs: MetadefServices
    metadef_contents: MetadefContentServices
    imports: ImportServices
    tasks: TaskServices


def build_services(settings: Settings, db: Database, stores: StoreRegistry, policy: Policy) -> Services:
    images = ImageServices(db=db, policy=policy, api=settings.api)
    imports = ImportServices(
        images=images, data=ImageDataServices(images=images, stores=stores), stores=stores,
        settings=settings.imports, staging=Staging(staging_folder(settings)),
    )
    return Services(
        settings=settings,
        db=db,
        stores=stores,
        images=images,
        members=MemberServices(images=images),
        data=ImageDataServices(images=images, stores=stores),
        placement=StoreServices(images=images, stores=stores),
        locations=LocationServices(images=images, stores=stores,
                                   fetcher=CheckedFetcher(rules=_uri_filter(settings))),
        metadefs=MetadefServices(db=db, policy=policy.metadefs),
        metadef_contents=MetadefContentServices(db=db, policy=policy.metadefs),
        imports=imports,
        tasks=TaskServices(images=images, imports=imports),
    )


def _uri_filter(settings: Settings) -> ImportFilter:
    """`[import_filtering_opts]`, also applied to locations that users add."""
    s = settings.imports
    return ImportFilter(s.allowed_schemes, s.disallowed_schemes, s.allowed_hosts,
                        s.disallowed_hosts, s.allowed_ports, s.disallowed_ports)
