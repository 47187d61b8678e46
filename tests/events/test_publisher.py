"""Publisher on the machine's RabbitMQ: what is sent, in which order, and what a
bus that is down or hung costs the code that emits (nothing measurable)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from glint.events.publisher import Priority, Publisher, is_disabled
from glint.settings import NotificationSettings
from tests.notifications import (
    RABBIT_URL,
    closed_port,
    consuming,
    private_rabbitmq,
    silent_listener,
)

# Emitting queues and returns: far below a millisecond each; the bound leaves
# room for a loaded machine while a send to a dead bus takes seconds.
EMIT_BUDGET_SECONDS = 0.05


def _settings(topic: str, url: str = RABBIT_URL, **fields: object) -> NotificationSettings:
    values: dict[str, object] = {"drivers": ("messagingv2",), **fields}
    return NotificationSettings(topics=(topic,), transport_url=url,
                                **values)  # type: ignore[arg-type]


def _wait_for(condition: object, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def test_disabled_notifications_match_types_and_groups() -> None:
    assert is_disabled("image.create", ("image.create",))
    assert is_disabled("image.upload", ("image",))
    assert is_disabled("metadef_tag.update", ("metadef_tag",))
    assert not is_disabled("image.update", ("image.create",))
    assert not is_disabled("metadef_tag.create", ("metadef_object",))
    assert not is_disabled("task.run", ())
    # As Glance's code (not its help text): a group is what comes before the first dot.
    assert not is_disabled("image.member.create", ("image.member",))
    assert is_disabled("image.member.create", ("image",))


def test_without_a_driver_nothing_is_started_or_built() -> None:
    for drivers in ((), ("noop",)):
        publisher = Publisher(NotificationSettings(drivers=drivers))
        publisher.start()
        assert not publisher.wants("image.create")
        publisher.emit("image.create", lambda: pytest.fail("payload built"))  # type: ignore[arg-type,return-value]
        publisher.stop()
        assert publisher.counts.sent == 0


@pytest.mark.parametrize("driver", ["messagingv2", "messaging"])
def test_events_arrive_in_order_with_glance_publisher_and_priority(driver: str) -> None:
    with consuming() as consumer:
        publisher = Publisher(_settings(consumer.topic, drivers=(driver,),
                                        publisher_id="image.node1"))
        publisher.start()
        try:
            for number in range(40):
                publisher.emit("image.update", lambda n=number: {"n": n})  # type: ignore[misc]
            publisher.emit("image.upload", lambda: "upload failed", Priority.ERROR)
            received = consumer.take(41)
        finally:
            publisher.stop()
    assert [r.payload for r in received[:40]] == [{"n": n} for n in range(40)]
    assert {r.publisher_id for r in received} == {"image.node1"}
    assert {r.event_type for r in received[:40]} == {"image.update"}
    assert (received[40].event_type, received[40].priority, received[40].payload) == (
        "image.upload", "error", "upload failed")
    assert publisher.counts.sent == 41 and publisher.counts.failed == 0


def test_disabled_events_are_not_sent() -> None:
    with consuming() as consumer:
        publisher = Publisher(_settings(consumer.topic, disabled=("image.create", "task")))
        publisher.start()
        try:
            assert not publisher.wants("task.success")
            for event_type in ("image.create", "task.run", "image.member.create",
                               "image.delete"):
                publisher.emit(event_type, lambda: {})
            assert consumer.types(2) == ["image.member.create", "image.delete"]
            consumer.nothing_more()
        finally:
            publisher.stop()


def test_a_bus_that_refuses_connections_costs_emitting_nothing(
        caplog: pytest.LogCaptureFixture) -> None:
    publisher = Publisher(_settings("glint-down", url=f"rabbit://guest:guest@127.0.0.1:"
                                    f"{closed_port()}/", retry=0))
    publisher.start()
    try:
        with caplog.at_level(logging.ERROR, logger="glint.events.publisher"):
            started = time.perf_counter()
            for _ in range(3):
                publisher.emit("image.create", lambda: {"id": "x"})
            assert time.perf_counter() - started < EMIT_BUDGET_SECONDS
            _wait_for(lambda: publisher.counts.failed == 3)
    finally:
        publisher.stop()
    assert publisher.counts.sent == 0
    assert "notification image.create not sent (3 not sent so far): " in caplog.text
    assert "Connection refused" in caplog.text
    # oslo.messaging's own record of each failure (a traceback and the whole
    # payload) gives way to that one line.
    assert not [r for r in caplog.records if r.name.startswith("oslo_messaging.notify")]


def test_a_hung_bus_fills_the_queue_and_drops_are_counted(
        caplog: pytest.LogCaptureFixture) -> None:
    with silent_listener() as port:
        publisher = Publisher(_settings("glint-hung", url=f"rabbit://guest:guest@127.0.0.1:"
                                        f"{port}/", retry=0, queue_size=2))
        publisher.start()
        with caplog.at_level(logging.WARNING, logger="glint.events.publisher"):
            started = time.perf_counter()
            for _ in range(10):
                publisher.emit("image.update", lambda: {"id": "x"})
            elapsed = time.perf_counter() - started
        # One event is being sent (hung), two wait: the other seven are dropped.
        assert elapsed < EMIT_BUDGET_SECONDS
        assert 7 <= publisher.counts.dropped <= 8
        assert "notification image.update dropped" in caplog.text
        started = time.perf_counter()
        publisher.stop(wait=0.5)
        assert time.perf_counter() - started < 5


def test_sending_goes_on_when_a_stopped_bus_is_back(tmp_path: Path) -> None:
    """A RabbitMQ node of the test's own is stopped and started again: meanwhile
    emitting costs nothing and failures are counted; afterwards events flow."""
    with private_rabbitmq(tmp_path) as node:
        publisher = Publisher(_settings("glint-comeback", url=node.url, retry=0))
        publisher.start()
        try:
            with consuming("glint-comeback", url=node.url) as consumer:
                publisher.emit("image.create", lambda: {"n": 1})
                assert consumer.take(1)[0].payload == {"n": 1}
            node.stop()
            started = time.perf_counter()
            for number in (2, 3):
                publisher.emit("image.update", lambda n=number: {"n": n})  # type: ignore[misc]
            assert time.perf_counter() - started < EMIT_BUDGET_SECONDS
            _wait_for(lambda: publisher.counts.failed == 2)
            node.start()
            with consuming("glint-comeback", url=node.url) as consumer:
                publisher.emit("image.delete", lambda: {"n": 4})
                received = consumer.take(1, timeout=60)[0]
                assert (received.event_type, received.payload) == ("image.delete", {"n": 4})
        finally:
            publisher.stop()
        assert (publisher.counts.sent, publisher.counts.failed) == (2, 2)


def test_the_log_driver_writes_each_event_to_the_log(caplog: pytest.LogCaptureFixture) -> None:
    publisher = Publisher(_settings("unused", drivers=("log",)))
    publisher.start()
    with caplog.at_level(logging.INFO, logger="oslo.messaging.notification"):
        publisher.emit("image.create", lambda: {"id": "logged-image"})
        _wait_for(lambda: publisher.counts.sent == 1, timeout=30)
    publisher.stop()
    [record] = [r for r in caplog.records
                if r.name == "oslo.messaging.notification.image.create"]
    assert "logged-image" in record.getMessage()
