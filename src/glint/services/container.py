"""Every service a request may use, built once by the application's lifespan."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from glint.db.session import Database
from glint.domain.import_filter import ImportFilter
from glint.domain.policy import Policy
from glint.events.publisher import Publisher
from glint.jobs.cache import CachePasses
from glint.services.audit_findings import AuditReports
from glint.services.cache_admin import CacheAdmin
from glint.services.data_writes import DataWrites
from glint.services.health import HealthChecks
from glint.services.image_access import ImageAccess
from glint.services.image_cache import ImageCache, build_cache
from glint.services.image_data import ImageDataServices
from glint.services.images import ImageServices
from glint.services.imports import ImportServices
from glint.services.keystone_limits import KeystoneLimits
from glint.services.location_fetch import CheckedFetcher
from glint.services.locations import LocationServices
from glint.services.members import MemberServices
from glint.services.metadef_contents import MetadefContentServices
from glint.services.metadefs import MetadefServices
from glint.services.quotas import Quotas
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
    health: HealthChecks
    # This process's notifier; the application starts and stops its sending thread.
    events: Publisher
    quotas: Quotas
    # The integrity auditor's findings (GET /v2/info/audit).
    audit: AuditReports
    # The image cache on this node (None without `image_cache_dir`).
    cache: ImageCache | None = None
    cache_admin: CacheAdmin | None = None


def build_services(settings: Settings, db: Database, stores: StoreRegistry, policy: Policy,
                   owner: str, events: Publisher | None = None) -> Services:
    """Each service once. `owner` is this process's owner id (glint.db.ownership),
    recorded on its writes; `events` its notifier (by default one built from the
    settings, not started: it sends nothing until started)."""
    events = events or Publisher(settings.notifications)
    access = ImageAccess(policy)
    uri_filter = _uri_filter(settings)
    quotas = Quotas(db=db, owner=owner, storage_limit=settings.quota.user_storage_quota,
                    unified=(KeystoneLimits(settings.quota.config_files)
                             if settings.quota.use_keystone_limits else None))
    images = ImageServices(db=db, policy=policy, access=access, display=settings.display,
                           limits=settings.image_limits,
                           delayed_delete=settings.scrub.delayed_delete, events=events,
                           quotas=quotas)
    data = ImageDataServices(images=images, stores=stores, writes=DataWrites(db=db, owner=owner),
                             quotas=quotas, upload_settings=settings.upload,
                             formats=settings.formats)
    imports = ImportServices(
        db=db, access=access, upload=settings.upload, formats=settings.formats,
        writes=data.writes, stores=stores,
        settings=settings.imports, staging=Staging(staging_folder(settings)),
        uri_filter=uri_filter, quotas=quotas, events=events,
    )
    placement = StoreServices(db=db, access=access, policy=policy, stores=stores,
                              events=events)
    cache = build_cache(settings, db)
    cache_admin = None
    if cache is not None:
        cache_admin = CacheAdmin(cache=cache, passes=CachePasses(cache, placement),
                                 access=access, policy=policy)
    return Services(
        settings=settings,
        db=db,
        stores=stores,
        images=images,
        members=MemberServices(db=db, access=access, policy=policy,
                               member_quota=settings.image_limits.image_member_quota, events=events),
        data=data,
        placement=placement,
        locations=LocationServices(images=images, stores=stores, upload=settings.upload,
                                   display=settings.display, limits=settings.image_limits,
                                   fetcher=CheckedFetcher(rules=uri_filter)),
        metadefs=MetadefServices(db=db, policy=policy.metadefs, events=events),
        metadef_contents=MetadefContentServices(db=db, policy=policy.metadefs, events=events),
        imports=imports,
        tasks=TaskServices(db=db, access=access, policy=policy, images=images, imports=imports,
                           uri_filter=uri_filter, resolve=imports.resolve,
                           time_to_live=timedelta(hours=settings.imports.task_time_to_live)),
        # A health probe waits as long as a connection may take to be made.
        health=HealthChecks(settings.healthcheck, db, stores,
                            timeout=settings.database.connect_timeout),
        events=events,
        quotas=quotas,
        cache=cache,
        cache_admin=cache_admin,
        audit=AuditReports(db=db, policy=policy),
    )


def _uri_filter(settings: Settings) -> ImportFilter:
    """`[import_filtering_opts]`: checks the URIs of web-download imports, of
    legacy import tasks and of locations that users add."""
    s = settings.imports
    return ImportFilter(s.allowed_schemes, s.disallowed_schemes, s.allowed_hosts,
                        s.disallowed_hosts, s.allowed_ports, s.disallowed_ports)
