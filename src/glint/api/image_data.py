"""Routes for image data: PUT and GET /v2/images/{id}/file."""

from __future__ import annotations

from functools import partial

from starlette.requests import Request
from starlette.responses import Response

from glint.api.deps import context_of, run_in_threadpool, services_of
from glint.api.ranges import ByteRange, parse_content_range, parse_range
from glint.api.routing import resource
from glint.api.slow_bodies import limits_of, paced
from glint.api.zerocopy import DataResponse
from glint.domain.errors import InvalidInput, UnsupportedMediaType

OCTET_STREAM = "application/octet-stream"


def _declared_size(request: Request) -> int | None:
    header = request.headers.get("x-openstack-image-size")
    if header is None:
        return None
    try:
        size = int(header)
    except ValueError:
        raise InvalidInput(f"x-openstack-image-size must be an integer, got {header!r}") from None
    if size < 0:
        raise InvalidInput("x-openstack-image-size must not be negative")
    return size


def _content_length(request: Request) -> int | None:
    header = request.headers.get("content-length")
    if header is None or "chunked" in request.headers.get("transfer-encoding", "").lower():
        return None
    try:
        return int(header)
    except ValueError:
        raise InvalidInput(f"Invalid Content-Length {header!r}") from None


def checked_data_size(request: Request) -> int | None:
    """The size an image data request (upload or stage) announces, if any, after
    checking it is octet-stream and its two size headers agree."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != OCTET_STREAM:
        raise UnsupportedMediaType(
            f"Image data must be sent as {OCTET_STREAM}, not {content_type or '(none)'}"
        )
    declared = _declared_size(request)
    length = _content_length(request)
    if declared is not None and length is not None and declared != length:
        raise InvalidInput(
            f"x-openstack-image-size ({declared}) does not match Content-Length ({length})"
        )
    return declared if declared is not None else length


async def upload(request: Request) -> Response:
    expected_size = checked_data_size(request)
    services = services_of(request)
    target = services.placement.upload_target(request.headers.get("x-image-meta-store"))
    await services.data.upload(
        context_of(request), request.path_params["image_id"],
        paced(request.stream(), limits_of(services.settings.server)),
        expected_size=expected_size, target=target,
    )
    return Response(status_code=204)


def _requested_range(request: Request, size: int) -> ByteRange | None:
    if "range" in request.headers:
        return parse_range(request.headers["range"], size)
    if "content-range" in request.headers:
        return parse_content_range(request.headers["content-range"], size)
    return None


async def download(request: Request) -> Response:
    services = services_of(request)
    found = await run_in_threadpool(
        services.data.prepare_download, context_of(request), request.path_params["image_id"]
    )
    locations = services.placement.ordered(found.locations, request.query_params.get("prefer"))
    if found.location is None:
        return Response(status_code=204)
    size = found.size or 0
    wanted = _requested_range(request, size)
    headers = {"Content-Type": OCTET_STREAM}
    cache = services.cache
    sent = partial(services.data.sent, context_of(request), found.image,
                   wanted.length if wanted is not None else size)
    set_aside_of = found.image.id if found.set_aside else None
    if wanted is None:
        headers["Content-Length"] = str(size)
        if found.image.checksum:
            headers["Content-MD5"] = found.image.checksum
        data = None if cache is None else await cache.open_hit(found.image, 0, None)
        if data is None:
            data = await services.placement.open(locations, 0, None, set_aside_of)
            if cache is not None:
                data = await cache.filled_while_sent(found.image, data)
        return DataResponse(data, 200, headers, finished=sent)
    headers["Content-Length"] = str(wanted.length)
    headers["Content-Range"] = f"bytes {wanted.start}-{wanted.end}/{size}"
    data = None if cache is None else await cache.open_hit(found.image, wanted.start,
                                                            wanted.length)
    if data is None:
        data = await services.placement.open(locations, wanted.start, wanted.length,
                                             set_aside_of)
    return DataResponse(data, 206, headers, finished=sent)


routes = [resource("/v2/images/{image_id}/file", GET=download, PUT=upload)]
