#!/usr/bin/env python3
"""Benchmark Glint against upstream Glance 33 (under uWSGI) in one run: `python bench/run.py`.

Installs Glance into bench/.work/glance-venv once, measures the machine's limits, runs the same
workload against both servers, prints the table and writes bench/.work/results.json.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
REPO_VENV = REPO / ".venv"


def _bootstrap() -> None:
    """Run inside the repo's .venv (created with `pip install -e .` if missing)."""
    if not (REPO_VENV / "bin" / "glint").exists():
        print("[bench] creating .venv with `pip install -e .`", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(REPO_VENV)], check=True)
        subprocess.run([str(REPO_VENV / "bin" / "pip"), "install", "-q", "-e", str(REPO)],
                       check=True)
    if Path(sys.prefix).resolve() != REPO_VENV.resolve():
        python = str(REPO_VENV / "bin" / "python")
        os.execv(python, [python, str(Path(__file__).resolve()), *sys.argv[1:]])


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Glint vs upstream Glance 33 benchmark.")
    parser.add_argument("--only", choices=["glance", "glint"],
                        help="run one server only (no ratios)")
    parser.add_argument("--size-mib", type=int, default=1024, help="upload/download size")
    parser.add_argument("--images", type=int, default=2000, help="images for the listings")
    parser.add_argument("--list-requests", type=int, default=200,
                        help="timed GET ?limit=20 requests")
    parser.add_argument("--full-runs", type=int, default=5,
                        help="full paginated listings (median kept)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=20.0,
                        help="seconds of create+show+delete")
    parser.add_argument("--rounds", type=int, default=2,
                        help="tries of each transfer and limit (best kept)")
    parser.add_argument("--skip-mariadb", action="store_true")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 64 MiB, 200 images, 5 s, 1 round")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is not met")
    args = parser.parse_args()
    if args.quick:
        args.size_mib, args.images, args.duration, args.rounds = 64, 200, 5.0, 1
        args.list_requests, args.full_runs = 50, 2
    return args


def main() -> int:
    _bootstrap()
    # Imported only now: they need httpx, which the repo's .venv has.
    from bench_main import run

    return run(_arguments())


if __name__ == "__main__":
    sys.exit(main())
