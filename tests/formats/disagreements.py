"""The reviewed list of places where Glint's inspector knowingly disagrees with
the reference (oslo.utils' format_inspector, as Glance 33 uses it) or with
`qemu-img info`, each with the reason Glint is right.

Each entry states exactly when it applies, from the bytes and both readings,
so that it excuses that one behaviour and nothing else. A disagreement that
no entry explains fails the differential tests; so does an entry that
explains nothing (a stale entry hides the next regression).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.formats.readings import Difference, Reading

PLOOP_MAGICS = (b"WithoutFreeSpace", b"WithouFreSpacExt")


@dataclass(frozen=True)
class Disagreement:
    """One case where Glint's reading differs from another's (`against`)."""

    case: str
    against: str
    data: bytes
    glint: Reading
    other: Reading
    differences: list[Difference] = field(default_factory=list)

    @property
    def extra(self) -> frozenset[str]:
        """Formats only Glint saw."""
        return self.glint.matches - self.other.matches

    @property
    def missing(self) -> frozenset[str]:
        """Formats only the other saw."""
        return self.other.matches - self.glint.matches


@dataclass(frozen=True)
class Allowed:
    name: str
    against: str
    reason: str
    applies: Callable[[Disagreement], bool]


def _fields(d: Disagreement) -> set[str]:
    return {difference.field for difference in d.differences}


def _is_text(data: bytes) -> bool:
    try:
        return all(c.isprintable() or c.isspace() for c in data.decode("ascii"))
    except UnicodeDecodeError:
        return False


def _ploop(d: Disagreement) -> bool:
    # The data carries the parallels signature; everything else both saw alike.
    if d.extra != {"ploop"} or d.missing or d.data[:16] not in PLOOP_MAGICS:
        return False
    alone = d.glint.matches == {"ploop"}
    return alone or not d.glint.safe


def _text_descriptor(d: Disagreement) -> bool:
    # Glint read a text descriptor (first 64 bytes text) and refused it; the
    # reference, deciding on more bytes, saw binary and no VMDK.
    return ("vmdk" in d.extra and d.extra <= {"vmdk", "ploop"} and not d.missing
            and _is_text(d.data[:64]) and not _is_text(d.data[:512]) and not d.glint.safe
            and (d.extra == {"vmdk"} or d.data[:16] in PLOOP_MAGICS))


def _vhd_size(d: Disagreement) -> bool:
    if _fields(d) != {"virtual_size"} or d.glint.format != "vhd" or len(d.data) < 512:
        return False
    original, current, cylinders, heads, sectors = struct.unpack_from(">QQHBB", d.data, 40)
    geometry = cylinders * heads * sectors * 512
    return d.other.virtual_size == original and d.glint.virtual_size in (geometry,
                                                                       current // 512 * 512)


def _broken_vhdx(d: Disagreement) -> bool:
    # The reference accepted a VHDX whose region or metadata table it could not follow.
    return (d.glint.format == d.other.format == "vhdx" and _fields(d) == {"safe"}
            and d.glint.checks == {"structure"})


def _qcow2_v2_features(d: Disagreement) -> bool:
    return (d.glint.format == d.other.format == "qcow2" and _fields(d) == {"safe"}
            and d.glint.safe and len(d.data) >= 512
            and struct.unpack_from(">I", d.data, 4)[0] == 2 and d.data[79] & 0x04 != 0)


def _luks_no_payload(d: Disagreement) -> bool:
    return (d.glint.format == d.other.format == "luks" and _fields(d) == {"virtual_size"}
            and len(d.data) >= 592
            and struct.unpack_from(">I", d.data, 104)[0] * 512 > len(d.data)
            and d.glint.virtual_size == 0 and d.other.virtual_size < 0)


def _vhdx_item_length(d: Disagreement) -> bool:
    return (d.glint.format == "vhdx" and d.other.error is not None
            and "unpack requires a buffer of 8 bytes" in d.other.error)


def _qemu_iso(d: Disagreement) -> bool:
    return d.glint.format == "iso" and d.other.format == "raw" and d.other.virtual_size == len(d.data)


def _qemu_partitioned(d: Disagreement) -> bool:
    return (d.glint.format == "gpt" and d.other.format == "raw" and _fields(d) == {"format"})


ALLOWED: tuple[Allowed, ...] = (
    Allowed(
        "ploop", "oslo.utils",
        "Glance does not inspect ploop (Virtuozzo/parallels): to the reference its data is raw. "
        "Glint reads the parallels header for the virtual size qemu-img reports, and still takes "
        "the data as raw under disk_format raw. When the parallels signature sits beside "
        "another format's, the data is ambiguous (qemu's probe would take either) and Glint "
        "refuses it, as it refuses every data that matches two formats.",
        _ploop),
    Allowed(
        "vmdk text descriptor", "oslo.utils",
        "Glint decides that data is a VMDK text descriptor on its first 64 bytes, whatever the "
        "chunking, and reads the descriptor up to its first NUL, as qemu does; qemu-img probes and "
        "opens such a file (binary after the text included) and follows its extents. The "
        "reference decides on however much of the first 512 bytes its first chunk brought "
        "(all of them at Glance's 64 KiB), calls the file raw when a later byte is not text, and "
        "accepts it. Glint refuses it: a descriptor naming extents is never safe.",
        _text_descriptor),
    Allowed(
        "vhd virtual size", "oslo.utils",
        "The reference takes a VHD's size from the footer's 'original size', which a resized "
        "disk no longer matches. Glint gives the size qemu gives the guest: the CHS geometry, or "
        "'current size' for the tools known to write it exactly (Hyper-V, disk2vhd, Xen, qemu's "
        "force_size) and for the largest geometry (tests/formats/test_differential.py checks "
        "this rule against qemu-img).",
        _vhd_size),
    Allowed(
        "broken vhdx", "oslo.utils",
        "VHDX data whose region table, metadata table or virtual-size item cannot be followed "
        "(bad signature, no metadata region, counts over 2047, an item inside the table, a "
        "region before the table's end) is accepted by the reference with no virtual size: its "
        "VHDX safety check is empty and a failed inspector still reports the format. Glint "
        "refuses it as a broken VHDX, with the reason.",
        _broken_vhdx),
    Allowed(
        "qcow2 v2 features", "oslo.utils",
        "A version 2 qcow2 header ends at byte 72 and has no incompatible-features field; qemu "
        "ignores the bytes there (header extensions start at 72). The reference still tests the "
        "external-data-file bit in them and refuses the image; Glint checks features only in "
        "version 3.",
        _qcow2_v2_features),
    Allowed(
        "luks without payload", "oslo.utils",
        "A LUKS header whose payload offset lies beyond the end of the data gets a negative "
        "virtual size from the reference; Glint records none.",
        _luks_no_payload),
    Allowed(
        "vhdx size item length", "oslo.utils",
        "The reference captures as many bytes as the virtual-disk-size item's length field says "
        "and then fails (struct.error) to read its 8-byte value when that length is not 8; an "
        "upload to Glance would fail on an unexpected error. Glint reads the 8 bytes the value "
        "is, as qemu does.",
        _vhdx_item_length),
    Allowed(
        "iso as raw", "qemu-img",
        "qemu-img has no ISO 9660 driver and reports an ISO as raw, sized as the file. Glint, "
        "like Glance, takes it for iso and records the primary volume's size (blocks times block "
        "size), shorter than the file when partitions are appended to the volume.",
        _qemu_iso),
    Allowed(
        "partitioned disk as raw", "qemu-img",
        "qemu-img has no partition-table driver: an MBR or GPT disk is raw to it. Glint, like "
        "Glance, calls it gpt (to run the MBR checks); the virtual size is the same, the length.",
        _qemu_partitioned),
)


def explain(d: Disagreement) -> Allowed | None:
    """The entry that excuses `d`, if one does."""
    return next((a for a in ALLOWED if a.against == d.against and a.applies(d)), None)
