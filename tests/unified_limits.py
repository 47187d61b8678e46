"""Keystone's unified limits for Glint's tests: an image service of its own in
the test Keystone (tests/keystone.py), its registered limits, project limits,
and the `[oslo_limit]` section that reads them."""

from __future__ import annotations

import uuid

import httpx

from tests.keystone import ADMIN_PASSWORD, Keystone


class Limits:
    """Keystone's image service with its registered limits, and project limits."""

    def __init__(self, keystone: Keystone, defaults: dict[str, int]) -> None:
        self.keystone = keystone
        self.admin = httpx.Client(base_url=f"{keystone.url}/v3", timeout=30, headers={
            "X-Auth-Token": keystone.token("admin", ADMIN_PASSWORD, "admin")})
        # Not of type "image": the session's other tests (clients, Tempest) take the
        # catalog's first image service. oslo.limit finds this one by endpoint_id.
        service = self.admin.post("/services", json={"service": {
            "type": "image-limits", "name": f"glint-{uuid.uuid4().hex[:6]}"}})
        assert service.status_code == 201, service.text
        self.service_id = service.json()["service"]["id"]
        endpoint = self.admin.post("/endpoints", json={"endpoint": {
            "service_id": self.service_id, "interface": "public", "region_id": "RegionOne",
            "url": "http://127.0.0.1:9292"}})
        assert endpoint.status_code == 201, endpoint.text
        self.endpoint_id = endpoint.json()["endpoint"]["id"]
        registered = self.admin.post("/registered_limits", json={"registered_limits": [
            {"service_id": self.service_id, "region_id": "RegionOne", "resource_name": name,
             "default_limit": value} for name, value in defaults.items()]})
        assert registered.status_code == 201, registered.text

    def project(self, **limits: int) -> str:
        """A new Keystone project with these project limits; returns its id."""
        _, project_id = self.keystone.project()
        if limits:
            created = self.admin.post("/limits", json={"limits": [
                {"service_id": self.service_id, "project_id": project_id,
                 "region_id": "RegionOne", "resource_name": name, "resource_limit": value}
                for name, value in limits.items()]})
            assert created.status_code == 201, created.text
        return project_id

    def oslo_limit_section(self) -> dict[str, object]:
        return {"auth_url": self.keystone.url, "auth_type": "password", "username": "admin",
                "password": ADMIN_PASSWORD, "user_domain_id": "default",
                "system_scope": "all", "endpoint_id": self.endpoint_id}
