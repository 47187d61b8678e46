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

from glint.api import discovery, image_data, images, members, metadef_namespaces, stores
from glint.api import imports as import_api
from glint.api import schema_documents as docs
from glint.api import tasks as task_api
from glint.api.errors import HANDLERS
from glint.api.keystone import KeystoneAuthenticator
from glint.api.middleware import (
    BodyNotAllowedMiddleware,
    ContextMiddleware,
    RequestLogMiddleware,
    VersionNegotiationMiddleware,
)
from glint.api.validation import ImageValidator
from glint.db.session import Database, create_database_engine
from glint.services.authorization import build_policy
from glint.services.container import build_services
from glint.settings import Settings
from glint.stores.registry import build_registry

log = logging.getLogger(__name__)



def accepted_versions(*, multistore: bool) -> frozenset[str]:
    """Version prefixes accepted in URLs: the advertised ones and plain "2"."""
    return frozenset({"2", *docs.advertised_versions(multistore=multistore, cache=False)})


ACCEPTED_VERSIONS = accepted_versions(multistore=False)


def create_app(settings: Settings) -> Starlette:
    """The application for `settings`; engines and stores are built in its lifespan."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = Database(create_database_engine(settings.database.url))
        registry = build_registry(settings.store)
        services = build_services(settings, db, registry, build_policy(settings.policy))
        await run_in_threadpool(services.data.recover_stalled_uploads)
        app.state.services = services
        resumer = asyncio.create_task(services.imports.keep_resuming())
        try:
            yield
        finally:
            resumer.cancel()
            await services.imports.stop()
            await registry.close()
            db.dispose()

    image_schema = docs.image_schema(
        disk_formats=settings.api.disk_formats, container_formats=settings.api.container_formats
    )
    app = Starlette(
        routes=[*discovery.routes, *images.routes, *image_data.routes, *members.routes,
                *metadef_namespaces.routes, *stores.routes],
        middleware=[
            Middleware(RequestLogMiddleware),
            Middleware(VersionNegotiationMiddleware,
                       accepted_versions=accepted_versions(multistore=settings.store.multistore)),
            Middleware(BodyNotAllowedMiddleware),
            Middleware(ContextMiddleware, flavor=settings.auth.flavor,
                       authenticator=KeystoneAuthenticator(settings.auth)
                       if settings.auth.uses_keystone else None),
        ],
        exception_handlers=HANDLERS,
        lifespan=lifespan,
    )
    app.router.routes.extend([*import_api.routes, *task_api.routes])
    app.state.image_validator = ImageValidator(image_schema)
    app.state.schema_documents = {
        "image": image_schema,
        "images": docs.images_schema(
            disk_formats=settings.api.disk_formats,
            container_formats=settings.api.container_formats,
        ),
        "member": docs.member_schema(),
        "members": docs.members_schema(),
        "task": docs.task_schema(),
        "tasks": docs.tasks_schema(),
    }
    return app


def app_from_environment() -> Starlette:
    """Factory for server worker processes: settings arrive as JSON in the environment."""
    from glint.cli.options import ServeOptions, load_settings
    from glint.cli.supervisor import SETTINGS_ENVIRONMENT_VARIABLE

    options = ServeOptions.from_json(json.loads(os.environ[SETTINGS_ENVIRONMENT_VARIABLE]))
    return create_app(load_settings(options, warn=False))

