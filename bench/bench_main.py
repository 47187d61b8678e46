"""The benchmark's steps, in order; `run.py` calls `run()` once inside the repo's .venv."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import time
import traceback
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import limits
import report
import workload
from common import MB, log

import servers

ServerFactory = Callable[[Path, str], AbstractContextManager[servers.Server]]
FACTORIES: dict[str, ServerFactory] = {"glance": servers.glance, "glint": servers.glint}
RESULTS = servers.WORK / "results.json"


def ensure_payload(size: int) -> tuple[Path, str]:
    """A file of `size` random bytes kept in .work between runs, and its md5."""
    path = servers.WORK / f"payload-{size // (1024 * 1024)}MiB.bin"
    checksum_path = path.with_suffix(".md5")
    if path.exists() and path.stat().st_size == size and checksum_path.exists():
        return path, checksum_path.read_text().strip()
    log(f"writing {size // MB} MB of random payload to {path}")
    md5 = hashlib.md5()
    block_size = 4 * 1024 * 1024
    with path.open("wb") as out:
        for _ in range(size // block_size):
            block = os.urandom(block_size)
            md5.update(block)
            out.write(block)
    checksum_path.write_text(md5.hexdigest() + "\n")
    return path, md5.hexdigest()


def payload_label(size: int) -> str:
    mib = size // (1024 * 1024)
    return f"{mib // 1024} GiB" if mib % 1024 == 0 else f"{mib} MiB"


def sqlite_phase(server: servers.Server, args: argparse.Namespace, payload: Path,
                 md5: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # The machine is shared: measure the upload limit again right beside this server's upload.
    out["bare_pipeline_upload_mb_s"] = limits.bare_pipeline_upload(
        servers.WORK / "run" / "limits", payload, md5, args.rounds)
    log(f"{server.name}: bare pipeline just before: {out['bare_pipeline_upload_mb_s']:.0f} MB/s")
    # And the download limit, right beside this server's downloads.
    out.update(limits.bare_sendfile_download(servers.WORK / "run" / "limits", payload,
                                             args.rounds))
    log(f"{server.name}: bare sendfile just before: "
        f"{out['bare_sendfile_download_mb_s']:.0f} MB/s (httpx "
        f"{out['bare_sendfile_httpx_mb_s']:.0f})")
    log(f"{server.name}: upload + download {payload.stat().st_size // MB} MB x {args.rounds}")
    moved = workload.transfer(server.url, server.pid, payload, md5, args.rounds)
    out.update(upload_mb_s=max(moved.upload_mb_s), download_mb_s=max(moved.download_mb_s),
               download_httpx_mb_s=max(moved.download_httpx_mb_s),
               upload_server_cpu_s_per_gb=min(moved.upload_server_cpu_per_gb),
               upload_runs_mb_s=moved.upload_mb_s, download_runs_mb_s=moved.download_mb_s,
               download_httpx_runs_mb_s=moved.download_httpx_mb_s,
               peak_rss_bytes=moved.peak_rss_bytes, peak_pss_bytes=moved.peak_pss_bytes,
               peak_rss_by_pid=moved.peak_rss_by_pid, rss_samples=moved.rss_samples)
    log(f"{server.name}: upload {out['upload_mb_s']:.0f} MB/s "
        f"({out['upload_server_cpu_s_per_gb']:.2f} server CPU s/GB), download "
        f"{out['download_mb_s']:.0f} MB/s (httpx {out['download_httpx_mb_s']:.0f}), "
        f"peak RSS {moved.peak_rss_bytes / MB:.0f} MB (PSS {moved.peak_pss_bytes / MB:.0f}; "
        f"per process {[round(v / MB) for v in moved.peak_rss_by_pid.values()]})")
    seconds = workload.create_many(server.url, args.images)
    log(f"{server.name}: created {args.images} images in {seconds:.1f} s")
    out["create_images_s"] = seconds
    listed = workload.listing(server.url, args.images, args.list_requests, args.full_runs)
    out.update(asdict(listed))
    log(f"{server.name}: limit=20 p50 {listed.limit20_p50_ms:.2f} ms p99 "
        f"{listed.limit20_p99_ms:.2f} ms; full listing {listed.full_listing_ms:.0f} ms "
        f"in {listed.full_listing_pages} pages")
    out.update(concurrency_phase(server, args))
    return out


def concurrency_phase(server: servers.Server, args: argparse.Namespace) -> dict[str, Any]:
    log(f"{server.name} ({server.database}): {args.clients} clients create+show+delete "
        f"for {args.duration:.0f} s")
    churn = workload.concurrent_churn(server.url, server.pid, args.clients, args.duration)
    log(f"{server.name} ({server.database}): {churn.requests_per_second:.1f} req/s, "
        f"{churn.errors} errors {churn.error_kinds or ''}; CPU used: server "
        f"{churn.server_cpu_s / churn.seconds:.0%}, client {churn.client_cpu_s / churn.seconds:.0%}"
        " of one core")
    return {"concurrent_rps": churn.requests_per_second, "concurrent_errors": churn.errors,
            "concurrent": asdict(churn)}


def _phase(results: dict[str, Any], side: str, db: str, folder: Path,
           body: Callable[[servers.Server], dict[str, Any]]) -> None:
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    log(f"{side} ({db}): starting; load average {load}")
    try:
        with FACTORIES[side](folder, db) as server:
            results[side][db] = body(server)
    except Exception as exc:  # one side failing must not lose the other side's figures
        log(f"{side} ({db}) FAILED: {exc}")
        results[side][db] = {"error": f"{type(exc).__name__}: {exc}",
                             "traceback": traceback.format_exc()}
    finally:
        shutil.rmtree(folder / "images", ignore_errors=True)


def run(args: argparse.Namespace) -> int:
    started = time.time()
    sides = [args.only] if args.only else ["glance", "glint"]
    servers.WORK.mkdir(exist_ok=True)
    if "glance" in sides:
        servers.ensure_glance_venv()
    payload, md5 = ensure_payload(args.size_mib * 1024 * 1024)
    run_dir = servers.WORK / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir()

    load = os.getloadavg()
    if load[0] > 1.0:
        log(f"WARNING: load average is {load[0]:.1f} before starting: something else is using "
            "the CPUs, and the figures will be noisy")
    log("measuring the machine's limits")
    results: dict[str, Any] = {
        "meta": {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "payload_bytes": payload.stat().st_size, "images": args.images,
            "clients": args.clients, "duration_s": args.duration, "rounds": args.rounds,
            "unit": "MB = 10^6 bytes", "load_average_start": load,
        },
        "limits": limits.measure_all(run_dir / "limits", payload, md5, args.rounds),
    }
    for side in sides:
        results[side] = {}
        _phase(results, side, "sqlite", run_dir / f"{side}-sqlite",
               lambda server: sqlite_phase(server, args, payload, md5))
    if not args.skip_mariadb:
        for side in sides:
            _phase(results, side, "mariadb", run_dir / f"{side}-mariadb",
                   lambda server: concurrency_phase(server, args))

    table = report.rows(results, payload_label(payload.stat().st_size), args.images)
    results["table"] = report.as_json(table)
    results["meta"]["seconds"] = time.time() - started
    results["meta"]["load_average_end"] = os.getloadavg()
    RESULTS.write_text(json.dumps(results, indent=2, default=str))
    print()
    print(report.format_table(table))
    print()
    print("Machine limits measured in this run (MB = 10^6 bytes):")
    print(report.format_limits(results["limits"]))
    print()
    failed = [f"{side} ({db})" for side in sides for db, figures in results[side].items()
              if "error" in figures]
    if failed:
        print(f"FAILED phases (see {RESULTS}): {', '.join(failed)}")
    print(f"Results: {RESULTS}  ({results['meta']['seconds']:.0f} s)")
    unmet = [row.metric for row in table if row.met is False]
    return 1 if failed or (args.strict and unmet) else 0
