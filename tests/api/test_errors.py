"""Error bodies follow the Accept header as Glance's (webob's) do: HTML by
default and for `*/*` (what python-glanceclient sends), JSON when asked for,
plain text otherwise; the status code and message are the same in each."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import Caller


def _without_accept(member: Caller) -> dict[str, str]:
    return {k: v for k, v in member.http.headers.items() if k.lower() != "accept"}


def _missing(member: Caller, accept: str | None) -> httpx.Response:
    headers = _without_accept(member)
    if accept is not None:
        headers["Accept"] = accept
    image_id = str(uuid.uuid4())
    response = httpx.get(f"{member.base_url}/v2/images/{image_id}", headers=headers)
    assert response.status_code == 404
    assert f"No image found with ID {image_id}" in response.text
    return response


def test_html_by_default_and_for_any(member: Caller) -> None:
    for accept in (None, "*/*"):
        response = _missing(member, accept)
        assert response.headers["content-type"].startswith("text/html")
        assert "<title>404 Not Found</title>" in response.text


def test_json_when_asked(member: Caller) -> None:
    response = _missing(member, "application/json")
    body = response.json()
    assert body["code"] == "404 Not Found" and body["title"] == "Not Found"
    assert body["message"].startswith("No image found")
    preferred = _missing(member, "text/html;q=0.5, application/json")
    assert preferred.headers["content-type"].startswith("application/json")


def test_plain_text_otherwise(member: Caller) -> None:
    response = _missing(member, "text/plain")
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith("404 Not Found\n\nNo image found")


def test_html_escapes_the_message(member: Caller) -> None:
    response = httpx.get(f"{member.base_url}/v2/images?sort_key=<b>",
                         headers=_without_accept(member))
    assert response.status_code == 400
    assert "<b>" not in response.text and "&lt;b&gt;" in response.text


def test_a_trailing_slash_is_404_never_a_redirect(member: Caller) -> None:
    """As in Glance: /v2/images/ is no resource (Starlette would redirect it)."""
    image = member.create()
    for path in ("/v2/images/", f"/v2/images/{image['id']}/", "/v2/schemas/image/"):
        for method in ("GET", "DELETE"):
            response = member.http.request(method, path, follow_redirects=False)
            assert response.status_code == 404, (method, path, response.status_code)
            assert "location" not in response.headers
            assert response.json()["message"] == "The resource could not be found."
    assert member.http.get(f"/v2/images/{image['id']}").status_code == 200  # not deleted
