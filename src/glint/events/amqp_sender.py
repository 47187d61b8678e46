"""A thin messagingv2 sender on py-amqp, for the plain RabbitMQ set-up.

oslo.messaging's Notifier spends most of each notification's CPU in its own
layers (driver lookup, connection pool, kombu's `ensure` and producer), some
200 µs per event against the 90 µs the AMQP publish itself costs. When the
transport is a plain `rabbit://` URL and no `[oslo_messaging_rabbit]` option
is set, this sender puts on the wire what oslo.messaging's rabbit driver
would: the same exchange (`glance`, topic, not durable), the same default
queue per routing key (`<topic>.<priority>`), the same AMQP properties and
the same body, `{"oslo.version": "2.0", "oslo.message": "<JSON message>"}`
with the message's fields in oslo.messaging's order. Each publish waits for
the broker's confirm, as oslo.messaging's does. Any other set-up keeps
oslo.messaging (`publisher.OsloSender`).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import amqp
from oslo_serialization.jsonutils import to_primitive

from glint.events.publisher import CONTROL_EXCHANGE, Event, NotSent
from glint.settings import NotificationSettings

# What oslo.messaging's rabbit driver (through kombu) sets on each notification.
PROPERTIES: dict[str, Any] = {"content_type": "application/json", "content_encoding": "utf-8",
                              "application_headers": {}, "delivery_mode": 2, "priority": 0}
# oslo.messaging's defaults: rabbit's connect timeout, and the wait between
# tries (`rabbit_retry_interval`, growing by `rabbit_retry_backoff` up to 30 s).
CONNECT_TIMEOUT_SECONDS = 5.0
CONFIRM_TIMEOUT_SECONDS = 30.0
RETRY_INTERVAL_SECONDS = 1.0
RETRY_BACKOFF_SECONDS = 2.0
MAX_RETRY_INTERVAL_SECONDS = 30.0
# Failures after which the connection is dropped and a new one tried.
CONNECTION_ERRORS = (OSError, amqp.exceptions.AMQPError, amqp.exceptions.MessageNacked)


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
    """Publishes each event to every topic of the settings over one
    connection, opened on the first event and again after a failure; tries
    `settings.retry` more times (-1: for ever) before raising NotSent."""

    def __init__(self, settings: NotificationSettings, brokers: list[Broker]) -> None:
        self._settings = settings
        self._brokers = brokers
        self._connection: amqp.Connection | None = None
        self._channel: Any = None
        self._declared: set[str] = set()

    def send(self, event: Event) -> None:
        body = envelope(event, self._settings.publisher_id, message_id=str(uuid.uuid4()),
                        unique_id=uuid.uuid4().hex,
                        timestamp=datetime.now(UTC).replace(tzinfo=None))
        for topic in self._settings.topics:
            self._publish(f"{topic}.{event.priority}", body)

    def _publish(self, routing_key: str, body: bytes) -> None:
        tries = 0
        interval = RETRY_INTERVAL_SECONDS
        while True:
            try:
                channel = self._open()
                if routing_key not in self._declared:
                    channel.queue_declare(routing_key, durable=False, auto_delete=False)
                    channel.queue_bind(routing_key, CONTROL_EXCHANGE, routing_key)
                    self._declared.add(routing_key)
                channel.basic_publish(amqp.Message(body, **PROPERTIES), exchange=CONTROL_EXCHANGE,
                                      routing_key=routing_key,
                                      confirm_timeout=CONFIRM_TIMEOUT_SECONDS)
                return
            except CONNECTION_ERRORS as exc:
                self._drop()
                if 0 <= self._settings.retry <= tries:
                    raise NotSent(str(exc) or repr(exc)) from exc
            tries += 1
            time.sleep(interval)
            interval = min(interval + RETRY_BACKOFF_SECONDS, MAX_RETRY_INTERVAL_SECONDS)

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
                connect_timeout=CONNECT_TIMEOUT_SECONDS, confirm_publish=True)
            try:
                connection.connect()
                channel = connection.channel()
                channel.exchange_declare(CONTROL_EXCHANGE, "topic", durable=False,
                                         auto_delete=False)
            except CONNECTION_ERRORS as exc:
                error = exc
                connection.collect()
                continue
            self._connection, self._channel = connection, channel
            return channel
        assert error is not None
        raise error

    def _drop(self) -> None:
        """Forget a failed connection, closing its socket only."""
        connection, self._connection, self._channel = self._connection, None, None
        self._declared.clear()
        if connection is not None:
            connection.collect()

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        self._declared.clear()
        if connection is None:
            return
        try:
            connection.close()
        except CONNECTION_ERRORS:
            connection.collect()
