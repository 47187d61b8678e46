"""Error bodies as Glance sends them: webob's, chosen by the `Accept` header.

HTML for browsers and for clients that accept anything (`*/*`, or no
header): python-glanceclient sends `*/*` and reads HTML or *nested* JSON, so
Glance's flat JSON would break it. JSON `{"message", "code", "title"}` when
the client asks for it (openstacksdk does), plain text when it accepts
neither.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from http import HTTPStatus

from webob.acceptparse import create_accept_header

HTML = "text/html"
JSON = "application/json"
PLAIN = "text/plain"
OFFERS = [HTML, JSON]


@dataclass(frozen=True)
class ErrorBody:
    media_type: str
    content: str


def media_type_for(accept: str | None) -> str:
    """The first of HTML and JSON the `Accept` header takes at its highest
    quality (RFC 7231 matching, as webob does); plain text if neither."""
    if accept is None:
        return HTML
    offers = create_accept_header(accept).acceptable_offers(offers=OFFERS)
    return str(offers[0][0]) if offers else PLAIN


def error_body(status: int, message: str, accept: str | None) -> ErrorBody:
    phrase = HTTPStatus(status).phrase
    line = f"{status} {phrase}"
    media_type = media_type_for(accept)
    if media_type == JSON:
        return ErrorBody(JSON, json.dumps({"message": message, "code": line, "title": phrase}))
    if media_type == HTML:
        return ErrorBody(HTML, (
            f"<html>\n <head>\n  <title>{line}</title>\n </head>\n <body>\n"
            f"  <h1>{line}</h1>\n  {html.escape(message)}<br /><br />\n\n\n\n </body>\n</html>"))
    return ErrorBody(PLAIN, f"{line}\n\n{message}\n\n")
