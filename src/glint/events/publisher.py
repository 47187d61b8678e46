"""Sending notifications without making any request wait for the bus.

A service emits an event after its change is committed: the payload is
built at once (a snapshot of the change) and put on a bounded in-memory
queue, which costs the request a few microseconds whatever the state of the
message bus. One daemon thread per process takes the events in order and
sends each as oslo.messaging would (`[oslo_messaging_notifications]`;
glint.events.senders picks a thin AMQP sender or oslo.messaging itself), so
consumers see one process's events in the order of its changes. An event
that could not be sent, or found the queue full, is logged and counted
(`Publisher.counts`); nothing is ever retried from here beyond
oslo.messaging's own `retry`.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from glint.events.payloads import Payload
from glint.settings import NotificationSettings

log = logging.getLogger(__name__)

# Where oslo.messaging logs a notification it could not send (it does not raise).
OSLO_NOTIFY_LOGGERS = ("oslo_messaging.notify.messaging", "oslo_messaging.notify.notifier")
# Glance's exchange (oslo.messaging's control_exchange), which its consumers bind to.
CONTROL_EXCHANGE = "glance"
# How long stopping waits for the events still queued to go out.
STOP_WAIT_SECONDS = 5.0
# Most events handed to the sender at once (those that queued up meanwhile).
BATCH_SIZE = 100


class Priority(StrEnum):
    INFO = "info"
    ERROR = "error"


@dataclass(frozen=True)
class Event:
    event_type: str
    payload: Payload | str
    priority: Priority = Priority.INFO


@dataclass(frozen=True)
class Counts:
    sent: int
    failed: int
    dropped: int


class Sender(Protocol):
    """Sends events in their order; for each, None when it was sent, or why
    it was not."""

    def send(self, events: Sequence[Event]) -> list[str | None]: ...

    def close(self) -> None: ...


def is_disabled(event_type: str, disabled: tuple[str, ...]) -> bool:
    """Glance's `disabled_notifications`: an event type is off when it, or its
    group (the part before the first dot: `image`, `metadef_tag`), is listed.
    As in Glance's code, `image.member` (which its help text calls a group)
    matches no event type: `image` disables the member events too."""
    group = event_type.split(".", 1)[0]
    return event_type in disabled or group in disabled


class Publisher:
    """The per-process notifier services emit to (see the module docstring)."""

    def __init__(self, settings: NotificationSettings,
                 sender: Callable[[], Sender] | None = None) -> None:
        self._settings = settings
        self._make_sender = sender or (lambda: _default_sender(settings))
        self._queue: queue.Queue[Event | None] = queue.Queue(maxsize=settings.queue_size)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._sent = 0
        self._failed = 0
        self._dropped = 0

    def wants(self, event_type: str) -> bool:
        """Whether an event of this type would be sent (cheap: call it before
        building a payload)."""
        return self._thread is not None and not is_disabled(event_type,
                                                            self._settings.disabled)

    def emit(self, event_type: str, payload: Callable[[], Payload | str],
             priority: Priority = Priority.INFO) -> None:
        """Queue an event; `payload` is built only when the event is wanted.

        Never blocks and never raises: a full queue drops the event, counted
        and logged."""
        if not self.wants(event_type):
            return
        try:
            self._queue.put_nowait(Event(event_type, payload(), priority))
        except queue.Full:
            with self._lock:
                self._dropped += 1
                dropped = self._dropped
            log.warning("notification %s dropped: %d notifications are waiting to be sent "
                        "(%d dropped so far)", event_type, self._settings.queue_size, dropped)

    @property
    def counts(self) -> Counts:
        with self._lock:
            return Counts(sent=self._sent, failed=self._failed, dropped=self._dropped)

    def start(self) -> None:
        """Start the sending thread when a driver other than noop is configured.
        Raises ValueError for a transport URL oslo.messaging cannot use."""
        if not self._settings.enabled or self._thread is not None:
            return
        sender = self._make_sender()
        self._thread = threading.Thread(target=self._run, args=(sender,),
                                        name="glint-notifications", daemon=True)
        self._thread.start()

    def stop(self, wait: float = STOP_WAIT_SECONDS) -> None:
        """Send what is queued, for at most `wait` seconds, then stop."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        try:
            self._queue.put(None, timeout=wait)
        except queue.Full:
            log.warning("stopping with %d notifications not sent", self._queue.qsize())
            return
        thread.join(wait)
        if thread.is_alive():
            log.warning("stopping with notifications still being sent")

    def _run(self, sender: Sender) -> None:
        """Send the events in order: one alone after waiting for it, then all
        those that queued up while it was being sent, in batches (a sender can
        then wait for the bus once for many)."""
        try:
            batch = [self._queue.get()]
            while batch[-1] is not None:
                self._send(sender, batch)
                batch = self._waiting() or [self._queue.get()]
            self._send(sender, batch[:-1])
        finally:
            sender.close()

    def _waiting(self) -> list[Event | None]:
        """The events already queued, up to BATCH_SIZE, ending at a stop (None)."""
        taken: list[Event | None] = []
        while len(taken) < BATCH_SIZE and (not taken or taken[-1] is not None):
            try:
                taken.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return taken

    def _send(self, sender: Sender, batch: Sequence[Event | None]) -> None:
        events = [event for event in batch if event is not None]
        if not events:
            return
        try:
            reasons = sender.send(events)
        except Exception as exc:  # the sending thread must outlive any failure
            log.exception("notifications %s: unexpected failure",
                          ", ".join(event.event_type for event in events))
            reasons = [repr(exc)] * len(events)
        for event, reason in zip(events, reasons, strict=True):
            with self._lock:
                if reason is None:
                    self._sent += 1
                    continue
                self._failed += 1
                failed = self._failed
            log.error("notification %s not sent (%d not sent so far): %s", event.event_type,
                      failed, reason)


