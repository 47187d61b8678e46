"""Seeded, reproducible mutations of disk image headers.

Each mutant of a corpus image is made by its own `random.Random` seeded
with (seed, image name, index), so any single case can be rebuilt from its
id; `cuts` adds the image cut short at every structure's end, no chance
involved. One to three steps per mutant, each one of: a bit flip or a byte set to
a boundary value in the structures inspectors read (the first 4 KiB, the
VMDK descriptor and footer, the VHDX region and metadata tables, the ISO
volume descriptor, the VHD footer); a known header field (a version, a
length, an offset, a count, a size) set to a boundary value; a cut of the
data (a shorter stream); another format's signature written at its place.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from tests.formats.corpus import CorpusImage

KIB = 1024
VHDX_METADATA = bytes.fromhex("06a27c8b90479a4bb8fe575f050f886e")
VHDX_DISK_SIZE = bytes.fromhex("2442a52f1bcd7648b2115dbed83bf4b8")
BOUNDARY_BYTES = (0x00, 0x01, 0x02, 0x7F, 0x80, 0xFE, 0xFF)
MAGICS: tuple[tuple[int, bytes], ...] = (
    (0, b"QFI\xfb"), (0, b"QED\x00"), (0, b"KDMV"), (0, b"conectix"), (0, b"vhdxfile"),
    (0, b"LUKS\xba\xbe"), (0, b"WithoutFreeSpace"), (0x40, struct.pack("<I", 0xBEDA107F)),
    (32 * KIB + 1, b"CD001"), (510, b"\x55\xaa"),
    (0, b'# Disk DescriptorFile\ncreateType="monolithicSparse"\nRW 8 FLAT "/etc/hosts" 0\n'),
)


@dataclass(frozen=True)
class Span:
    offset: int
    length: int


@dataclass(frozen=True)
class Field:
    """A header field: `size` bytes at `offset`, "<" or ">" byte order."""

    name: str
    offset: int
    size: int
    order: str


@dataclass(frozen=True)
class Mutant:
    image: str
    label: str
    steps: tuple[str, ...]
    data: bytes

    @property
    def id(self) -> str:
        return f"{self.image}#{self.label}"


# Just short of, at and just past the ends of the first structures.
CUT_LENGTHS = (0, 1, 4, 6, 7, 8, 15, 16, 63, 64, 65, 511, 512, 513, 591, 592, 4095, 4096)


def cuts(image: CorpusImage) -> Iterator[Mutant]:
    """`image` cut short around the ends of the structures inspectors read
    (every one of these lengths: no randomness)."""
    ends = {span.offset + span.length for span in hot_spans(image)} | {len(image.data)}
    if image.family == "vmdk" and image.data[:4] != b"KDMV":
        # A text descriptor: its lines and quoted values end at newlines and quotes.
        ends |= {at for at, byte in enumerate(image.data) if byte in b'\n"'}
    lengths = set(CUT_LENGTHS) | {end + delta for end in ends for delta in (-513, -512, -1, 0, 1)}
    for length in sorted(n for n in lengths if 0 <= n < len(image.data)):
        yield Mutant(image.name, f"cut{length}", (f"cut to {length} bytes",), image.data[:length])


def mutants(image: CorpusImage, count: int, seed: int) -> Iterator[Mutant]:
    """`count` mutants of `image`, the same ones for the same seed."""
    spans = hot_spans(image)
    fields = known_fields(image)
    for index in range(count):
        rng = random.Random(f"{seed}/{image.name}/{index}")
        data = bytearray(image.data)
        steps = []
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            step = rng.choices(STEPS, weights=(3, 3, 5, 2, 1, 1))[0]
            steps.append(step(rng, data, spans, fields))
        yield Mutant(image.name, str(index), tuple(steps), bytes(data))


def _spot(rng: random.Random, data: bytearray, spans: list[Span]) -> int:
    span = rng.choice(spans)
    return span.offset + rng.randrange(max(min(span.length, len(data) - span.offset), 1))


def _flip(rng: random.Random, data: bytearray, spans: list[Span], _f: list[Field]) -> str:
    offset, bit = _spot(rng, data, spans), rng.randrange(8)
    if offset >= len(data):
        return "flip past the end (nothing)"
    data[offset] ^= 1 << bit
    return f"flip bit {bit} at {offset}"


def _set_byte(rng: random.Random, data: bytearray, spans: list[Span], _f: list[Field]) -> str:
    offset, value = _spot(rng, data, spans), rng.choice(BOUNDARY_BYTES)
    if offset >= len(data):
        return "byte past the end (nothing)"
    data[offset] = value
    return f"byte at {offset} = {value:#x}"


def _boundaries(old: int, size: int, length: int) -> list[int]:
    top = (1 << (8 * size)) - 1
    values = [0, 1, 2, 3, 0x7F, 0x80, 0xFF, 0x200, 0x1000, top >> 1, (top >> 1) + 1, top, top - 1,
              old + 1, old - 1, old * 2, old // 2, old << 9, old >> 9, length, length // 512,
              length + 1, length - 1]
    return [value & top for value in values]


def _set_field(rng: random.Random, data: bytearray, spans: list[Span], fields: list[Field]) -> str:
    usable = [f for f in fields if f.offset + f.size <= len(data)]
    if not usable:
        return _set_word(rng, data, spans, fields)
    field = rng.choice(usable)
    old = int.from_bytes(data[field.offset:field.offset + field.size],
                         "little" if field.order == "<" else "big")
    new = rng.choice(_boundaries(old, field.size, len(data)))
    data[field.offset:field.offset + field.size] = new.to_bytes(
        field.size, "little" if field.order == "<" else "big")
    return f"{field.name} at {field.offset}: {old:#x} -> {new:#x}"


def _set_word(rng: random.Random, data: bytearray, spans: list[Span], _f: list[Field]) -> str:
    size = rng.choice((2, 4, 8))
    offset = _spot(rng, data, spans) // size * size
    if offset + size > len(data):
        return "word past the end (nothing)"
    order: Literal["little", "big"] = rng.choice(("little", "big"))
    new = rng.choice(_boundaries(0, size, len(data)))
    data[offset:offset + size] = new.to_bytes(size, order)
    return f"{size}-byte {order}-endian word at {offset} = {new:#x}"


def _cut(rng: random.Random, data: bytearray, spans: list[Span], _f: list[Field]) -> str:
    where = rng.choice(("spot", "short", "end", "anywhere"))
    if where == "spot":
        length = _spot(rng, data, spans)
    elif where == "short":
        length = rng.choice(CUT_LENGTHS)
    elif where == "end":
        length = len(data) - rng.choice((1, 2, 511, 512, 513, 1024, 1535, 1536))
    else:
        length = rng.randrange(len(data) + 1)
    length = max(0, min(length, len(data)))
    del data[length:]
    return f"cut to {length} bytes"


def _splice(rng: random.Random, data: bytearray, _s: list[Span], _f: list[Field]) -> str:
    offset, magic = rng.choice(MAGICS)
    if offset + len(magic) > len(data):
        return "signature past the end (nothing)"
    data[offset:offset + len(magic)] = magic
    return f"signature {magic[:16]!r} at {offset}"


Step = Callable[[random.Random, bytearray, list[Span], list[Field]], str]
STEPS: tuple[Step, ...] = (_flip, _set_byte, _set_field, _set_word, _cut, _splice)


def hot_spans(image: CorpusImage) -> list[Span]:
    """The byte ranges of `image` that inspectors read."""
    data, family = image.data, image.family
    spans = [Span(0, min(4 * KIB, len(data)))]
    if family == "iso":
        spans.append(Span(32 * KIB, 2 * KIB))
    if family == "vmdk" and data[:4] == b"KDMV":
        sectors = struct.unpack_from("<Q", data, 36)[0]
        spans.append(Span(512, min(sectors * 512, 16 * KIB)))
    if family in ("vmdk", "vpc"):
        spans.append(Span(max(len(data) - 1536, 0), min(1536, len(data))))
    if family == "vhdx":
        table, metadata, item = _vhdx_layout(data)
        spans += [Span(192 * KIB, 16 + 32 * 4), Span(metadata, 32 + 32 * 8), Span(item, 8)]
    return [span for span in spans if span.offset < len(data)]


def _vhdx_layout(data: bytes) -> tuple[int, int, int]:
    """Offsets of the region table, the metadata table and the virtual disk size item."""
    table = 192 * KIB
    count = struct.unpack_from("<I", data, table + 8)[0]
    metadata = next(struct.unpack_from("<Q", data, table + 32 + 32 * i)[0] for i in range(count)
                    if data[table + 16 + 32 * i:table + 32 + 32 * i] == VHDX_METADATA)
    items = struct.unpack_from("<H", data, metadata + 10)[0]
    item = next(metadata + struct.unpack_from("<I", data, metadata + 48 + 32 * i)[0]
                for i in range(items)
                if data[metadata + 32 + 32 * i:metadata + 48 + 32 * i] == VHDX_DISK_SIZE)
    return table, metadata, item


def _fields(order: str, base: int, *spec: tuple[str, int, int]) -> list[Field]:
    return [Field(name, base + offset, size, order) for name, offset, size in spec]


SPARSE_VMDK = (("version", 4, 4), ("flags", 8, 4), ("capacity", 12, 8), ("grain", 20, 8),
               ("descriptor offset", 28, 8), ("descriptor size", 36, 8), ("gtes", 44, 4),
               ("rgd offset", 48, 8), ("gd offset", 56, 8))
VHD_FOOTER = (("cookie", 0, 8), ("features", 8, 4), ("version", 12, 4), ("data offset", 16, 8),
              ("original size", 40, 8), ("current size", 48, 8), ("geometry", 56, 4),
              ("disk type", 60, 4), ("checksum", 64, 4))
FIELDS: dict[str, list[Field]] = {
    "qcow2": _fields(">", 0, ("magic", 0, 4), ("version", 4, 4), ("backing offset", 8, 8),
                     ("backing size", 16, 4), ("cluster bits", 20, 4), ("size", 24, 8),
                     ("crypt method", 32, 4), ("l1 size", 36, 4), ("incompatible", 72, 8),
                     ("compatible", 80, 8), ("autoclear", 88, 8), ("header length", 100, 4)),
    "qed": _fields("<", 0, ("magic", 0, 4), ("cluster size", 4, 4), ("header size", 12, 4),
                   ("features", 16, 8), ("image size", 48, 8), ("backing offset", 56, 4)),
    "vdi": _fields("<", 0, ("signature", 0x40, 4), ("version", 0x44, 4), ("header size", 0x48, 4),
                   ("type", 0x4C, 4), ("disk size", 0x170, 8), ("block size", 0x178, 4)),
    "parallels": _fields("<", 0, ("version", 16, 4), ("bat entries", 32, 4), ("sectors", 36, 8),
                         ("data offset", 48, 4)),
    "luks": _fields(">", 0, ("version", 6, 2), ("payload offset", 104, 4), ("key bytes", 108, 4),
                    ("digest iterations", 164, 4), ("slot 0 active", 208, 4),
                    ("slot 0 key offset", 248, 4), ("slot 0 stripes", 252, 4)),
    "iso": _fields("<", 32 * KIB, ("descriptor type", 0, 1), ("blocks", 80, 4),
                   ("block size", 128, 2)),
    "gpt": [f for i in range(4) for f in _fields("<", 446 + 16 * i, ("boot flag", 0, 1),
                                                ("start head", 1, 1), ("start sector", 2, 1),
                                                ("type", 4, 1), ("start lba", 8, 4))]
           + _fields("<", 0, ("signature", 510, 2), ("fat count", 0x10, 1), ("media", 0x15, 1)),
}


def known_fields(image: CorpusImage) -> list[Field]:
    """The header fields of `image` that carry versions, lengths, offsets and sizes."""
    data, family = image.data, image.family
    fields = list(FIELDS.get(family, []))
    if family == "vmdk" and data[:4] == b"KDMV":
        fields += _fields("<", 0, *SPARSE_VMDK)
        if struct.unpack_from("<Q", data, 56)[0] == (1 << 64) - 1:
            fields += _fields("<", len(data) - 1024, *SPARSE_VMDK)
            fields += _fields("<", len(data) - 1536, ("footer marker", 0, 8), ("marker type", 12, 4))
            fields += _fields("<", len(data) - 512, ("eos marker", 0, 8), ("eos type", 12, 4))
    if family == "vpc":
        fields += _fields(">", len(data) - 512, *VHD_FOOTER)
        if data[:8] == b"conectix":
            fields += _fields(">", 0, *VHD_FOOTER)
            fields += _fields(">", 512, ("table offset", 16, 8), ("table entries", 28, 4),
                              ("block size", 32, 4))
    if family == "vhdx":
        table, metadata, item = _vhdx_layout(data)
        fields += _fields("<", table, ("region count", 8, 4), ("region 0 offset", 32, 8),
                          ("region 1 offset", 64, 8), ("region 1 length", 72, 4))
        fields += _fields("<", metadata, ("item count", 10, 2), ("item 0 offset", 48, 4),
                          ("item 1 offset", 80, 4), ("item 2 offset", 112, 4))
        fields += [Field("virtual disk size", item, 8, "<")]
    return fields
