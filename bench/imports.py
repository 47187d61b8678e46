#!/usr/bin/env python3
"""What format inspection and import conversion cost: `python bench/imports.py`.

One `glint serve` (2 workers, no auth, SQLite, file store, the image_conversion plugin).
For each repetition, with the same 1 GiB qcow2 image (random data, every cluster
allocated):

(a) inspection: PUT /v2/images/{id}/file with container_format `bare` (format-inspected
    on the way, as in Glance) and with `ovf` (never inspected: the only switch there is),
    in alternating order; target: inspected <= 1.05 x uninspected (medians). Also the
    inspector alone, in this process, over the same file in the upload's 2 MiB blocks
    (CPU seconds), to show what it costs whatever the noise.
(b) conversion: `qemu-img convert -f qcow2 -O raw` of the file, against a glance-direct
    import of the staged file with image_conversion (POST /import until the image is
    active, raw, hashed and stored); target: import <= 1.3 x qemu-img. Also shown: md5 and
    sha512 of 1 GiB on this machine, which an import must compute and qemu-img does not.

Prints medians and each repetition, and writes bench/.work/imports.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

import httpx  # noqa: E402
from bench_main import ensure_payload  # noqa: E402
from common import MB, log  # noqa: E402
from tests.servers import GlintServer, glint_server  # noqa: E402
from workload import put_stream  # noqa: E402

from glint.formats.detect import Detection  # noqa: E402

MIB = 1024 * 1024
BLOCK = 2 * MIB
# What the upload path hands the inspectors: uvicorn's reads of the request body.
BODY_CHUNK = 64 * 1024
INSPECTION_TARGET = 1.05
CONVERSION_TARGET = 1.3
RESULTS = BENCH / ".work" / "imports.json"
OCTET = {"Content-Type": "application/octet-stream"}


@dataclass
class Timings:
    """Seconds of each repetition."""

    upload_inspected: list[float] = field(default_factory=list)
    upload_uninspected: list[float] = field(default_factory=list)
    inspector_cpu: list[float] = field(default_factory=list)
    qemu_img_convert: list[float] = field(default_factory=list)
    import_conversion: list[float] = field(default_factory=list)
    import_conversion_step: list[float] = field(default_factory=list)
    stage: list[float] = field(default_factory=list)
    md5_and_sha512: list[float] = field(default_factory=list)
    write_and_fsync: list[float] = field(default_factory=list)


# The image ---------------------------------------------------------------------


def ensure_qcow2(raw: Path) -> Path:
    """The random payload as a qcow2 beside it (made once with qemu-img)."""
    qcow2 = raw.with_suffix(".qcow2")
    if not qcow2.exists():
        log(f"converting {raw.name} to qcow2")
        subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw),
                        str(qcow2) + ".part"], check=True)
        os.replace(str(qcow2) + ".part", qcow2)
    return qcow2


# (a) inspection ------------------------------------------------------------------


def upload(server: GlintServer, image: Path, container_format: str) -> float:
    """Seconds to PUT `image` as a qcow2 with `container_format`; checks the result."""
    with httpx.Client(base_url=server.url, timeout=httpx.Timeout(600.0, connect=10.0)) as client:
        created = client.post("/v2/images", json={
            "name": f"bench-{container_format}", "disk_format": "qcow2",
            "container_format": container_format})
        image_id = created.json()["id"]
        rate, response = put_stream(client, f"{server.url}/v2/images/{image_id}/file", image)
        if response.status_code != 204:
            raise RuntimeError(f"upload answered {response.status_code}: {response.text[:300]}")
        shown = client.get(f"/v2/images/{image_id}").json()
        inspected = shown["virtual_size"] is not None
        if shown["status"] != "active" or inspected != (container_format == "bare"):
            raise RuntimeError(f"after upload: {shown['status']}, virtual_size "
                               f"{shown['virtual_size']} with {container_format}")
        client.delete(f"/v2/images/{image_id}")
    return image.stat().st_size / rate / MB


def inspector_cpu(image: Path) -> float:
    """CPU seconds of Glint's inspectors over `image`, fed in the request body's chunks."""
    detection = Detection(frozenset({"streamOptimized", "monolithicSparse"}))
    spent = 0.0
    with image.open("rb", buffering=0) as source:
        while block := source.read(BODY_CHUNK):
            started = time.process_time()
            detection.feed(block)
            spent += time.process_time() - started
    started = time.process_time()
    detection.finish()
    return spent + time.process_time() - started


# (b) conversion ------------------------------------------------------------------


def qemu_img_convert(image: Path, folder: Path) -> float:
    output = folder / "direct.raw"
    started = time.perf_counter()
    subprocess.run(["qemu-img", "convert", "-q", "-f", "qcow2", "-O", "raw", str(image),
                    str(output)], check=True)
    elapsed = time.perf_counter() - started
    output.unlink()
    return elapsed


@dataclass
class ImportTimes:
    stage: float
    conversion: float
    total: float


def import_conversion(server: GlintServer, image: Path, raw_size: int) -> ImportTimes:
    """Seconds to stage, from POST /import to the store step (claim, inspection,
    qemu-img info and convert: the task's progress shows when the store step begins),
    and from POST /import to an active raw image."""
    with httpx.Client(base_url=server.url, timeout=httpx.Timeout(600.0, connect=10.0)) as client:
        image_id = client.post("/v2/images", json={
            "name": "bench-convert", "disk_format": "qcow2",
            "container_format": "bare"}).json()["id"]
        started = time.perf_counter()
        with image.open("rb") as body:
            staged = client.put(f"/v2/images/{image_id}/stage", content=_chunks(body),
                                headers={**OCTET, "Content-Length": str(image.stat().st_size)})
        stage = time.perf_counter() - started
        if staged.status_code != 204:
            raise RuntimeError(f"stage answered {staged.status_code}: {staged.text[:300]}")
        started = time.perf_counter()
        response = client.post(f"/v2/images/{image_id}/import",
                               json={"method": {"name": "glance-direct"}})
        if response.status_code != 202:
            raise RuntimeError(f"import answered {response.status_code}: {response.text[:300]}")
        conversion = None
        while True:
            [task] = client.get(f"/v2/images/{image_id}/tasks").json()["tasks"]
            now = time.perf_counter() - started
            step = str((task["result"] or {}).get("step", ""))
            if conversion is None and (step.startswith("store:") or task["status"] == "success"):
                conversion = now
            if task["status"] in ("success", "failure"):
                break
            time.sleep(0.02)
        elapsed = now
        shown = client.get(f"/v2/images/{image_id}").json()
        if (shown["status"], shown["disk_format"], shown["size"]) != ("active", "raw", raw_size):
            tasks = client.get(f"/v2/images/{image_id}/tasks").json()
            raise RuntimeError(f"after import: {shown['status']} {shown['disk_format']} "
                               f"{shown['size']}: {tasks}")
        client.delete(f"/v2/images/{image_id}")
    return ImportTimes(stage, conversion or elapsed, elapsed)


def _chunks(body: IO[bytes]) -> Iterator[bytes]:
    while chunk := body.read(BLOCK):
        yield chunk


def md5_and_sha512(path: Path) -> float:
    """Seconds to hash `path` with md5 and sha512 on two threads, as an import does
    (each thread reads the file, from the page cache after the first run)."""

    def run(algorithm: Callable[[], Any]) -> None:
        digest = algorithm()
        with path.open("rb", buffering=0) as source:
            while block := source.read(4 * MIB):
                digest.update(block)

    started = time.perf_counter()
    threads = [threading.Thread(target=run, args=(kind,))
               for kind in (hashlib.md5, hashlib.sha512)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def write_and_fsync(path: Path, folder: Path) -> float:
    """Seconds to copy `path` (from the page cache) to a new file and fsync it, as the
    file store does with the converted image."""
    output = folder / "copy.raw"
    started = time.perf_counter()
    with path.open("rb", buffering=0) as source, output.open("wb", buffering=0) as target:
        while block := source.read(BLOCK):
            target.write(block)
        os.fsync(target.fileno())
    elapsed = time.perf_counter() - started
    output.unlink()
    return elapsed


# The run -------------------------------------------------------------------------


def measure(server: GlintServer, qcow2: Path, raw: Path, folder: Path, repetitions: int,
            timings: Timings) -> None:
    raw_size = raw.stat().st_size
    for number in range(repetitions):
        order = ["bare", "ovf"] if number % 2 == 0 else ["ovf", "bare"]
        for container_format in order:
            seconds = upload(server, qcow2, container_format)
            kind = "inspected" if container_format == "bare" else "uninspected"
            getattr(timings, f"upload_{kind}").append(seconds)
            log(f"#{number + 1} upload {kind} ({container_format}): {seconds:.2f} s")
        timings.inspector_cpu.append(inspector_cpu(qcow2))
        log(f"#{number + 1} inspector alone: {timings.inspector_cpu[-1]:.3f} CPU s")
        direct = qemu_img_convert(qcow2, folder)
        times = import_conversion(server, qcow2, raw_size)
        timings.qemu_img_convert.append(direct)
        timings.import_conversion.append(times.total)
        timings.import_conversion_step.append(times.conversion)
        timings.stage.append(times.stage)
        log(f"#{number + 1} qemu-img convert {direct:.2f} s, import with conversion "
            f"{times.total:.2f} s, of which until the store step {times.conversion:.2f} s "
            f"(staging took {times.stage:.2f} s)")
        timings.md5_and_sha512.append(md5_and_sha512(raw))
        timings.write_and_fsync.append(write_and_fsync(raw, folder))


def report(timings: Timings, size_mib: int, repetitions: int) -> tuple[str, bool]:
    def median(values: list[float]) -> float:
        return statistics.median(values)

    def each(values: list[float]) -> str:
        return ", ".join(f"{value:.2f}" for value in values)

    inspection = median(timings.upload_inspected) / median(timings.upload_uninspected)
    conversion = median(timings.import_conversion) / median(timings.qemu_img_convert)
    inspection_met = inspection <= INSPECTION_TARGET
    conversion_met = conversion <= CONVERSION_TARGET
    size_mb = size_mib * MIB / MB
    lines = [
        f"{size_mib} MiB qcow2, {repetitions} repetitions, medians in seconds (each in brackets)",
        f"(a) upload, inspected (bare)        {median(timings.upload_inspected):6.2f}  "
        f"({each(timings.upload_inspected)})",
        f"    upload, not inspected (ovf)     {median(timings.upload_uninspected):6.2f}  "
        f"({each(timings.upload_uninspected)})",
        f"    inspected / not inspected       {inspection:6.3f}  target <= {INSPECTION_TARGET}"
        f"  {'met' if inspection_met else 'NOT MET'}",
        f"    inspector alone, CPU s          {median(timings.inspector_cpu):6.3f}  "
        f"= {median(timings.inspector_cpu) / median(timings.upload_uninspected):.1%} of the "
        f"uninspected upload ({size_mb / median(timings.inspector_cpu):.0f} MB/s)",
        f"(b) qemu-img convert qcow2 -> raw   {median(timings.qemu_img_convert):6.2f}  "
        f"({each(timings.qemu_img_convert)})",
        f"    import with image_conversion    {median(timings.import_conversion):6.2f}  "
        f"({each(timings.import_conversion)})",
        f"    import / qemu-img               {conversion:6.2f}  target <= {CONVERSION_TARGET}"
        f"  {'met' if conversion_met else 'NOT MET'}",
        f"    of which until the store step   {median(timings.import_conversion_step):6.2f}  "
        f"({each(timings.import_conversion_step)}) = "
        f"{median(timings.import_conversion_step) / median(timings.qemu_img_convert):.2f} x "
        "qemu-img",
        f"    md5 + sha512 of the raw image   {median(timings.md5_and_sha512):6.2f}  "
        "(two threads; an import must, qemu-img does not)",
        f"    copy + fsync of the raw image   {median(timings.write_and_fsync):6.2f}  "
        "(the file store's write, after conversion)",
        f"    staging the qcow2 (not counted) {median(timings.stage):6.2f}",
    ]
    return "\n".join(lines), inspection_met and conversion_met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repetitions", type=int, default=3, help="medians are reported")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is not met")
    args = parser.parse_args()
    (BENCH / ".work").mkdir(exist_ok=True)
    raw, _ = ensure_payload(args.size_mib * MIB)
    qcow2 = ensure_qcow2(raw)
    timings = Timings()
    load = os.getloadavg()[0]
    if load > 1:
        log(f"load average is {load:.1f}: the machine is busy, figures will be noisy")
    with tempfile.TemporaryDirectory(dir=BENCH / ".work") as scratch:
        folder = Path(scratch)
        extra: dict[str, dict[str, object]] = {
            "DEFAULT": {"enabled_import_methods": "glance-direct"},
            "image_import_opts": {"image_import_plugins": "image_conversion"},
        }
        with glint_server(folder / "glint", f"sqlite:///{folder / 'glint.db'}", flavor="",
                          workers=2, extra=extra) as server:
            measure(server, qcow2, raw, folder, args.repetitions, timings)
    text, met = report(timings, args.size_mib, args.repetitions)
    print(f"\n{text}")
    RESULTS.write_text(json.dumps({"size_mib": args.size_mib, "repetitions": args.repetitions,
                                   "seconds": asdict(timings)}, indent=1))
    return 1 if args.strict and not met else 0


if __name__ == "__main__":
    sys.exit(main())
