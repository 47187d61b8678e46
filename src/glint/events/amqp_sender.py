"""A thin messagingv2 sender on py-amqp, for the plain RabbitMQ set-up.

oslo.messaging's Notifier spends most of each notification's CPU in its own
layers (driver lookup, connection pool, kombu's `ensure` and producer), some
200 µs per event against the 90 µs the AMQP publish itself costs. When the
transport is a plain `rabbit://` URL and no `[oslo_messaging_rabbit]` option
is set, this sender puts on the wire what oslo.messaging's rabbit driver
would: the same exchange (`glance`, topic, not durable), the same default
queue per routing key (`<topic>.<priority>`), the same AMQP properties and
the same body, `{"oslo.version": "2.0", "oslo.message": "<JSON message>"}`
with the message's fields in oslo.messaging's order. Every message is
confirmed by the broker, as oslo.messaging's are, but the confirms of the
events that queued up together are awaited once, not one round trip each.
Any other set-up keeps oslo.messaging (`publisher.OsloSender`).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import amqp
from amqp import spec
from oslo_serialization.jsonutils import to_primitive

from glint.events.publisher import CONTROL_EXCHANGE, Event
from glint.settings import NotificationSettings

# What oslo.messaging's rabbit driver (through kombu) sets on each notification.
PROPERTIES: dict[str, Any] = {"content_type": "application/json", "content_encoding": "utf-8",
                              "application_headers": {}, "delivery_mode": 2, "priority": 0}
# A broker that does not answer in time counts as a failed try.
CONNECT_TIMEOUT_SECONDS = 5.0
CONFIRM_TIMEOUT_SECONDS = 30.0
# oslo.messaging's defaults for the wait between tries (`rabbit_retry_interval`,
# growing by `rabbit_retry_backoff` up to `rabbit_interval_max`).
RETRY_INTERVAL_SECONDS = 1.0
RETRY_BACKOFF_SECONDS = 2.0
MAX_RETRY_INTERVAL_SECONDS = 30.0
# Failures after which the connection is dropped and a new one tried.
CONNECTION_ERRORS = (OSError, amqp.exceptions.AMQPError)


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    username: str
    password: str
    virtual_host: str


def envelope(event: Event, publisher_id: str, *, message_id: str, unique_id: str,
             timestamp: datetime) -> bytes:
    """The body oslo.messaging's messagingv2 driver publishes for `event`."""
    message = {
        "message_id": message_id,
        "publisher_id": publisher_id,
        "event_type": event.event_type,
        "priority": str(event.priority).upper(),
        "payload": event.payload,
        "timestamp": str(timestamp),
        "_unique_id": unique_id,
    }
    return json.dumps({"oslo.version": "2.0",
                       "oslo.message": json.dumps(message, default=to_primitive)}).encode()


class AmqpSender:
    """Publishes events over one connection, opened on the first batch and
    again after a failure. A batch is published whole, then the broker's
    confirms are awaited once for all its messages; a batch the connection
    failed under is sent again, `settings.retry` more times (-1: for ever)."""

    def __init__(self, settings: NotificationSettings, brokers: list[Broker]) -> None:
        self._settings = settings
        self._brokers = brokers
        self._connection: amqp.Connection | None = None
        self._channel: Any = None
        self._declared: set[str] = set()
        # Delivery tags of the channel: the last one used, those not yet
        # confirmed, and those the broker refused.
        self._tag = 0
        self._unconfirmed: set[int] = set()
        self._refused: set[int] = set()

    def send(self, events: Sequence[Event]) -> list[str | None]:
        messages = [(f"{topic}.{event.priority}", index, self._body(event))
                    for index, event in enumerate(events) for topic in self._settings.topics]
        tries = 0
        interval = RETRY_INTERVAL_SECONDS
        while True:
            try:
                return self._publish(messages, len(events))
            except CONNECTION_ERRORS as exc:
                self._drop()
                if 0 <= self._settings.retry <= tries:
                    return [str(exc) or repr(exc)] * len(events)
            tries += 1
            time.sleep(interval)
            interval = min(interval + RETRY_BACKOFF_SECONDS, MAX_RETRY_INTERVAL_SECONDS)

    def _body(self, event: Event) -> bytes:
        return envelope(event, self._settings.publisher_id, message_id=str(uuid.uuid4()),
                        unique_id=uuid.uuid4().hex,
                        timestamp=datetime.now(UTC).replace(tzinfo=None))

    def _publish(self, messages: list[tuple[str, int, bytes]], count: int
                 ) -> list[str | None]:
        channel = self._open()
        sent_as: dict[int, int] = {}
        for routing_key, index, body in messages:
            if routing_key not in self._declared:
                channel.queue_declare(routing_key, durable=False, auto_delete=False)
                channel.queue_bind(routing_key, CONTROL_EXCHANGE, routing_key)
                self._declared.add(routing_key)
            channel.basic_publish(amqp.Message(body, **PROPERTIES), exchange=CONTROL_EXCHANGE,
                                  routing_key=routing_key)
            self._tag += 1
            self._unconfirmed.add(self._tag)
            sent_as[self._tag] = index
        while self._unconfirmed:
            channel.wait([spec.Basic.Ack, spec.Basic.Nack], timeout=CONFIRM_TIMEOUT_SECONDS)
        reasons: list[str | None] = [None] * count
        for tag in self._refused:
            reasons[sent_as[tag]] = "the broker refused it (nack)"
        self._refused.clear()
        return reasons

    def _confirmed(self, tag: int, multiple: bool, *, refused: bool = False) -> None:
        done = {t for t in self._unconfirmed if t <= tag} if multiple else {tag}
        self._unconfirmed -= done
        if refused:
            self._refused |= done

    def _open(self) -> Any:
        """The channel, connecting (to the first broker that answers) when
        there is none; declares the exchange on each new connection."""
        if self._channel is not None:
            return self._channel
        error: Exception | None = None
        for broker in self._brokers:
            connection = amqp.Connection(
                f"{broker.host}:{broker.port}", userid=broker.username,
                password=broker.password, virtual_host=broker.virtual_host,
                connect_timeout=CONNECT_TIMEOUT_SECONDS)
            try:
                connection.connect()
                channel = connection.channel()
                channel.exchange_declare(CONTROL_EXCHANGE, "topic", durable=False,
                                         auto_delete=False)
                channel.confirm_select()
                channel.events["basic_ack"].add(self._confirmed)
                channel.events["basic_nack"].add(
                    lambda tag, multiple: self._confirmed(tag, multiple, refused=True))
            except CONNECTION_ERRORS as exc:
                error = exc
                connection.collect()
                continue
            self._connection, self._channel = connection, channel
            return channel
        raise error if error is not None else OSError("no RabbitMQ broker to connect to")

    def _drop(self) -> None:
        """Forget a failed connection, closing its socket only."""
        connection, self._connection, self._channel = self._connection, None, None
        self._forget_channel()
        if connection is not None:
            connection.collect()

    def _forget_channel(self) -> None:
        self._declared.clear()
        self._tag = 0
        self._unconfirmed.clear()
        self._refused.clear()

    def close(self) -> None:
        """Close the connection, if any (the sending thread is done)."""
        connection, self._connection, self._channel = self._connection, None, None
        self._forget_channel()
        if connection is None:
            return
        try:
            connection.close()
        except CONNECTION_ERRORS:
            connection.collect()
