#!/usr/bin/env python3
"""What format inspection and import conversion cost: `python bench/imports.py`.

One `glint serve` (2 workers, no auth, SQLite, file store, glance-direct with the
image_conversion plugin) and, in the same run, upstream Glance 33 under uWSGI as `make bench`
runs it (MariaDB, glance-direct with its image_conversion plugin, output_format raw). The
image: a 1 GiB qcow2 made once with qemu-img from a raw file of random data in its first half
and zeros in its second. Each repetition measures:

(a) inspection: PUT /v2/images/{id}/file with container_format `bare` (format-inspected
    on the way, as in Glance) and with `ovf` (never inspected: the only switch there is),
    in alternating order; target: inspected <= 1.05 x uninspected (medians). Also the
    inspector alone, in this process, over the same file in the upload's chunks (CPU
    seconds), to show what it costs whatever the noise.
(b) conversion (issue 11 item 7): the baseline is `qemu-img convert -f qcow2 -O raw` of the
    file, then md5 and sha512 of its output (two threads over one read), one after the other;
    Glint's glance-direct import of the staged file (POST /import until active; staging not
    counted); target: Glint <= 1.15 x baseline. Glance's import of the same file the same
    way; target: Glance >= 2 x Glint. Both imports must end raw, of the raw size, with the
    md5 of qemu-img's output.

Prints a table of medians (and each repetition) against the targets and writes it to
bench/.work/imports.json. See bench/README.md.
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
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

import httpx  # noqa: E402
from common import MB, log, tail  # noqa: E402
from tests.servers import GlintServer, glint_server  # noqa: E402
from workload import put_stream  # noqa: E402

import servers  # noqa: E402
from glint.formats.detect import Detection  # noqa: E402

MIB = 1024 * 1024
BLOCK = 4 * MIB
# What the upload path hands the inspectors: uvicorn's reads of the request body. Also the
# staging chunks: uWSGI (Glance) refuses chunks over 1 MiB.
BODY_CHUNK = 64 * 1024
INSPECTION_TARGET = 1.05
BASELINE_TARGET = 1.15
GLANCE_TARGET = 2.0
IMPORT_TIMEOUT = 1800.0
RESULTS = BENCH / ".work" / "imports.json"
OCTET = {"Content-Type": "application/octet-stream"}
TIMEOUT = httpx.Timeout(600.0, connect=10.0)


@dataclass
class Timings:
    """Seconds of each repetition."""

    upload_inspected: list[float] = field(default_factory=list)
    upload_uninspected: list[float] = field(default_factory=list)
    inspector_cpu: list[float] = field(default_factory=list)
    qemu_img_convert: list[float] = field(default_factory=list)
    md5_sha512: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    glint_import: list[float] = field(default_factory=list)
    glint_until_store_step: list[float] = field(default_factory=list)
    glint_stage: list[float] = field(default_factory=list)
    glance_import: list[float] = field(default_factory=list)
    glance_stage: list[float] = field(default_factory=list)


# The image ---------------------------------------------------------------------


def ensure_image(size: int) -> Path:
    """A qcow2 of `size` virtual bytes, random data then zeros, kept in .work between
    runs (made once with qemu-img from a raw file, which is removed after)."""
    qcow2 = servers.WORK / f"half-zeros-{size // MIB}MiB.qcow2"
    if qcow2.exists():
        return qcow2
    raw = qcow2.with_suffix(".raw")
    log(f"writing {size // MIB} MiB (random, then zeros) to {raw.name}")
    write_half_zeros(raw, size)
    log(f"converting {raw.name} to qcow2")
    part = qcow2.with_suffix(".part")
    subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(raw),
                    str(part)], check=True)
    os.replace(part, qcow2)
    raw.unlink()
    return qcow2


def write_half_zeros(path: Path, size: int) -> None:
    """`size // 2` random bytes followed by zero bytes up to `size` (written, not sparse)."""
    half = size // 2
    zeros = bytes(BLOCK)
    with path.open("wb") as out:
        written = 0
        while written < size:
            length = min(BLOCK, (half if written < half else size) - written)
            out.write(os.urandom(length) if written < half else zeros[:length])
            written += length


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


@dataclass(frozen=True)
class Baseline:
    """qemu-img's conversion, then the hashing of its output, and that output's md5."""

    convert: float
    hashing: float
    md5: str


def baseline(image: Path, folder: Path) -> Baseline:
    output = folder / "baseline.raw"
    convert = qemu_img_convert(image, output)
    hashing, md5 = md5_sha512(output)
    output.unlink()
    return Baseline(convert, hashing, md5)


def qemu_img_convert(image: Path, output: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["qemu-img", "convert", "-q", "-f", "qcow2", "-O", "raw", str(image),
                    str(output)], check=True)
    return time.perf_counter() - started


def md5_sha512(path: Path) -> tuple[float, str]:
    """Seconds to hash `path` as an import does (one read; md5 and sha512 of each block on
    two threads of their own: hashlib lets go of the GIL), and its md5."""
    md5, sha512 = hashlib.md5(), hashlib.sha512()
    in_flight: list[Future[None]] = []
    started = time.perf_counter()
    with ThreadPoolExecutor(1) as md5_thread, ThreadPoolExecutor(1) as sha512_thread, \
            path.open("rb", buffering=0) as source:
        while block := source.read(BLOCK):
            if len(in_flight) >= 4:  # two blocks ahead at most
                _wait(in_flight[:2])
                del in_flight[:2]
            in_flight += [md5_thread.submit(md5.update, block),
                          sha512_thread.submit(sha512.update, block)]
        _wait(in_flight)
    return time.perf_counter() - started, md5.hexdigest()


def _wait(futures: list[Future[None]]) -> None:
    for future in futures:
        future.result()


@dataclass(frozen=True)
class Imported:
    """Seconds to stage (not counted), and from POST /import until the image is active."""

    stage: float
    total: float


def stage(client: httpx.Client, image: Path) -> tuple[str, float]:
    """A new qcow2 image with `image` staged in it: its id and the seconds staging took."""
    created = client.post("/v2/images", json={
        "name": "bench-convert", "disk_format": "qcow2", "container_format": "bare"})
    _expect(created, 201, "create")
    image_id = str(created.json()["id"])
    started = time.perf_counter()
    with image.open("rb") as body:
        staged = client.put(f"/v2/images/{image_id}/stage", content=_chunks(body),
                            headers={**OCTET, "Content-Length": str(image.stat().st_size)})
    _expect(staged, 204, "stage")
    return image_id, time.perf_counter() - started


def start_import(client: httpx.Client, image_id: str) -> float:
    """POST a glance-direct import; the perf_counter time it was sent."""
    started = time.perf_counter()
    response = client.post(f"/v2/images/{image_id}/import",
                           json={"method": {"name": "glance-direct"}})
    _expect(response, 202, "import")
    return started


def _expect(response: httpx.Response, status: int, what: str) -> None:
    if response.status_code != status:
        raise RuntimeError(f"{what} answered {response.status_code}: {response.text[:300]}")


def _chunks(body: IO[bytes]) -> Iterator[bytes]:
    while chunk := body.read(BODY_CHUNK):
        yield chunk


def check_converted(client: httpx.Client, image_id: str, raw_size: int, md5: str,
                    server: str) -> None:
    """The import really converted: active, raw, the raw size and qemu-img's md5. Then
    the image is deleted."""
    shown = client.get(f"/v2/images/{image_id}").json()
    found = (shown["status"], shown["disk_format"], shown["size"], shown["checksum"])
    if found != ("active", "raw", raw_size, md5):
        raise RuntimeError(f"{server}'s import ended with (status, disk_format, size, checksum) "
                           f"{found}, not {('active', 'raw', raw_size, md5)}")
    _expect(client.delete(f"/v2/images/{image_id}"), 204, "delete")


def glint_import(url: str, image: Path, raw_size: int, md5: str) -> tuple[Imported, float]:
    """Glint's import of `image`, and the seconds from POST /import to the store step
    (claim, inspection, qemu-img info and convert: the task's progress shows it)."""
    with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
        image_id, staging = stage(client, image)
        started = start_import(client, image_id)
        until_store, total = _wait_for_glint_task(client, image_id, started)
        check_converted(client, image_id, raw_size, md5, "Glint")
    return Imported(staging, total), until_store


def _wait_for_glint_task(client: httpx.Client, image_id: str,
                         started: float) -> tuple[float, float]:
    """Seconds from `started` until the store step, and until the task succeeded."""
    until_store: float | None = None
    while True:
        [task] = client.get(f"/v2/images/{image_id}/tasks").json()["tasks"]
        now = time.perf_counter() - started
        step = str((task["result"] or {}).get("step", ""))
        if until_store is None and (step.startswith("store:") or task["status"] == "success"):
            until_store = now
        if until_store is not None and task["status"] == "success":
            return until_store, now
        if task["status"] == "failure" or now > IMPORT_TIMEOUT:
            raise RuntimeError(f"Glint's import did not succeed: {task}")
        time.sleep(0.02)


def glance_import(url: str, image: Path, raw_size: int, md5: str) -> Imported:
    """Upstream Glance's import of `image` with its image_conversion plugin."""
    with httpx.Client(base_url=url, timeout=TIMEOUT, headers=GLANCE_IDENTITY) as client:
        image_id, staging = stage(client, image)
        started = start_import(client, image_id)
        total = _wait_for_glance_image(client, image_id, started)
        check_converted(client, image_id, raw_size, md5, "Glance")
    return Imported(staging, total)


def _wait_for_glance_image(client: httpx.Client, image_id: str, started: float) -> float:
    """Seconds from `started` until the image is active (Glance marks a failed import in
    os_glance_failed_import and puts the image back to queued)."""
    while True:
        shown = client.get(f"/v2/images/{image_id}").json()
        now = time.perf_counter() - started
        if shown["status"] == "active":
            return now
        if shown.get("os_glance_failed_import") or shown["status"] in ("queued", "killed") \
                or now > IMPORT_TIMEOUT:
            raise RuntimeError(f"Glance's import did not succeed: {shown}")
        time.sleep(0.02)


# The run -------------------------------------------------------------------------


def measure_inspection(server: GlintServer, qcow2: Path, number: int,
                       timings: Timings) -> None:
    order = ["bare", "ovf"] if number % 2 == 0 else ["ovf", "bare"]
    for container_format in order:
        seconds = upload(server, qcow2, container_format)
        kind = "inspected" if container_format == "bare" else "uninspected"
        getattr(timings, f"upload_{kind}").append(seconds)
        log(f"#{number + 1} upload {kind} ({container_format}): {seconds:.2f} s")
    timings.inspector_cpu.append(inspector_cpu(qcow2))
    log(f"#{number + 1} inspector alone: {timings.inspector_cpu[-1]:.3f} CPU s")


def measure_conversion(glint: GlintServer, glance: servers.Server, qcow2: Path, raw_size: int,
                       folder: Path, number: int, timings: Timings) -> None:
    base = baseline(qcow2, folder)
    timings.qemu_img_convert.append(base.convert)
    timings.md5_sha512.append(base.hashing)
    timings.baseline.append(base.convert + base.hashing)
    log(f"#{number + 1} baseline {base.convert + base.hashing:.2f} s: qemu-img convert "
        f"{base.convert:.2f} s, then md5||sha512 {base.hashing:.2f} s")
    ours, until_store = glint_import(glint.url, qcow2, raw_size, base.md5)
    timings.glint_import.append(ours.total)
    timings.glint_until_store_step.append(until_store)
    timings.glint_stage.append(ours.stage)
    log(f"#{number + 1} Glint import {ours.total:.2f} s, of which until the store step "
        f"{until_store:.2f} s (staging {ours.stage:.2f} s)")
    theirs = glance_import(glance.url, qcow2, raw_size, base.md5)
    timings.glance_import.append(theirs.total)
    timings.glance_stage.append(theirs.stage)
    log(f"#{number + 1} Glance import {theirs.total:.2f} s (staging {theirs.stage:.2f} s)")


def measure(qcow2: Path, raw_size: int, folder: Path, repetitions: int,
            timings: Timings) -> None:
    """Start both servers, then run every repetition against them."""
    with ExitStack() as stack:
        glint = stack.enter_context(glint_server(
            folder / "glint", f"sqlite:///{folder / 'glint.db'}", flavor="", workers=2,
            extra=GLINT_IMPORTS))
        # Glance's import tasks die of "database is locked" on SQLite: MariaDB, as make bench;
        # and they need an owner there (tasks.owner is NOT NULL): a project in the headers.
        glance = stack.enter_context(servers.glance(
            folder / "glance", "mariadb", extra=GLANCE_IMPORTS, db_name="glance_bench_imports",
            identity_headers=True))
        try:
            for number in range(repetitions):
                measure_inspection(glint, qcow2, number, timings)
                measure_conversion(glint, glance, qcow2, raw_size, folder, number, timings)
        except Exception:
            for name, path in (("Glint", glint.log), ("Glance", glance.log)):
                log(f"the end of {name}'s log:\n{tail(path)}")
            raise


GLINT_IMPORTS: dict[str, dict[str, object]] = {
    "DEFAULT": {"enabled_import_methods": "glance-direct"},
    "image_import_opts": {"image_import_plugins": "image_conversion"},
    "image_conversion": {"output_format": "raw"},
}
# Glance's list options need their brackets (see ANCHORS); staging is servers.glance's
# node_staging_uri (a single store: no os_glance_staging_store).
GLANCE_IMPORTS: dict[str, dict[str, object]] = {
    "DEFAULT": {"enabled_import_methods": "[glance-direct]"},
    "image_import_opts": {"image_import_plugins": "[image_conversion]"},
    "image_conversion": {"output_format": "raw"},
}

# What Keystone's authtoken would pass on to Glance: an admin of a project.
GLANCE_IDENTITY = {"X-Identity-Status": "Confirmed", "X-Project-Id": "b3c1e5f0bench",
                   "X-User-Id": "bench", "X-Roles": "admin,member,reader"}


# The report ----------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of the table: a median (seconds) or a ratio of medians, and its target."""

    figure: str
    value: float
    runs: list[float] = field(default_factory=list)
    target: str = ""
    met: bool | None = None


def _ratio(figure: str, value: float, limit: float, at_most: bool) -> Row:
    met = value <= limit if at_most else value >= limit
    return Row(figure, value, target=f"{'<=' if at_most else '>='} {limit}", met=met)


def rows(timings: Timings) -> list[Row]:
    def median(values: list[float]) -> float:
        return statistics.median(values)

    def seconds(figure: str, values: list[float]) -> Row:
        return Row(figure, median(values), values)

    glint, glance = median(timings.glint_import), median(timings.glance_import)
    return [
        seconds("(a) upload, inspected (bare), s", timings.upload_inspected),
        seconds("    upload, not inspected (ovf), s", timings.upload_uninspected),
        _ratio("    inspected / not inspected", median(timings.upload_inspected)
               / median(timings.upload_uninspected), INSPECTION_TARGET, at_most=True),
        seconds("    inspector alone, CPU s", timings.inspector_cpu),
        seconds("(b) qemu-img convert -f qcow2 -O raw, s", timings.qemu_img_convert),
        seconds("    then md5||sha512 of its output, s", timings.md5_sha512),
        seconds("    baseline = convert + hash, s", timings.baseline),
        seconds("    Glint import, POST /import to active, s", timings.glint_import),
        _ratio("    Glint / baseline", glint / median(timings.baseline), BASELINE_TARGET,
               at_most=True),
        seconds("    Glint, until the store step, s", timings.glint_until_store_step),
        seconds("    Glance 33 import, POST /import to active, s", timings.glance_import),
        _ratio("    Glance / Glint", glance / glint, GLANCE_TARGET, at_most=False),
        seconds("    staging, Glint (not counted), s", timings.glint_stage),
        seconds("    staging, Glance (not counted), s", timings.glance_stage),
    ]


def format_table(table: list[Row], size_mib: int, repetitions: int) -> str:
    lines = [f"{size_mib} MiB qcow2 (half data, half zeros), {repetitions} repetitions: "
             "medians, each repetition in brackets",
             f"{'figure':<47} {'value':>7}  {'target':<8} {'':<7}"]
    for row in table:
        verdict = "" if row.met is None else ("met" if row.met else "NOT MET")
        runs = f"({', '.join(f'{run:.3f}' for run in row.runs)})" if row.runs else ""
        lines.append(f"{row.figure:<47} {row.value:7.3f}  {row.target:<8} {verdict:<7} "
                     f"{runs}".rstrip())
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024,
                        help="virtual size of the qcow2 (a smaller one to try the bench)")
    parser.add_argument("--repetitions", type=int, default=3, help="medians are reported")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is not met")
    args = parser.parse_args()
    servers.WORK.mkdir(exist_ok=True)
    servers.ensure_glance_venv()
    size = args.size_mib * MIB
    qcow2 = ensure_image(size)
    timings = Timings()
    load = os.getloadavg()
    if load[0] > 1:
        log(f"load average is {load[0]:.1f}: the machine is busy, figures will be noisy")
    with tempfile.TemporaryDirectory(dir=servers.WORK) as scratch:
        measure(qcow2, size, Path(scratch), args.repetitions, timings)
    table = rows(timings)
    print(f"\n{format_table(table, args.size_mib, args.repetitions)}")
    RESULTS.write_text(json.dumps({
        "size_mib": args.size_mib, "repetitions": args.repetitions,
        "load_average": {"start": load, "end": os.getloadavg()},
        "table": [{**asdict(row), "figure": row.figure.strip()} for row in table],
        "seconds": asdict(timings)}, indent=1))
    print(f"Results: {RESULTS}")
    return 1 if args.strict and any(row.met is False for row in table) else 0


if __name__ == "__main__":
    sys.exit(main())
