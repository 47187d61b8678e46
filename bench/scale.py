#!/usr/bin/env python3
"""Listing at scale: `python bench/scale.py` (or `make bench-scale`).

For each database (SQLite, MariaDB, PostgreSQL) and each size (2,000 and 50,000
images), writes the images straight into a fresh database with bulk SQL
(tests/db/bulk_images.py: a few properties and tags each, soft-deleted rows,
own, public and shared images of a project), starts a real `glint serve` on
it (2 workers) and times `GET /v2/images?limit=20` cases as an admin and as a
project member, in turns, request by request. Prints p50/p99 per case and
size and the ratio of the 50,000-image p50 to the 2,000-image one (target:
at most 2). `--explain` also prints how each database reads the tables for
each case. Results go to bench/.work/scale.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from sqlalchemy import create_engine  # noqa: E402
from tests.db import bulk_images  # noqa: E402
from tests.db.plans import explain, listing_statement  # noqa: E402
from tests.servers import database, glint_server  # noqa: E402

from glint.db import schema  # noqa: E402

TARGET_RATIO = 2.0
ADMIN_PROJECT = "a" * 32
# (name, query parameters); "{deep}" and "{middle}" are replaced by images nine
# tenths and half way down the member's default listing (the admin sees them too).
CASES = [
    ("default", []),
    ("deep marker", [("marker", "{deep}")]),
    ("middle marker", [("marker", "{middle}")]),
    ("tag=golden", [("tag", "golden")]),
    ("os_distro=ubuntu", [("os_distro", "ubuntu")]),
    ("visibility=public", [("visibility", "public")]),
    ("status=queued", [("status", "queued")]),
    ("sort_key=name", [("sort_key", "name")]),
]
CALLERS = {"admin": (ADMIN_PROJECT, "admin,member,reader"),
           "member": (bulk_images.MEMBER_PROJECT, "member,reader")}


@dataclass
class Timing:
    samples_ms: list[float] = field(default_factory=list)
    images: int = 0

    @property
    def p50(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p99(self) -> float:
        ordered = sorted(self.samples_ms)
        return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def _log(message: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _load() -> str:
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())


def _client(url: str, caller: str) -> httpx.Client:
    project, roles = CALLERS[caller]
    return httpx.Client(base_url=url, timeout=60, headers={
        "X-Identity-Status": "Confirmed", "X-Project-Id": project,
        "X-User-Id": f"user-{caller}", "X-Roles": roles})


def _params(case: list[tuple[str, str]], built: bulk_images.BuiltImages) -> list[tuple[str, str]]:
    markers = {"deep": built.deep_marker, "middle": built.middle_marker}
    return [("limit", "20"), *((k, v.format(**markers)) for k, v in case)]


def _time_cases(url: str, built: bulk_images.BuiltImages, requests: int,
                warmup: int) -> dict[str, Timing]:
    """Every (caller, case) once per turn, `warmup` untimed turns then `requests` timed."""
    timings = {f"{caller} {name}": Timing() for caller in CALLERS for name, _ in CASES}
    clients = {caller: _client(url, caller) for caller in CALLERS}
    try:
        for turn in range(warmup + requests):
            for caller, client in clients.items():
                for name, case in CASES:
                    started = time.perf_counter()
                    response = client.get("/v2/images", params=_params(case, built))
                    elapsed = (time.perf_counter() - started) * 1000
                    if response.status_code != 200:
                        raise RuntimeError(f"{caller} {name}: {response.status_code} "
                                           f"{response.text[:300]}")
                    if turn >= warmup:
                        timing = timings[f"{caller} {name}"]
                        timing.samples_ms.append(elapsed)
                        timing.images = len(response.json()["images"])
    finally:
        for client in clients.values():
            client.close()
    return timings


def _plans(url: str, built: bulk_images.BuiltImages) -> dict[str, str]:
    engine = create_engine(url)
    try:
        plans = {}
        for caller, (project, _) in CALLERS.items():
            for name, case in CASES:
                statement, parameters = listing_statement(
                    engine, _params(case, built), project_id=project,
                    is_admin=caller == "admin")
                plan = explain(engine, statement, parameters)
                reads = ", ".join(f"{a.table} by {a.index or 'FULL SCAN'}"
                                  + (" (range)" if a.detail == "range" else "")
                                  for a in plan.accesses)
                plans[f"{caller} {name}"] = reads + ("; sorts" if plan.sorts else "")
        return plans
    finally:
        engine.dispose()


def _one_size(backend: str, size: int, folder: Path, args: argparse.Namespace) -> dict[str, object]:
    with database(backend, folder) as url:
        engine = create_engine(url)
        try:
            schema.upgrade(engine)
            started = time.perf_counter()
            built = bulk_images.build(engine, size)
            _log(f"{backend} {size:,}: wrote {built.live:,} live + {built.deleted:,} deleted "
                 f"images in {time.perf_counter() - started:.1f} s; the member sees "
                 f"{len(built.member_visible):,}")
        finally:
            engine.dispose()
        plans = _plans(url, built) if args.explain else {}
        with glint_server(folder / "server", url, flavor="trusted", workers=args.workers) as server:
            _log(f"{backend} {size:,}: timing {args.requests} turns; load average {_load()}")
            timings = _time_cases(server.url, built, args.requests, args.warmup)
    return {"timings": timings, "plans": plans, "load": _load()}


def _report(results: dict[str, dict[int, dict[str, object]]], sizes: list[int]) -> list[str]:
    small, large = sizes[0], sizes[-1]
    header = (f"{'database':<11}{'case':<27}{'p50 ' + format(small, ','):>11}"
              f"{'p50 ' + format(large, ','):>12}{'ratio':>7}{'p99 ' + format(small, ','):>11}"
              f"{'p99 ' + format(large, ','):>12}  target <= {TARGET_RATIO:.1f}")
    lines = [header, "-" * len(header)]
    for backend, by_size in results.items():
        for key in by_size[small]["timings"]:  # type: ignore[attr-defined]
            a: Timing = by_size[small]["timings"][key]  # type: ignore[index]
            b: Timing = by_size[large]["timings"][key]  # type: ignore[index]
            ratio = b.p50 / a.p50
            lines.append(f"{backend:<11}{key:<27}{a.p50:>11.2f}{b.p50:>12.2f}{ratio:>7.2f}"
                         f"{a.p99:>11.2f}{b.p99:>12.2f}  {'met' if ratio <= TARGET_RATIO else 'NOT MET'}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,mariadb,postgresql")
    parser.add_argument("--sizes", default="2000,50000")
    parser.add_argument("--requests", type=int, default=200, help="timed turns over all cases")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--explain", action="store_true", help="print each case's plan")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a ratio is over 2")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    work = BENCH / ".work"
    work.mkdir(exist_ok=True)
    started = time.time()
    _log(f"load average at start: {_load()}")
    results: dict[str, dict[int, dict[str, object]]] = {}
    with tempfile.TemporaryDirectory(dir=work) as scratch:
        for backend in args.backends.split(","):
            results[backend] = {}
            for size in sizes:
                folder = Path(scratch) / f"{backend}-{size}"
                folder.mkdir()
                results[backend][size] = _one_size(backend, size, folder, args)
    lines = _report(results, sizes)
    print("\n" + "\n".join(lines))
    if args.explain:
        for backend, by_size in results.items():
            print(f"\nPlans on {backend} (how each table is read):")
            for key in by_size[sizes[0]]["plans"]:  # type: ignore[attr-defined]
                for size in sizes:
                    print(f"  {key:<26} {size:>7,}: {by_size[size]['plans'][key]}")  # type: ignore[index]
    document = {
        "meta": {"seconds": time.time() - started, "sizes": sizes, "requests": args.requests,
                 "load_average_end": os.getloadavg(), "unit": "ms"},
        "results": {backend: {str(size): {
            "load_average": figures["load"], "plans": figures["plans"],
            "timings": {key: {"p50": t.p50, "p99": t.p99, "images": t.images,
                              "samples": asdict(t)["samples_ms"]}
                        for key, t in figures["timings"].items()},  # type: ignore[attr-defined]
        } for size, figures in by_size.items()} for backend, by_size in results.items()},
        "table": lines,
    }
    (work / "scale.json").write_text(json.dumps(document, indent=1))
    print(f"\nResults: {work / 'scale.json'} ({time.time() - started:.0f} s)")
    unmet = [line for line in lines[2:] if line.endswith("NOT MET")]
    return 1 if args.strict and unmet else 0


if __name__ == "__main__":
    sys.exit(main())
