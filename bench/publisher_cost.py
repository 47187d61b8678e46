#!/usr/bin/env python3
"""CPU per notification of Glint's publisher: `python bench/publisher_cost.py [EVENTS]`.

Sends EVENTS (default 5,000) image.update notifications with an image's
payload to the machine's RabbitMQ (127.0.0.1:5672, guest) on a topic of its
own, whose queue it deletes afterwards, through each sender: oslo.messaging's
Notifier (`OsloSender`) and the thin AMQP sender (`AmqpSender`). For each it
prints the sending thread's CPU per event handed over one at a time and 100 at
a time, then the process CPU per event of a whole Publisher (emitting,
queueing and sending) with that sender. Add `--profile` for cProfile's top
functions of the one-at-a-time sends.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

import amqp  # noqa: E402

from glint.events.amqp_sender import AmqpSender  # noqa: E402
from glint.events.publisher import Event, OsloSender, Publisher, Sender  # noqa: E402
from glint.events.senders import plain_rabbit  # noqa: E402
from glint.settings import NotificationSettings  # noqa: E402

URL = "rabbit://guest:guest@127.0.0.1:5672/"
BATCH = 100


def payload(number: int) -> dict[str, object]:
    """An image.update payload of the usual size."""
    return {"id": str(uuid.uuid4()), "name": f"image-{number}", "status": "active",
            "created_at": "2026-12-06T12:00:00Z", "updated_at": "2026-12-06T12:00:00Z",
            "min_disk": 0, "min_ram": 0, "protected": False,
            "checksum": "d41d8cd98f00b204e9800998ecf8427e", "owner": "a" * 32,
            "disk_format": "raw", "container_format": "bare", "size": 1000,
            "virtual_size": None, "is_public": False, "visibility": "shared",
            "properties": {"os_hash_algo": "sha512", "os_hash_value": "f" * 128},
            "tags": ["a"], "deleted": False, "deleted_at": None}


def per_event(seconds: float, count: int) -> str:
    return f"{seconds / count * 1e6:7.1f} µs"


def measure(name: str, make: Callable[[], Sender], settings: NotificationSettings, count: int,
            profile: bool) -> None:
    events = [Event("image.update", payload(n)) for n in range(count)]
    sender = make()
    try:
        sender.send(events[:1])  # connected outside the measure
        profiler = cProfile.Profile() if profile else None
        started = time.thread_time()
        if profiler:
            profiler.enable()
        for event in events:
            sender.send([event])
        if profiler:
            profiler.disable()
        alone = time.thread_time() - started
        started = time.thread_time()
        for first in range(0, count, BATCH):
            sender.send(events[first:first + BATCH])
        batched = time.thread_time() - started
    finally:
        sender.close()
    publisher = Publisher(settings, sender=make)
    publisher.start()
    publisher.emit("image.update", lambda: payload(0))
    while publisher.counts.sent < 1:
        time.sleep(0.01)
    started = time.process_time()
    for number in range(count):
        publisher.emit("image.update", lambda n=number: payload(n))  # type: ignore[misc]
    while publisher.counts.sent < count + 1:
        time.sleep(0.001)
    whole = time.process_time() - started
    publisher.stop()
    print(f"{name:12} sender CPU/event: {per_event(alone, count)} one at a time, "
          f"{per_event(batched, count)} by {BATCH}; publisher CPU/event: "
          f"{per_event(whole, count)}")
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("events", type=int, nargs="?", default=5000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    topic = f"glint-cost-{uuid.uuid4().hex[:8]}"
    settings = NotificationSettings(drivers=("messagingv2",), topics=(topic,),
                                    transport_url=URL)
    brokers = plain_rabbit(settings) or []
    try:
        measure("oslo", lambda: OsloSender(settings), settings, args.events, args.profile)
        measure("amqp", lambda: AmqpSender(settings, brokers), settings, args.events,
                args.profile)
    finally:
        connection = amqp.Connection("127.0.0.1:5672", userid="guest", password="guest")
        connection.connect()
        connection.channel().queue_delete(f"{topic}.info")
        connection.close()


if __name__ == "__main__":
    main()
