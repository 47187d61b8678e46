"""GET /healthcheck as oslo.middleware's healthcheck answers it under Glance.

200 when every check passes, 503 otherwise; HEAD answers 204 or 503 without
a body. The body is plain text, HTML or JSON by `Accept` (plain text when it
names none of them): the reasons of the failing checks ("OK" when none
fails), or, with `[healthcheck] detailed`, every check with its details and
the process's state, in oslo.middleware's field names.
"""

from __future__ import annotations

import gc
import html
import io
import json
import platform
import socket
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from webob.acceptparse import create_accept_header

from glint.api.deps import services_of
from glint.api.routing import resource
from glint.services.health import OK, CheckResult

TEXT, HTML, JSON = "text/plain", "text/html", "application/json"


async def healthcheck(request: Request) -> Response:
    results = await services_of(request).health.run()
    healthy = all(result.available for result in results)
    if request.method == "HEAD":
        return Response(status_code=204 if healthy else 503)
    detailed = services_of(request).settings.healthcheck.detailed
    media_type = _media_type(request.headers.get("accept"))
    if media_type == JSON:
        body = _json(results, detailed)
    elif media_type == HTML:
        body = _html(results, detailed)
    else:
        body = "\n".join(_reasons(results))
    return Response(body, status_code=200 if healthy else 503, media_type=media_type)


def _media_type(accept: str | None) -> str:
    if accept is None:
        return TEXT
    offers = create_accept_header(accept).acceptable_offers(offers=[TEXT, HTML, JSON])
    return str(offers[0][0]) if offers else TEXT


def _reasons(results: list[CheckResult]) -> list[str]:
    return [result.reason for result in results if not result.available] or [OK]


def _checks(results: list[CheckResult]) -> list[dict[str, str]]:
    return [{"class": r.kind, "details": r.details, "reason": r.reason} for r in results]


def _process_state() -> dict[str, Any]:
    return {
        "now": str(datetime.now(UTC).replace(tzinfo=None)),
        "python_version": sys.version,
        "platform": platform.platform(),
        "gc": {"counts": list(gc.get_count()), "threshold": list(gc.get_threshold())},
    }


def _thread_stacks() -> list[str]:
    stacks = []
    for frame in sys._current_frames().values():
        buffer = io.StringIO()
        traceback.print_stack(frame, file=buffer)
        stacks.append(buffer.getvalue())
    return stacks


def _json(results: list[CheckResult], detailed: bool) -> str:
    if not detailed:
        document: dict[str, Any] = {"detailed": False, "reasons": _reasons(results)}
    else:
        document = {"detailed": True, **_process_state(), "reasons": _checks(results),
                    # Glint runs no greenlets; the field stays for oslo.middleware's shape.
                    "greenthreads": [], "threads": _thread_stacks()}
    return json.dumps(document, indent=4, sort_keys=True)


def _html(results: list[CheckResult], detailed: bool) -> str:
    parts = ["<HTML>", "<HEAD><TITLE>Healthcheck Status</TITLE></HEAD>", "<BODY>"]
    if detailed:
        state = _process_state()
        parts += ["<H1>Server status</H1>",
                  f"<B>Server hostname:</B><PRE>{html.escape(socket.gethostname())}</PRE>",
                  f"<B>Current time:</B><PRE>{html.escape(state['now'])}</PRE>",
                  f"<B>Python version:</B><PRE>{html.escape(state['python_version'])}</PRE>",
                  f"<B>Platform:</B><PRE>{html.escape(state['platform'])}</PRE>", "<HR></HR>"]
    rows = [[r["class"], r["reason"], r["details"]] for r in _checks(results)] if detailed \
        else [[reason] for reason in _reasons(results)]
    headings = ["Kind", "Reason", "Details"] if detailed else ["Reason"]
    parts += [f"<H2>Result of {len(rows)} checks:</H2>", '<TABLE bgcolor="#ffffff" border="1">',
              "<TBODY>", "<TR>" + "".join(f"<TH>{h}</TH>" for h in headings) + "</TR>"]
    parts += ["<TR>" + "".join(f"<TD>{html.escape(cell)}</TD>" for cell in row) + "</TR>"
              for row in rows]
    parts += ["</TBODY>", "</TABLE>", "</BODY>", "</HTML>"]
    return "\n".join(parts)


routes = [resource("/healthcheck", GET=healthcheck, HEAD=healthcheck)]
