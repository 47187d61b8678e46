"""The image cache API (/v2/cache, 2.14-2.18) of any Glance or Glint node."""

from __future__ import annotations

from typing import Any

from glint.client.images import ImageClient


class CacheClient(ImageClient):
    """/v2/cache at `endpoint`; every method raises ImageServiceError on an error answer."""

    def listing(self) -> dict[str, Any]:
        body: dict[str, Any] = self._request("GET", "/v2/cache").json()
        return body

    def queue(self, image_id: str) -> None:
        self._request("PUT", f"/v2/cache/{image_id}")

    def delete(self, image_id: str) -> None:
        self._request("DELETE", f"/v2/cache/{image_id}")

    def clear(self, target: str) -> None:
        self._request("DELETE", "/v2/cache", headers={"x-image-cache-clear-target": target})

    def clean(self) -> None:
        """POST /v2/cache/clean; Glance reports nothing back."""
        self._request("POST", "/v2/cache/clean")

    def prune(self) -> dict[str, Any]:
        body: dict[str, Any] = self._request("POST", "/v2/cache/prune").json()
        return body
