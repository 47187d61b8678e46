"""GET /v2/info/audit over real HTTP on SQLite, MariaDB and PostgreSQL: the copies
the integrity auditor recorded bad, admins only, the same as `glint audit --report`."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from sqlalchemy import create_engine, text

from glint.db.audit_repositories import CopyCheck, UnfinishedPass
from glint.domain.copy_checks import Verdict
from glint.services.audit_findings import AuditFindings, findings_json
from tests.conftest import BACKENDS, Caller
from tests.helpers import Site, running_site, upload_active
from tests.servers import GLINT, database


@pytest.fixture(scope="module", params=BACKENDS)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp(f"audit-report-{request.param}")
    # An operator opening the report to readers: they see it without the copies' URLs.
    (folder / "policy.yaml").write_text('"audit_report": "role:admin or role:reader"\n')
    extra: dict[str, dict[str, object]] = {"oslo_policy": {"policy_file": "policy.yaml"}}
    with database(request.param, folder) as url, running_site(folder, database_url=url,
                                                              extra=extra) as running:
        yield running


def _glint_audit(site: Site, *args: str) -> str:
    done = subprocess.run([str(GLINT), "audit", "--config-file", str(site.server.config), *args],
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _file_of(site: Site, image_id: str) -> tuple[str, Path]:
    engine = create_engine(site.database_url)
    try:
        with engine.connect() as connection:
            url = connection.execute(text("SELECT url FROM image_locations WHERE image_id = :id"),
                                     {"id": image_id}).scalar_one()
    finally:
        engine.dispose()
    return url, Path(unquote(urlsplit(url).path))


def test_bad_copies_listed_urls_to_admins_only(site: Site) -> None:
    data = os.urandom(100_000)
    healthy = str(upload_active(site.admin, data)["id"])
    image_id = str(upload_active(site.admin, data)["id"])
    url, path = _file_of(site, image_id)
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    _glint_audit(site, "--image", image_id)
    _glint_audit(site, "--image", healthy)

    response = site.admin.http.get("/v2/info/audit")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    mine = [copy for copy in body["bad"] if copy["image_id"] == image_id]
    assert [(copy["url"], copy["verdict"]) for copy in mine] == [(url, "mismatch")]
    assert {d.split(":")[0] for d in mine[0]["differences"]} >= {"checksum"}
    assert mine[0]["store"] and mine[0]["checked_at"]
    assert all(copy["image_id"] != healthy for copy in body["bad"])
    assert body["summary"]["mismatch"] >= 1 and body["summary"]["unfinished_passes"] == []

    one = site.admin.http.get("/v2/info/audit", params={"image_id": image_id}).json()
    assert [copy["image_id"] for copy in one["bad"]] == [image_id]
    assert site.admin.http.get("/v2/info/audit", params={"image_id": healthy}).json()["bad"] == []
    # The command line's report is the same reading.
    assert json.loads(_glint_audit(site, "--report", "--json"))["bad"] == body["bad"]

    reader = site.member.http.get("/v2/info/audit", params={"image_id": image_id})
    assert reader.status_code == 200, reader.text
    assert [{k: v for k, v in copy.items() if k != "url"} for copy in one["bad"]] == \
        reader.json()["bad"]
    assert "url" not in reader.json()["bad"][0]

    no_reader = Caller(site.server.url, site.member.project_id, ("member",))
    refused = no_reader.http.get("/v2/info/audit")
    assert refused.status_code == 403, refused.text
    assert "not authorized to complete audit_report action" in refused.text


def test_urls_only_for_admins() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5)
    findings = AuditFindings(
        bad=[CopyCheck(image_id="i", url="s3://key:secret@host/b/i", store="remote",
                       verdict=Verdict.UNREADABLE, differences=["gone"], checked_at=moment)],
        passes=[UnfinishedPass(scope="all", last_image_id="h", started_at=moment,
                               updated_at=moment)])
    admin = findings_json(findings, with_urls=True)
    assert admin["bad"][0]["url"] == "s3://host/b/i"  # never the credentials
    assert "url" not in findings_json(findings, with_urls=False)["bad"][0]
    assert admin["summary"] == {"mismatch": 0, "unreadable": 1, "unfinished_passes": [
        {"scope": "all", "last_image_id": "h", "started_at": "2026-01-02T03:04:05",
         "updated_at": "2026-01-02T03:04:05"}]}