def _default_sender(settings: NotificationSettings) -> Sender:
    # Imported here: the senders module builds on this one's Event and Sender.
    from glint.events.senders import sender_for

    return sender_for(settings)


class _FailureWatch(logging.Filter):
    """Takes the error oslo.messaging logs (with a traceback and the whole
    payload) instead of raising when it could not send, in the sending thread:
    the failure is noted and that record dropped; Publisher logs one line."""

    def __init__(self) -> None:
        super().__init__()
        self.thread: int | None = None
        self.failure: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.thread != self.thread or record.levelno < logging.ERROR:
            return True
        error = record.exc_info[1] if record.exc_info else None
        self.failure = str(error) if error is not None else record.getMessage().split(".")[0]
        return False


class OsloSender:
    """Sends through an oslo.messaging Notifier built from the settings.

    oslo.messaging reads the config files itself, for its driver's own
    sections (`[oslo_messaging_rabbit]`); Glint's parsed values override
    theirs."""

    def __init__(self, settings: NotificationSettings) -> None:
        import oslo_messaging
        from oslo_config import cfg

        # Glance's exchange: a library default, set process-wide as Glance does.
        oslo_messaging.set_transport_defaults(CONTROL_EXCHANGE)
        conf = cfg.ConfigOpts()
        conf(args=[], project="glance", default_config_files=[str(p) for p in
                                                              settings.config_files])
        url = settings.transport_url or settings.default_transport_url
        try:
            transport = oslo_messaging.get_notification_transport(conf, url=url)
        except oslo_messaging.InvalidTransportURL as exc:
            raise ValueError(f"[oslo_messaging_notifications] transport_url: {exc}") from exc
        self._transport = transport
        # Several drivers can only be given through the configuration (which
        # get_notification_transport has registered).
        conf.set_override("driver", list(settings.drivers), group="oslo_messaging_notifications")
        self._notifier: Any = oslo_messaging.Notifier(
            transport, publisher_id=settings.publisher_id, topics=list(settings.topics),
            retry=settings.retry,
        )
        self._watch = _FailureWatch()
        for name in OSLO_NOTIFY_LOGGERS:
            logging.getLogger(name).addFilter(self._watch)

    def send(self, events: Sequence[Event]) -> list[str | None]:
        return [self._send_one(event) for event in events]

    def _send_one(self, event: Event) -> str | None:
        self._watch.thread = threading.get_ident()
        self._watch.failure = None
        if event.priority == Priority.ERROR:
            self._notifier.error({}, event.event_type, event.payload)
        else:
            self._notifier.info({}, event.event_type, event.payload)
        return self._watch.failure

    def close(self) -> None:
        for name in OSLO_NOTIFY_LOGGERS:
            logging.getLogger(name).removeFilter(self._watch)
        self._transport.cleanup()
