"""One route per path with a handler per method, so a wrong method gets 405
with an `Allow` header listing every method the path supports."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Handler = Callable[[Request], Awaitable[Response]]


def resource(path: str, name: str | None = None, **handlers: Handler) -> Route:
    """A route for `path` dispatching on the method: resource("/x", GET=show, DELETE=drop)."""
    by_method = {method.upper(): handler for method, handler in handlers.items()}
    if "GET" in by_method:
        by_method.setdefault("HEAD", by_method["GET"])

    async def dispatch(request: Request) -> Response:
        return await by_method[request.method](request)

    dispatch.__name__ = name or path
    return Route(path, dispatch, methods=list(by_method), name=name)
