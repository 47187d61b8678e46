"""What Glint's inspector and the reference (oslo.utils' format_inspector, the
one Glance 33 uses) each make of the same bytes, in comparable form.

A reading is the format the data is taken for, whether an image of that
format would be accepted (its safety checks pass), and the virtual size an
accepted image would get (0 when unknown). Data matching several formats is
refused by both whatever its checks say, so its reading keeps only the names.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from dataclasses import dataclass

from oslo_utils.imageutils import format_inspector as reference

from glint.formats.detect import Detection
from glint.formats.verdict import FormatRejected, FormatRules, choose, judge

STRICT = FormatRules()
# Glance reads uploads in 64 KiB pieces.
REFERENCE_CHUNK = 64 << 10


@dataclass(frozen=True)
class Reading:
    format: str
    safe: bool
    virtual_size: int
    # Every format that matched (the chosen one among them), raw left out.
    matches: frozenset[str] = frozenset()
    # The names of the safety checks that failed (Glint's readings only).
    checks: frozenset[str] = frozenset()
    # The reference's own unexpected exception, when it raised one.
    error: str | None = None


@dataclass(frozen=True)
class Difference:
    field: str
    glint: object
    reference: object


def random_blocks(data: bytes, rng: random.Random) -> Iterator[bytes]:
    """`data` cut at random places: mostly large blocks, sometimes a few bytes."""
    start = 0
    while start < len(data):
        length = int(2 ** rng.uniform(0, 20))
        yield data[start:start + length]
        start += length


def glint_detection(data: bytes, rng: random.Random | None = None) -> Detection:
    """Glint's inspectors fed `data` in random blocks (in one block without `rng`)."""
    detection = Detection()
    for block in random_blocks(data, rng) if rng else [data]:
        detection.feed(block)
    detection.finish()
    return detection


def glint_reading(detection: Detection) -> Reading:
    """The reading through Glint's verdict, as an upload under the detected format gets it.

    Any exception but FormatRejected is let through: it is a defect.
    """
    matches = detection.matches()
    names = frozenset(i.name for i in matches) - {"raw"}
    chosen = choose(matches)
    if chosen is None:
        return Reading("+".join(sorted(names)), False, 0, names)
    try:
        verdict = judge(detection, chosen.name, STRICT)
    except FormatRejected as exc:
        checks = frozenset(problem.check for problem in exc.problems)
        return Reading(chosen.name, False, chosen.virtual_size, names, checks)
    return Reading(verdict.detected, True, verdict.virtual_size or 0, names)


def reference_reading(data: bytes) -> Reading:
    """The reading of oslo.utils' inspector, used as Glance 33 uses it: every
    inspector over the stream, a bootable ISO's GPT ignored, then the
    chosen format's safety checks (which also refuse an incomplete header)."""
    wrapper = reference.InspectWrapper(io.BytesIO(data))
    try:
        while wrapper.read(REFERENCE_CHUNK):
            pass
        wrapper.close()
        formats = wrapper.formats or []
        names = frozenset(str(i) for i in formats) - {"raw"}
        if names == {"gpt", "iso"}:
            formats = [i for i in formats if str(i) == "iso"]
        if len(formats) != 1:
            return Reading("+".join(sorted(names)), False, 0, names)
        chosen = formats[0]
        try:
            chosen.safety_check()
        except (reference.SafetyCheckFailed, reference.ImageFormatError):
            return Reading(str(chosen), False, 0, names)
        return Reading(str(chosen), True, chosen.virtual_size, names)
    except Exception as exc:  # noqa: BLE001 - the reference's own defects are recorded, not raised
        return Reading("?", False, 0, error=f"{type(exc).__name__}: {exc}")


def qemu_differences(glint: Reading, qemu: Reading) -> list[Difference]:
    """Where Glint's reading disagrees with `qemu-img info`'s (which has no safety verdict);
    the virtual size counts when Glint accepts the image."""
    found = []
    if glint.format != qemu.format:
        found.append(Difference("format", glint.format, qemu.format))
    if glint.safe and glint.virtual_size != qemu.virtual_size:
        found.append(Difference("virtual_size", glint.virtual_size, qemu.virtual_size))
    return found


def differences(glint: Reading, ref: Reading) -> list[Difference]:
    """Where the two readings disagree; the virtual size counts only when both accept."""
    found = []
    if ref.error is not None:
        found.append(Difference("reference error", None, ref.error))
        return found
    if glint.format != ref.format:
        found.append(Difference("format", glint.format, ref.format))
    if glint.safe != ref.safe:
        found.append(Difference("safe", glint.safe, ref.safe))
    if glint.safe and ref.safe and glint.virtual_size != ref.virtual_size:
        found.append(Difference("virtual_size", glint.virtual_size, ref.virtual_size))
    return found
