"""A small synchronous client for the Images v2 API of any Glance or Glint.

Image records stay the JSON objects the API returns (`ImageRecord`): their extra
properties are free-form, so a fixed class would drop what it does not know.
Data moves as iterators of chunks in both directions: nothing here holds a whole
image.

Error tree:

    ImageServiceError            any answer the caller cannot use (status, url, detail)
        AuthenticationFailed     401 or 403
        ImageNotFound            404
        ImageConflict            409
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

ImageRecord = dict[str, Any]
PATCH_MEDIA_TYPE = "application/openstack-images-v2.1-json-patch"
PAGE_SIZE = 100


class ImageServiceError(Exception):
    """The image service at `url` answered `status` (None: no answer at all)."""

    def __init__(self, url: str, status: int | None, detail: str) -> None:
        super().__init__(f"{url}: {'HTTP ' + str(status) if status else 'unreachable'}: {detail}")
        self.url = url
        self.status = status
        self.detail = detail


class AuthenticationFailed(ImageServiceError):
    """401/403: the token is missing, wrong or lacks the rights needed."""


class ImageNotFound(ImageServiceError):
    """404."""


class ImageConflict(ImageServiceError):
    """409: the id is taken (perhaps by an image this token cannot see) or a state clash."""


ERRORS: dict[int, type[ImageServiceError]] = {
    401: AuthenticationFailed, 403: AuthenticationFailed, 404: ImageNotFound, 409: ImageConflict,
}


@dataclass(frozen=True)
class Member:
    """One project an image is shared with, and its answer (pending/accepted/rejected)."""

    member_id: str
    status: str


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    if not response.is_stream_consumed:
        response.read()
    error = ERRORS.get(response.status_code, ImageServiceError)
    raise error(str(response.request.url), response.status_code, response.text[:500])


class ImageClient:
    """The Images v2 API at `endpoint` (a base URL), authenticated by `token` if given.

    Every method raises ImageServiceError (or a subclass) on an error answer and
    on transport failures. The client is safe to share between threads.
    """

    def __init__(self, endpoint: str, token: str | None = None, *,
                 timeout: float = 600.0, page_size: int = PAGE_SIZE) -> None:
        self.page_size = page_size
        headers = {"X-Auth-Token": token} if token else {}
        self.endpoint = endpoint.rstrip("/")
        self._http = httpx.Client(base_url=self.endpoint, headers=headers,
                                  timeout=httpx.Timeout(timeout, connect=30.0))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ImageClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **options)
        except httpx.HTTPError as exc:
            raise ImageServiceError(f"{self.endpoint}{path}", None, str(exc)) from exc
        _raise_for(response)
        return response

    # Images ------------------------------------------------------------------

    def images(self) -> Iterator[ImageRecord]:
        """Every image the token can see, hidden ones (`os_hidden`) included, page by page."""
        for hidden in ("false", "true"):
            marker: str | None = None
            while True:
                params = {"visibility": "all", "os_hidden": hidden, "limit": str(self.page_size),
                          "sort_key": "created_at", "sort_dir": "asc"}
                if marker is not None:
                    params["marker"] = marker
                page = self._request("GET", "/v2/images", params=params).json()
                yield from page["images"]
                if not page["images"] or "next" not in page:
                    break
                marker = page["images"][-1]["id"]

    def image(self, image_id: str) -> ImageRecord | None:
        """The image's record, or None when it does not exist (or is not visible)."""
        try:
            record: ImageRecord = self._request("GET", f"/v2/images/{image_id}").json()
        except ImageNotFound:
            return None
        return record

    def create(self, body: dict[str, Any]) -> ImageRecord:
        record: ImageRecord = self._request("POST", "/v2/images", json=body).json()
        return record

    def update(self, image_id: str, operations: list[dict[str, Any]]) -> ImageRecord:
        """Apply JSON-patch `operations` (Glance's v2.1 media type)."""
        record: ImageRecord = self._request(
            "PATCH", f"/v2/images/{image_id}", json=operations,
            headers={"Content-Type": PATCH_MEDIA_TYPE}).json()
        return record

    def delete(self, image_id: str) -> None:
        self._request("DELETE", f"/v2/images/{image_id}")

    def deactivate(self, image_id: str) -> None:
        self._request("POST", f"/v2/images/{image_id}/actions/deactivate")

    def reactivate(self, image_id: str) -> None:
        self._request("POST", f"/v2/images/{image_id}/actions/reactivate")

    # Data --------------------------------------------------------------------

    def upload(self, image_id: str, chunks: Iterable[bytes], size: int | None) -> None:
        """Send the image data from `chunks`; with `size` known the request carries a
        Content-Length instead of chunked encoding (uWSGI limits chunk sizes)."""
        headers = {"Content-Type": "application/octet-stream"}
        if size is not None:
            headers["Content-Length"] = str(size)
        self._request("PUT", f"/v2/images/{image_id}/file", content=chunks, headers=headers)

    @contextmanager
    def download(self, image_id: str, chunk_size: int) -> Iterator[Iterator[bytes]]:
        """The image data as chunks of at most `chunk_size` bytes, while the block runs."""
        path = f"/v2/images/{image_id}/file"
        try:
            with self._http.stream("GET", path) as response:
                _raise_for(response)
                if response.status_code == 204:
                    raise ImageServiceError(f"{self.endpoint}{path}", 204, "the image has no data")
                yield response.iter_bytes(chunk_size)
        except httpx.HTTPError as exc:
            raise ImageServiceError(f"{self.endpoint}{path}", None, str(exc)) from exc

    # Members -----------------------------------------------------------------

    def members(self, image_id: str) -> list[Member]:
        body = self._request("GET", f"/v2/images/{image_id}/members").json()
        return [Member(entry["member_id"], entry["status"]) for entry in body["members"]]

    def add_member(self, image_id: str, member_id: str) -> None:
        self._request("POST", f"/v2/images/{image_id}/members", json={"member": member_id})

    def set_member_status(self, image_id: str, member_id: str, status: str) -> None:
        self._request("PUT", f"/v2/images/{image_id}/members/{member_id}",
                      json={"status": status})

    def remove_member(self, image_id: str, member_id: str) -> None:
        self._request("DELETE", f"/v2/images/{image_id}/members/{member_id}")
