"""What the integrity auditor has recorded: the copies of live images whose last
verdict is bad, and the passes that have not ended. One reading shared by
`glint audit --report` and GET /v2/info/audit (policy rule `audit_report`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from glint.db import audit_repositories as audit_repo
from glint.db.audit_repositories import CopyCheck, UnfinishedPass
from glint.db.session import Database
from glint.domain.context import RequestContext
from glint.domain.copy_checks import Verdict
from glint.domain.policy import Policy, Target
from glint.jobs.audit import check_json


@dataclass(frozen=True)
class AuditFindings:
    bad: list[CopyCheck]
    passes: list[UnfinishedPass]


def recorded_findings(db: Database, image_id: str | None = None) -> AuditFindings:
    """The copies recorded bad (only the image's when given), newest verdict first,
    and the unfinished passes."""
    with db.reading() as session:
        return AuditFindings(bad=audit_repo.bad_checks(session, image_id),
                             passes=audit_repo.unfinished_passes(session))


def findings_json(findings: AuditFindings, *, with_urls: bool) -> dict[str, Any]:
    """The findings as JSON; the copies' URLs (without credentials) only `with_urls`."""
    bad = [check_json(check) for check in findings.bad]
    if not with_urls:
        for copy in bad:
            del copy["url"]
    return {
        "bad": bad,
        "summary": {
            "mismatch": sum(check.verdict == Verdict.MISMATCH for check in findings.bad),
            "unreadable": sum(check.verdict == Verdict.UNREADABLE for check in findings.bad),
            "unfinished_passes": [
                {"scope": run.scope, "last_image_id": run.last_image_id,
                 "started_at": run.started_at.isoformat(),
                 "updated_at": run.updated_at.isoformat()} for run in findings.passes],
        },
    }


@dataclass
class AuditReports:
    db: Database
    policy: Policy

    def findings(self, ctx: RequestContext, image_id: str | None) -> dict[str, Any]:
        """GET /v2/info/audit: admins only by default; URLs only to admins."""
        self.policy.enforce("audit_report", ctx, Target())
        return findings_json(recorded_findings(self.db, image_id), with_urls=ctx.is_admin)
