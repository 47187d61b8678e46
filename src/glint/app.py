"""create_app(settings): the ASGI application, its routes, lifespan and error handlers."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.types import ASGIApp

from glint.api import audit as audit_api
from glint.api import (
    cache,
    discovery,
    healthcheck,
    image_data,
    images,
    members,
    metadef_namespaces,
    stores,
    usage,
)
from glint.api import imports as import_api
from glint.api import schema_documents as docs
from glint.api import tasks as task_api
from glint.api.console.middleware import ConsoleMiddleware
from glint.api.errors import HANDLERS
from glint.api.keystone import KeystoneAuthenticator
from glint.api.middleware import (
    BodyNotAllowedMiddleware,
    ContextMiddleware,
    InputCheckMiddleware,
    RequestLogMiddleware,
    VersionNegotiationMiddleware,
)
from glint.api.validation import ImageValidator
from glint.api.zerocopy import ZeroCopySend
from glint.db.ownership import Ownership, lock_backend
from glint.db.session import open_database
from glint.jobs.runner import every
from glint.jobs.scrub import Scrubber
from glint.services.authorization import build_policy
from glint.services.console_sessions import build_console
from glint.services.container import build_services
from glint.services.recovery import Recovery
from glint.settings import Settings
from glint.stores.registry import build_registry

log = logging.getLogger(__name__)



def accepted_versions(*, multistore: bool, cache: bool = False) -> frozenset[str]:
    """Version prefixes accepted in URLs: the advertised ones and plain "2"."""
    return frozenset({"2", *docs.advertised_versions(multistore=multistore, cache=cache)})


ACCEPTED_VERSIONS = accepted_versions(multistore=False)


def create_app(settings: Settings) -> Starlette:
    """The application for `settings`; engines and stores are built in its lifespan."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = open_database(settings.database)
        ownership = Ownership(lock_backend(settings.database))
        await run_in_threadpool(ownership.start)
        registry = build_registry(settings.store)
        services = build_services(settings, db, registry, build_policy(settings.policy),
                                  ownership.owner)
        app.state.services = services
        services.events.start()
        app.state.console = build_console(settings, db)
        recovery = asyncio.create_task(Recovery(
            db=db, ownership=ownership, stores=registry, imports=services.imports,
        ).keep_running())
        background = [recovery]
        if settings.scrub.scrub_in_serve:
            scrubber = Scrubber(db=db, stores=registry, settings=settings.scrub)
            background.append(asyncio.create_task(
                every(settings.scrub.wakeup_time, "scrubber", scrubber.run_once)))
        if services.cache_admin is not None:
            passes = services.cache_admin.passes
            background.append(asyncio.create_task(every(
                settings.cache.cache_prefetcher_interval, "image cache", passes.maintain)))
            background.append(asyncio.create_task(every(
                max(settings.cache.image_cache_stall_time, 60), "image cache cleaner",
                passes.clean_periodically)))
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            if services.cache is not None:
                await services.cache.settle()
            await services.imports.stop()
            await run_in_threadpool(services.events.stop)
            await registry.close()
            await run_in_threadpool(ownership.stop)
            db.dispose()

    image_schema = docs.image_schema(
        disk_formats=settings.formats.disk_formats, container_formats=settings.formats.container_formats
    )
    app = Starlette(
        routes=[*discovery.routes, *healthcheck.routes, *images.routes, *image_data.routes, *members.routes,
                *metadef_namespaces.routes, *stores.routes, *cache.routes, *usage.routes],
        middleware=[
            Middleware(RequestLogMiddleware),
            Middleware(InputCheckMiddleware),
            *([Middleware(ConsoleMiddleware, flavor=settings.auth.flavor,
                          uses_keystone=settings.auth.uses_keystone)]
              if settings.console.enabled else []),
            Middleware(VersionNegotiationMiddleware,
                       accepted_versions=accepted_versions(multistore=settings.store.multistore,
                                                          cache=settings.cache.enabled)),
            Middleware(BodyNotAllowedMiddleware),
            Middleware(ContextMiddleware, flavor=settings.auth.flavor,
                       authenticator=KeystoneAuthenticator(settings.auth)
                       if settings.auth.uses_keystone else None),
        ],
        exception_handlers=HANDLERS,
        lifespan=lifespan,
    )
    app.router.routes.extend([*import_api.routes, *task_api.routes])
    app.router.routes.extend(audit_api.routes)
    # Glance answers 404 for /v2/images/ (a trailing slash), never a redirect.
    app.router.redirect_slashes = False
    app.state.image_validator = ImageValidator(image_schema)
    app.state.schema_documents = {
        "image": image_schema,
        "images": docs.images_schema(
            disk_formats=settings.formats.disk_formats,
            container_formats=settings.formats.container_formats,
        ),
        "member": docs.member_schema(),
        "members": docs.members_schema(),
        "task": docs.task_schema(),
        "tasks": docs.tasks_schema(),
    }
    return app


def app_from_environment() -> ASGIApp:
    """Factory for server worker processes: settings arrive as JSON in the environment.
    The application is wrapped in ZeroCopySend: image data in local files goes
    out with sendfile(2) (api/zerocopy.py)."""
    from glint.cli.options import ServeOptions, load_settings
    from glint.cli.supervisor import SETTINGS_ENVIRONMENT_VARIABLE

    options = ServeOptions.from_json(json.loads(os.environ[SETTINGS_ENVIRONMENT_VARIABLE]))
    return ZeroCopySend(create_app(load_settings(options, warn=False)))

