"""Whether inspected data may be stored under an image's disk_format.

The rules are Glance 33's (glance/location.py, upload with format
inspection), with one deliberate difference: the safety checks run on the
detected format even when `require_image_format_match` is off or the formats
disagree, so nothing that could make qemu-img open host files (a qcow2
backing or data file, VMDK extents, ...) is ever accepted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from glint.formats.base import Inspector, SafetyProblem
from glint.formats.detect import GLANCE_INSPECTED, Detection

log = logging.getLogger(__name__)


class FormatRejected(Exception):
    """The data does not match its disk_format or fails a safety check."""

    def __init__(self, message: str, problems: tuple[SafetyProblem, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems


@dataclass(frozen=True)
class FormatRules:
    """`[image_format]` options."""

    require_image_format_match: bool = True
    gpt_safety_checks_nonfatal: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Verdict:
    detected: str
    # None when unknown or not to be recorded (Glance records only non-zero sizes).
    virtual_size: int | None


def choose(matches: list[Inspector]) -> Inspector | None:
    """The one format of the data among the inspectors that match it; None
    when several match (ambiguous). A bootable ISO may carry a GPT in its
    system area: ISO wins."""
    names = {inspector.name: inspector for inspector in matches}
    if set(names) == {"iso", "gpt"}:
        return names["iso"]
    return matches[0] if len(matches) == 1 else None


def _check_safety(inspector: Inspector, disk_format: str, rules: FormatRules) -> None:
    problems = inspector.problems()
    if not problems:
        return
    fatal = {p.check for p in problems} - rules.gpt_safety_checks_nonfatal
    if disk_format in ("aki", "ari"):
        # Kernels and ramdisks may carry a deliberately invalid MBR.
        fatal.discard("mbr")
    if inspector.name == "gpt" and not fatal:
        log.warning("non-fatal %s safety problems: %s", inspector.name,
                    "; ".join(p.reason for p in problems))
        return
    raise FormatRejected(
        f"Image failed safety checks: {'; '.join(p.reason for p in problems)}", tuple(problems)
    )


def judge(detection: Detection, disk_format: str, rules: FormatRules) -> Verdict:
    """Decide on the inspected data of an image whose disk_format is given.

    Raises FormatRejected when the data fails a safety check, or when it does
    not match `disk_format` and `require_image_format_match` is on.
    """
    matches = detection.matches()
    inspector = choose(matches)
    if inspector is None:
        for candidate in matches:
            _check_safety(candidate, disk_format, rules)
        return _mismatch(
            rules, disk_format, "+".join(sorted(i.name for i in matches)),
            f"Multiple formats detected: {', '.join(sorted(i.name for i in matches))}",
        )
    _check_safety(inspector, disk_format, rules)
    detected = inspector.name
    if detected == disk_format:
        return Verdict(detected, inspector.virtual_size or None)
    if detected == "raw" and disk_format not in GLANCE_INSPECTED:
        # Not an inspectable format (ami, aki, ari, ploop): unrecognised data is fine.
        return Verdict(detected, None)
    if not inspector.glance_inspects and disk_format == "raw":
        # Glance would see raw here (it does not know this format).
        return Verdict(detected, detection.size or None)
    if disk_format == "raw":
        # Glance lets "raw" hold anything; the size is the byte count.
        log.warning("image claims disk_format raw but the data is %s", detected)
        return Verdict(detected, detection.size or None)
    return _mismatch(
        rules, disk_format, detected,
        f"Image disk_format {disk_format} does not match the data, which is {detected}",
    )


def _mismatch(rules: FormatRules, disk_format: str, detected: str, message: str) -> Verdict:
    if rules.require_image_format_match:
        raise FormatRejected(message)
    log.warning("%s; accepted because require_image_format_match is off", message)
    return Verdict(detected, None)
