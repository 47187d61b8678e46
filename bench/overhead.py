#!/usr/bin/env python3
"""What storage quotas and notifications cost `make bench`'s 16-client figure:
`python bench/overhead.py`.

Two Glint servers started as `make bench` starts them (bench/servers.py: 2 workers, file store,
no auth), on SQLite and then on MariaDB: one plain, one with `[DEFAULT] user_storage_quota`
(1TB: never refuses) and notifications sent to the machine's RabbitMQ (`messagingv2`) on a topic
of this run's own, where a consumer counts them after each turn (a consumer of the
bench's own, running during the turn, would take CPU from the server on this 2-CPU
machine; a deployment's consumer runs elsewhere). Both run `make bench`'s concurrent
create + show + delete workload (bench/workload.py) in turns, and the run prints each side's
req/s and the ratio on/off (target >= 0.90). It fails when a request was refused, when fewer
notifications arrived than the requests made, or when the server logged one not sent or
dropped. Results go to bench/.work/overhead.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import statistics
import subprocess
import sys
import time
import traceback
import uuid
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

import workload  # noqa: E402
from common import log  # noqa: E402
from tests.notifications import RABBIT_URL, Consumer, consuming  # noqa: E402

import servers  # noqa: E402

TARGET = 0.90
RESULTS = servers.WORK / "overhead.json"
SIDES = ("off", "on")
# Each create + show + delete sends image.create and image.delete.
NOTIFIED = {"POST": "image.create", "DELETE": "image.delete"}
# What Glint's notifier logs when a notification does not go out (glint.events.publisher).
LOST_MARKS = ("not sent", "dropped")
DRAIN_TIMEOUT = 120.0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=20.0,
                        help="seconds of create+show+delete per side and round")
    parser.add_argument("--rounds", type=int, default=3,
                        help="turns of each side, alternating which goes first (median kept)")
    parser.add_argument("--quota", default="1TB", help="user_storage_quota of the 'on' side")
    parser.add_argument("--skip-mariadb", action="store_true")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 3 s, one round")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 if the ratio misses the target")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.rounds = 3.0, 1
    return args


def _extra(side: str, args: argparse.Namespace, topic: str) -> dict[str, dict[str, object]]:
    """glint-api.conf options of a side: none for `off`."""
    if side == "off":
        return {}
    return {
        "DEFAULT": {"user_storage_quota": args.quota, "transport_url": RABBIT_URL},
        "oslo_messaging_notifications": {"driver": "messagingv2", "topics": topic},
    }


def _arrived(consumer: Consumer, expected: Counter[str]) -> tuple[Counter[str], float]:
    """Take notifications from `consumer` until `expected` came (or nothing more does);
    return those taken by type, and the seconds waited for them after the workload."""
    started = time.perf_counter()
    got = Counter[str]()
    deadline = started + DRAIN_TIMEOUT
    while not got >= expected:
        try:
            received = consumer.received.get(timeout=max(0.1, deadline - time.perf_counter()))
        except queue.Empty:
            break
        got[received.event_type] += 1
    waited = time.perf_counter() - started
    # Anything more than expected would be counted too: give stragglers a moment.
    while True:
        try:
            got[consumer.received.get(timeout=1.0).event_type] += 1
        except queue.Empty:
            return got, waited


def _lost_lines(log_path: Path) -> list[str]:
    lines = log_path.read_text(errors="replace").splitlines() if log_path.exists() else []
    return [line for line in lines if any(mark in line for mark in LOST_MARKS)]


def _broker_pid() -> int | None:
    """The machine's RabbitMQ (its Erlang VM), to report the CPU it used; None if not found."""
    found = subprocess.run(["pgrep", "-f", "beam.smp.*rabbit"], capture_output=True, text=True)
    pids = found.stdout.split()
    return int(pids[0]) if pids else None


def _cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _turn(server: servers.Server, side: str, args: argparse.Namespace,
          topic: str) -> dict[str, Any]:
    """One run of the workload against `server`; for `on`, the notifications it caused,
    taken from the queue after the workload."""
    broker = _broker_pid()
    broker_before = _cpu_seconds(broker)
    churn = workload.concurrent_churn(server.url, server.pid, args.clients, args.duration)
    broker_cpu = _cpu_seconds(broker) - broker_before
    out: dict[str, Any] = asdict(churn)
    out["broker_cpu_s"] = broker_cpu
    problems: list[str] = []
    if churn.errors:
        problems.append(f"{churn.errors} requests failed or were refused: {churn.error_kinds}")
    line = (f"{side} ({server.database}): {churn.requests_per_second:.1f} req/s, "
            f"{churn.errors} errors; CPU used: server {churn.server_cpu_s / churn.seconds:.0%}, "
            f"client {churn.client_cpu_s / churn.seconds:.0%}, RabbitMQ "
            f"{broker_cpu / churn.seconds:.0%} of one core")
    if side == "on":
        # Every loop is create + show + delete, each sending one notification on success.
        loops = churn.requests // 3
        expected = Counter({event: loops for event in NOTIFIED.values()})
        with consuming(topic) as consumer:
            got, waited = _arrived(consumer, expected)
        out.update(notifications_expected=dict(expected), notifications_received=dict(got),
                   notifications_drain_s=waited)
        line += f"; notifications {got.total()} of {expected.total()} ({waited:.1f} s after)"
        if got != expected:
            problems.append(f"notifications: expected {dict(expected)}, received {dict(got)}")
    log(line)
    out["problems"] = problems
    return out


