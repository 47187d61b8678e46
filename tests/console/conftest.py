"""A Glint with `flavor = keystone` against the test Keystone, an nginx to
web-download from, users of two projects, and a Chromium to drive the console."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import create_engine, text

from glint.services.console_sessions import unseal
from tests.console.browser import SCREENSHOTS, chromium
from tests.keystone import Keystone
from tests.servers import GlintServer, glint_command, glint_server
from tests.unified_limits import Limits
from tests.web import WebServer, nginx

PASSWORD = "pw-secret"
SERVICE_PASSWORD = "glint-service-secret"
CACHE_NODE = "http://console-node.example:9292"
# Registered limits of every project (sizes in MiB).
LIMITS = {"image_size_total": 4096, "image_stage_total": 1024, "image_count_total": 1000,
          "image_count_uploading": 10}


@dataclass
class User:
    name: str
    project: str
    project_id: str


@dataclass
class Cloud:
    server: GlintServer
    keystone: Keystone
    web: WebServer
    member: User
    reader: User
    other: User
    admin: User

    def api(self, user: User) -> httpx.Client:
        """The image API as `user`, with a token of its own (not the console's)."""
        token = self.keystone.token(user.name, PASSWORD, user.project)
        return httpx.Client(base_url=self.server.url, timeout=60, headers={"X-Auth-Token": token})

    def session_row(self, secret: str) -> dict[str, object]:
        engine = create_engine(f"sqlite:///{self.server.folder / 'glint.db'}")
        try:
            with engine.connect() as connection:
                row = connection.execute(
                    text("SELECT sealed_token, expires_at FROM console_sessions WHERE id = :id"),
                    {"id": hashlib.sha256(secret.encode()).hexdigest()}).mappings().one()
                return dict(row)
        finally:
            engine.dispose()

    def token_of(self, secret: str) -> str:
        """The Keystone token a console session holds, from its cookie and its row."""
        return unseal(secret, str(self.session_row(secret)["sealed_token"]))

    def expire(self, secret: str) -> None:
        engine = create_engine(f"sqlite:///{self.server.folder / 'glint.db'}")
        try:
            with engine.begin() as connection:
                connection.execute(
                    text("UPDATE console_sessions SET expires_at = :past WHERE id = :id"),
                    {"past": datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=1),
                     "id": hashlib.sha256(secret.encode()).hexdigest()})
        finally:
            engine.dispose()


def _user(keystone: Keystone, project: tuple[str, str], roles: tuple[str, ...]) -> User:
    name = keystone.user(project[1], roles, PASSWORD)
    return User(name=name, project=project[0], project_id=project[1])


@pytest.fixture(scope="module")
def cloud(keystone: Keystone, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    service_project = keystone.project()
    service = keystone.user(service_project[1], ("admin", "service"), SERVICE_PASSWORD)
    section = keystone.authtoken_section(service, SERVICE_PASSWORD, project=service_project[0])
    home, elsewhere = keystone.project(), keystone.project()
    folder = tmp_path_factory.mktemp("console")
    with nginx(folder / "web", {}) as web:
        extra: dict[str, dict[str, object]] = {
            "keystone_authtoken": section,
            "import_filtering_opts": {"allowed_ports": web.port, "allowed_hosts": "127.0.0.1"},
            # The image cache, for the service page: one named node, a pass a second.
            "DEFAULT": {"image_cache_dir": folder / "cache", "cache_prefetcher_interval": 1,
                        "worker_self_reference_url": CACHE_NODE, "use_keystone_limits": True},
            # Keystone's unified limits, generous, for the service page's usage.
            "oslo_limit": Limits(keystone, LIMITS).oslo_limit_section(),
        }
        with glint_server(folder / "glint", f"sqlite:///{folder / 'glint' / 'glint.db'}",
                          flavor="keystone", extra=extra) as server:
            glint_command("db", "load-metadefs", "--config-file", str(server.config))
            yield Cloud(server=server, keystone=keystone, web=web,
                        member=_user(keystone, home, ("member", "reader")),
                        reader=_user(keystone, home, ("reader",)),
                        other=_user(keystone, elsewhere, ("member", "reader")),
                        admin=_user(keystone, elsewhere, ("admin", "member", "reader")))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as running:
        yield running


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def log_in(page: Page, cloud: Cloud, user: User) -> None:
    """Log in with the keyboard alone: the user name field has the focus, Tab
    moves on, Enter submits."""
    page.goto(f"{cloud.server.url}/console")
    expect(page.get_by_role("heading", name="Log in to Glint")).to_be_visible()
    page.keyboard.type(user.name)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")  # the domain: Default
    page.keyboard.press("Tab")
    page.keyboard.type(user.project)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Images", exact=True)).to_be_visible()


def session_secret(page: Page) -> str:
    cookies = [c for c in page.context.cookies() if c["name"] == "glint_console"]
    assert len(cookies) == 1
    return cookies[0]["value"]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
