"""The typed import request and the task input that records it (pure code)."""

from __future__ import annotations

import json
import uuid

import pytest

from glint.domain.errors import InvalidInput
from glint.services.imports.request import (
    ImportMethod,
    ImportRequest,
    ImportTaskInput,
    RemoteImage,
    parse_request,
)

ENABLED = tuple(ImportMethod)


def test_a_body_becomes_a_typed_request() -> None:
    request = parse_request({"method": {"name": "web-download", "uri": "http://a/x"},
                             "stores": ["one", "two"], "all_stores_must_succeed": False},
                            ENABLED, multistore=True)
    assert request == ImportRequest(method=ImportMethod.WEB_DOWNLOAD, uri="http://a/x",
                                    stores=("one", "two"), all_stores_must_succeed=False)


def test_the_task_records_the_body_as_sent_and_reads_the_same_request_back() -> None:
    remote_id = str(uuid.uuid4())
    body = {"method": {"name": "glance-download", "glance_region": "r2",
                       "glance_image_id": remote_id}, "all_stores": True}
    request = parse_request(body, ENABLED, multistore=True)
    recorded = ImportTaskInput("image-1", request, ("one", "two")).as_input()
    # Glance's shape, the interface's default written in as Glance does.
    assert recorded == {
        "image_id": "image-1", "backend": ["one", "two"],
        "import_req": {"method": {"name": "glance-download", "glance_region": "r2",
                                  "glance_image_id": remote_id,
                                  "glance_service_interface": "public"},
                       "all_stores": True},
    }
    read = ImportTaskInput.of(json.loads(json.dumps(recorded)))  # as the database gives it back
    assert read.request == request and read.targets == ("one", "two")
    assert read.request.remote == RemoteImage("r2", remote_id, "public")
    assert read.request.method is ImportMethod.GLANCE_DOWNLOAD


@pytest.mark.parametrize("backend", [None, []], ids=["none", "empty"])
def test_no_recorded_stores_mean_the_default_store(backend: list[str] | None) -> None:
    read = ImportTaskInput.of({"image_id": "x", "backend": backend,
                               "import_req": {"method": {"name": "glance-direct"}}})
    assert read.targets == () and read.request.method is ImportMethod.GLANCE_DIRECT


@pytest.mark.parametrize("task_input", [
    {"import_from": "http://a/x", "import_from_format": "raw"},  # a legacy `import` task's
    {"image_id": "x", "import_req": {"stores": ["one"]}},  # no method
])
def test_other_task_inputs_are_refused(task_input: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="not an image import task's input"):
        ImportTaskInput.of(task_input)


def test_a_method_not_enabled_is_refused_as_glance_refuses_it() -> None:
    with pytest.raises(InvalidInput, match="Unknown import method name 'web-download'"):
        parse_request({"method": {"name": "web-download", "uri": "http://a/x"}},
                      ("glance-direct",), multistore=False)
