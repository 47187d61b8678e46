"""`glint replicate livecopy` throughput against the target's own upload speed.

Three `glint serve` (SQLite, file store, 2 workers each): N images of SIZE MiB are uploaded to
the first (the upload speed of a Glint like the targets), then copied into the second with one
worker and into the third with two. Figures: MB/s of the upload, of each copy (the replicator's
own count: bytes copied over the copy's time, process start excluded) and the ratio
copy / upload; plus the replicate process's peak RSS.

    .venv/bin/python bench/replication.py [--images 10] [--size-mib 256]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from common import MB, RssSampler, log  # noqa: E402
from tests.servers import GLINT, GlintServer, glint_server  # noqa: E402

from glint.client.images import ImageClient  # noqa: E402

MiB = 1 << 20
COPIED = re.compile(r"(\d+) bytes copied in ([\d.]+) s")


def payload(size: int, seed: int) -> Iterator[bytes]:
    block = os.urandom(4 * MiB)
    for index in range(size // len(block)):
        yield seed.to_bytes(4, "big") + index.to_bytes(8, "big") + block[12:]


def upload_all(server: GlintServer, images: int, size: int) -> float:
    """Upload the images one after the other; MB/s over the whole."""
    with ImageClient(server.url) as client:
        started = time.monotonic()
        for seed in range(images):
            image = client.create({"name": f"big-{seed}", "disk_format": "raw",
                                   "container_format": "bare"})
            client.upload(image["id"], payload(size, seed), size)
        return images * size / (time.monotonic() - started) / MB


def livecopy(source: GlintServer, target: GlintServer, workers: int) -> tuple[float, float]:
    """(MB/s the replicator counted, peak RSS in MiB) of one livecopy."""
    process = subprocess.Popen(
        [str(GLINT), "replicate", "livecopy", "--workers", str(workers), source.url, target.url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with RssSampler(process.pid, interval=0.05) as sampler:
        output, errors = process.communicate()
    peak = sampler.peak
    if process.returncode != 0:
        raise RuntimeError(output + errors)
    found = COPIED.search(output)
    assert found, output
    return int(found.group(1)) / float(found.group(2)) / MB, peak / MiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--size-mib", type=int, default=256)
    args = parser.parse_args()
    size = args.size_mib * MiB
    with tempfile.TemporaryDirectory(prefix="glint-replication-") as folder, ExitStack() as stack:
        servers = [stack.enter_context(glint_server(
            Path(folder) / name, f"sqlite:///{Path(folder) / name}.db", flavor="", workers=2))
            for name in ("source", "one", "two")]
        log(f"uploading {args.images} x {args.size_mib} MiB")
        upload = upload_all(servers[0], args.images, size)
        for workers, target in ((1, servers[1]), (2, servers[2])):
            log(f"livecopy with {workers} worker(s)")
            rate, peak = livecopy(servers[0], target, workers)
            print(f"{args.images} x {args.size_mib} MiB: upload {upload:.0f} MB/s; livecopy "
                  f"-w {workers} {rate:.0f} MB/s ({rate / upload:.2f} x upload), "
                  f"replicate peak RSS {peak:.0f} MiB", flush=True)


if __name__ == "__main__":
    main()