def _database(db: str, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Both sides on `db`, running at once, taking turns at the workload."""
    topic = f"glint-bench-overhead-{uuid.uuid4().hex[:12]}"
    turns: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
    with consuming(topic):
        pass  # the topic's queue now exists: what is sent while nobody consumes waits there
    with servers.glint(folder / f"off-{db}", db, name="glint_off") as off, \
            servers.glint(folder / f"on-{db}", db, extra=_extra("on", args, topic),
                          name="glint_on") as on:
        started = {"off": off, "on": on}
        for number in range(args.rounds):
            order = SIDES if number % 2 == 0 else SIDES[::-1]
            for side in order:
                turns[side].append(_turn(started[side], side, args, topic))
        lost = _lost_lines(on.log)
    rates = {side: statistics.median(t["requests_per_second"] for t in turns[side])
             for side in SIDES}
    problems = [problem for side in SIDES for t in turns[side] for problem in t["problems"]]
    if lost:
        problems.append(f"the 'on' server logged {len(lost)} lost notifications: {lost[:3]}")
    return {"off_rps": rates["off"], "on_rps": rates["on"],
            "ratio": rates["on"] / rates["off"] if rates["off"] else None,
            "turns": turns, "problems": problems}


def _table(results: dict[str, Any]) -> str:
    lines = [f"{'database':<10}{'off req/s':>11}{'on req/s':>10}{'on/off':>8}  target"
             f"{'':<6}met"]
    for db, figures in results["databases"].items():
        if "error" in figures:
            lines.append(f"{db:<10}{'FAILED':>11}")
            continue
        ratio = figures["ratio"]
        met = "met" if ratio is not None and ratio >= TARGET else "NOT met"
        shown = f"{ratio:.2f}" if ratio is not None else "-"
        lines.append(f"{db:<10}{figures['off_rps']:>11.1f}{figures['on_rps']:>10.1f}"
                     f"{shown:>8}  >= {TARGET:.2f}  {met}")
    return "\n".join(lines)


def main() -> int:
    args = _arguments()
    servers.WORK.mkdir(exist_ok=True)
    folder = servers.WORK / "run" / "overhead"
    shutil.rmtree(folder, ignore_errors=True)
    load = os.getloadavg()
    if load[0] > 1.0:
        log(f"WARNING: load average is {load[0]:.1f} before starting: something else is using "
            "the CPUs, and the figures will be noisy")
    results: dict[str, Any] = {
        "meta": {"clients": args.clients, "duration_s": args.duration, "rounds": args.rounds,
                 "quota": args.quota, "load_average_start": load, "target": TARGET},
        "databases": {},
    }
    for db in ("sqlite",) if args.skip_mariadb else ("sqlite", "mariadb"):
        log(f"{db}: {args.clients} clients create+show+delete for {args.duration:.0f} s, "
            f"{args.rounds} rounds per side; load average {os.getloadavg()[0]:.1f}")
        try:
            results["databases"][db] = _database(db, args, folder)
        except Exception as exc:  # one database failing must not lose the other's figures
            log(f"{db} FAILED: {exc}")
            results["databases"][db] = {"error": f"{type(exc).__name__}: {exc}",
                                        "traceback": traceback.format_exc()}
    results["meta"]["load_average_end"] = os.getloadavg()
    RESULTS.write_text(json.dumps(results, indent=2, default=str))
    print()
    print(_table(results))
    print()
    failed = {db: figures.get("error") or figures["problems"]
              for db, figures in results["databases"].items()
              if "error" in figures or figures["problems"]}
    for db, problem in failed.items():
        print(f"FAILED {db}: {problem}")
    print(f"Results: {RESULTS}")
    unmet = [db for db, figures in results["databases"].items()
             if "error" not in figures and (figures["ratio"] or 0) < TARGET]
    return 1 if failed or (args.strict and unmet) else 0


if __name__ == "__main__":
    sys.exit(main())
