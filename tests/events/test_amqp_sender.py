"""The thin messagingv2 sender against oslo.messaging itself, on the machine's
RabbitMQ: the same bytes on the wire (but for the message's id, unique id and
time), read by a real oslo.messaging listener; and the set-ups it is chosen for."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import amqp
import pytest

from glint.events.amqp_sender import AmqpSender
from glint.events.publisher import Event, OsloSender, Priority, Publisher, Sender
from glint.events.senders import plain_rabbit, sender_for
from glint.settings import NotificationSettings
from tests.notifications import RABBIT_URL, consuming

# Fields oslo.messaging fills anew for each message.
FRESH = ("message_id", "_unique_id", "timestamp")
EVENTS = [
    Event("image.update", {"id": "1", "name": "caf\u00e9 \u2615", "size": 10 ** 12,
                           "properties": {"os_hash_value": "f" * 128}, "tags": ["a", "b"],
                           "protected": False, "deleted_at": None, "min_ram": 0.5}),
    Event("image.upload", "Failed to upload image data: \"quoted\" \\ slash", Priority.ERROR),
]


def _settings(topic: str, **fields: object) -> NotificationSettings:
    values: dict[str, object] = {"drivers": ("messagingv2",), "transport_url": RABBIT_URL,
                                 "publisher_id": "image.node7", **fields}
    return NotificationSettings(topics=(topic,), **values)  # type: ignore[arg-type]


@pytest.fixture
def broker() -> Iterator[amqp.Channel]:
    connection = amqp.Connection("127.0.0.1:5672", userid="guest", password="guest")
    connection.connect()
    try:
        yield connection.channel()
    finally:
        connection.close()


def _sent(sender: Sender, broker: amqp.Channel, topic: str) -> list[amqp.Message]:
    """What `sender` put on the wire for EVENTS, taken from the default queues."""
    try:
        assert sender.send(EVENTS) == [None] * len(EVENTS)
    finally:
        sender.close()
    taken = []
    for event in EVENTS:
        queue = f"{topic}.{event.priority}"
        taken.append(broker.basic_get(queue, no_ack=True))
        broker.queue_delete(queue)
    return taken


def _raw(message: amqp.Message) -> bytes:
    """The body's bytes (py-amqp hands over a body it decoded from UTF-8)."""
    body = message.body
    return body if isinstance(body, bytes) else str(body).encode("utf-8")


def _fresh(body: bytes) -> list[str]:
    message = json.loads(json.loads(body)["oslo.message"])
    return [message[field] for field in FRESH]


def test_the_wire_holds_what_oslo_messaging_sends(broker: amqp.Channel) -> None:
    topic = f"glint-wire-{uuid.uuid4().hex[:12]}"
    settings = _settings(topic)
    assert isinstance(sender_for(settings), AmqpSender)
    by_oslo = _sent(OsloSender(settings), broker, topic)
    by_glint = _sent(AmqpSender(settings, plain_rabbit(settings) or []), broker, topic)
    for theirs, ours in zip(by_oslo, by_glint, strict=True):
        expected = _raw(theirs)
        for their_value, our_value in zip(_fresh(_raw(theirs)), _fresh(_raw(ours)),
                                          strict=True):
            expected = expected.replace(their_value.encode(), our_value.encode())
        assert _raw(ours) == expected
        assert ours.properties == theirs.properties
        assert ({k: ours.delivery_info[k] for k in ("exchange", "routing_key")}
                == {k: theirs.delivery_info[k] for k in ("exchange", "routing_key")})


def test_an_oslo_messaging_listener_reads_what_the_thin_sender_sends() -> None:
    with consuming() as consumer:
        publisher = Publisher(_settings(consumer.topic))
        publisher.start()
        try:
            for event in EVENTS:
                publisher.emit(event.event_type, lambda e=event: e.payload,  # type: ignore[misc]
                               event.priority)
            received = consumer.take(len(EVENTS))
        finally:
            publisher.stop()
    assert [(r.publisher_id, r.event_type, r.payload, r.priority) for r in received] == [
        ("image.node7", e.event_type, e.payload, str(e.priority)) for e in EVENTS]


@pytest.mark.parametrize(("fields", "config"), [
    ({"drivers": ("messaging",)}, ""),
    ({"drivers": ("messagingv2", "log")}, ""),
    ({"transport_url": None}, ""),
    ({"transport_url": RABBIT_URL + "?ssl=1"}, ""),
    ({"transport_url": "kafka://127.0.0.1:9092/"}, ""),
    ({}, "[oslo_messaging_rabbit]\namqp_durable_queues = true\n"),
    ({}, "[oslo_messaging_rabbit]\nrabbit_quorum_queue = true\n"),
    ({}, "[DEFAULT]\ncontrol_exchange = openstack\n"),
])
def test_oslo_messaging_sends_for_any_other_set_up(fields: dict[str, object], config: str,
                                                  tmp_path: Path) -> None:
    (tmp_path / "glance-api.conf").write_text(config)
    settings = _settings("unused", config_files=(tmp_path / "glance-api.conf",), **fields)
    assert plain_rabbit(settings) is None


def test_the_brokers_of_a_plain_set_up(tmp_path: Path) -> None:
    (tmp_path / "glance-api.conf").write_text(
        "[DEFAULT]\ncontrol_exchange = glance\n[oslo_messaging_rabbit]\n")
    settings = _settings("unused", config_files=(tmp_path / "glance-api.conf",),
                         transport_url="rabbit://a:b@one:5673,c:d@two/images")
    assert [(b.host, b.port, b.username, b.password, b.virtual_host)
            for b in plain_rabbit(settings) or []] == [
        ("one", 5673, "a", "b", "images"), ("two", 5672, "c", "d", "images")]


def test_the_events_the_broker_refuses_in_a_batch_are_the_ones_reported(
        broker: amqp.Channel) -> None:
    """A second queue on the same routing key holds one message and refuses
    more (reject-publish): of a batch of three, the broker nacks the last two."""
    topic = f"glint-nack-{uuid.uuid4().hex[:12]}"
    settings = _settings(topic)
    full = f"{topic}.full"
    broker.exchange_declare("glance", "topic", durable=False, auto_delete=False)
    broker.queue_declare(full, durable=False, auto_delete=False,
                         arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
    broker.queue_bind(full, "glance", f"{topic}.info")
    sender = AmqpSender(settings, plain_rabbit(settings) or [])
    try:
        reasons = sender.send([Event("image.update", {"n": n}) for n in range(3)])
        assert sender.send([Event("image.upload", "failed", Priority.ERROR)]) == [None]
    finally:
        sender.close()
        for queue in (full, f"{topic}.info", f"{topic}.error"):
            broker.queue_delete(queue)
    assert reasons == [None, "the broker refused it (nack)", "the broker refused it (nack)"]
