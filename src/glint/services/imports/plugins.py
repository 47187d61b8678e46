"""Import plugins (`[image_import_opts] image_import_plugins`), run on the
staged file between download/stage and the store, in the configured order:

* `image_decompression`: gzip, zip (one member) or zstd data, recognised by
  its magic number, is decompressed (never beyond image_size_cap);
* `image_conversion`: the staged image is inspected (safety checks and
  format match, before qemu-img ever reads it), checked again with
  `qemu-img info`, then converted with `qemu-img convert` to
  `[image_conversion] output_format` (raw by default), and the image's
  disk_format becomes that format;
* `inject_image_metadata`: `[inject_metadata_properties] inject` properties
  are set unless the caller has one of `ignore_user_roles` (applied when the
  import is accepted, see `inject_properties`);
* `no_op`: nothing.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import shutil
import zipfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import IO, Any

from starlette.concurrency import run_in_threadpool

from glint.db import repositories as repo
from glint.domain.context import RequestContext
from glint.domain.image import Image, ImageStatus
from glint.formats.detect import Detection
from glint.services.clock import now
from glint.services.imports.deps import ImportDeps
from glint.services.ingest import judged_as, verdict
from glint.settings import ImportSettings
from glint.stores.hashing import ImageTooLarge

log = logging.getLogger(__name__)

KNOWN_PLUGINS = ("no_op", "image_conversion", "image_decompression", "inject_image_metadata")
QEMU_FORMATS = {"vhd": "vpc", "ploop": "parallels"}
CONVERTIBLE = frozenset({"raw", "qcow2", "vmdk", "vhd", "vhdx", "vdi", "ploop"})
QEMU_TIMEOUT = 600.0
COPY_SIZE = 4 * 1024 * 1024


class PluginFailed(Exception):
    """A plugin refused or failed; the message ends up on the task."""


def inject_properties(settings: ImportSettings, ctx: RequestContext) -> list[tuple[str, str]]:
    """The properties inject_image_metadata sets for this caller (none for ignored roles)."""
    if "inject_image_metadata" not in settings.image_import_plugins:
        return []
    if ctx.roles & set(settings.inject_ignore_user_roles):
        return []
    return list(settings.inject_metadata)


async def run_plugins(deps: ImportDeps, image: Image) -> Image:
    """Apply the configured plugins to the staged data; returns the image as it now is."""
    path = deps.staging.path(image.id)
    cap = deps.upload.image_size_cap
    # A plugin that replaces the staged data drops its kept digests first (even a
    # crash in between cannot leave digests of other data): the pass that
    # stores the new data hashes and inspects it.
    forget = partial(deps.staging.forget, image.id)
    for plugin in deps.settings.image_import_plugins:
        if plugin == "image_decompression":
            await run_in_threadpool(decompress, path, cap, forget)
        elif plugin == "image_conversion":
            image = await _convert(deps, image, path)
        elif plugin not in KNOWN_PLUGINS:
            raise PluginFailed(f"Unknown import plugin {plugin!r}")
    return image


def _open_gzip(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb")  # type: ignore[return-value]


def _open_zstd(path: Path) -> IO[bytes]:
    try:
        import zstandard  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise PluginFailed("zstd data needs the zstandard package") from exc
    reader: IO[bytes] = zstandard.ZstdDecompressor().stream_reader(open(path, "rb"))
    return reader


def _open_zip(path: Path) -> IO[bytes]:
    archive = zipfile.ZipFile(path)
    members = [m for m in archive.infolist() if not m.is_dir()]
    if len(members) != 1:
        raise PluginFailed(f"A zip image must hold exactly one file, not {len(members)}")
    return archive.open(members[0])


def decompress(path: Path, cap: int, before_replace: Callable[[], None] = lambda: None) -> bool:
    """Replace a compressed staged file by its content (calling `before_replace` just
    before); False when not compressed."""
    with open(path, "rb") as handle:
        magic = handle.read(4)
    openers: dict[bytes, Callable[[Path], IO[bytes]]] = {
        b"\x1f\x8b": _open_gzip,
        b"PK\x03\x04": _open_zip,
        b"\x28\xb5\x2f\xfd": _open_zstd,
    }
    opener = next((o for m, o in openers.items() if magic.startswith(m)), None)
    if opener is None:
        return False
    output = path.with_name(path.name + ".decompressed")
    written = 0
    try:
        with opener(path) as source, open(output, "wb") as target:
            while block := source.read(COPY_SIZE):
                written += len(block)
                if written > cap:
                    raise ImageTooLarge(cap)
                target.write(block)
        before_replace()
        output.replace(path)
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise PluginFailed(f"Decompressing the image failed: {exc}") from exc
    finally:
        output.unlink(missing_ok=True)
    log.info("decompressed staged image %s: %d bytes", path.name, written)
    return True


async def _qemu_img(*args: str) -> str:
    if shutil.which("qemu-img") is None:
        raise PluginFailed("image_conversion needs qemu-img, which is not installed")
    process = await asyncio.create_subprocess_exec(
        "qemu-img", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), QEMU_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise PluginFailed("qemu-img took too long") from None
    if process.returncode != 0:
        raise PluginFailed(f"qemu-img {args[0]} failed: {err.decode(errors='replace').strip()}")
    return out.decode()


def _inspect_file(deps: ImportDeps, image: Image, path: Path) -> None:
    """Judge the staged file as its disk_format (InvalidImageData), unless the
    unchanged file was judged so when it was staged."""
    check = judged_as(image.disk_format or "", deps.formats)
    kept = deps.staging.kept(image.id)
    if kept is not None and kept.inspected_as == check.disk_format \
            and deps.staging.unchanged(image.id, kept):
        return
    detection = Detection(check.vmdk_allowed_types)
    with open(path, "rb") as handle:
        while block := handle.read(COPY_SIZE):
            detection.feed(block)
    detection.finish()
    verdict(detection, check, image.id)


async def _convert(deps: ImportDeps, image: Image, path: Path) -> Image:
    """Convert the staged data to the output format; the image as it now is."""
    source = image.disk_format or "raw"
    target = deps.settings.conversion_output_format
    if source == target or source not in CONVERTIBLE:
        return image
    # Never let qemu-img read an image that could point it at host files.
    await run_in_threadpool(_inspect_file, deps, image, path)
    qemu_source = QEMU_FORMATS.get(source, source)
    info: dict[str, Any] = json.loads(await _qemu_img("info", "--output=json", "-f", qemu_source,
                                                      str(path)))
    if info.get("format") != qemu_source:
        raise PluginFailed(f"qemu-img sees {info.get('format')}, not {source}")
    if info.get("backing-filename") or info.get("format-specific", {}).get("data", {}).get(
            "data-file"):
        raise PluginFailed("Image has a backing file or an external data file")
    output = path.with_name(path.name + ".converted")
    try:
        await _qemu_img("convert", "-q", "-f", qemu_source, "-O", QEMU_FORMATS.get(target, target),
                        str(path), str(output))
        await run_in_threadpool(deps.staging.forget, image.id)
        await run_in_threadpool(output.replace, path)
    finally:
        output.unlink(missing_ok=True)
    await run_in_threadpool(_set_disk_format, deps, image, target)
    log.info("image %s converted from %s to %s", image.id, source, target)
    image.disk_format = target
    return image


def _set_disk_format(deps: ImportDeps, image: Image, disk_format: str) -> None:
    with deps.db.writing() as session:
        repo.set_formats(session, image.id, ImageStatus.IMPORTING, now(),
                         disk_format=disk_format, container_format=image.container_format)
