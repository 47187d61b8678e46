"""VMware VMDK: a sparse extent header with an embedded descriptor, or a
descriptor alone (text).

Only the single-file variants whose data lives in the file itself
(monolithicSparse, streamOptimized) are safe: any other create type names
extent files that qemu-img would open on the host. The descriptor is parsed
cautiously, line by line, as Glance does: anything not understood is refused.
"""

from __future__ import annotations

import struct

from glint.formats.base import FormatError, Inspector, Region, SafetyProblem, Tail

SAFE_CREATE_TYPES = frozenset({"monolithicsparse", "streamoptimized"})
EXTENT_ACCESS = ("rw", "rdonly", "noaccess")
CREATE_TYPE = 'createtype="'


class VmdkInspector(Inspector):
    name = "vmdk"
    MAGIC = b"KDMV"
    DESCRIPTOR_OFFSET = 512
    DESCRIPTOR_MAX = (1 << 20) - 1
    HEADER = 64
    GD_AT_END = 0xFFFFFFFFFFFFFFFF
    MARKER_EOS = 0
    MARKER_FOOTER = 3

    def __init__(self, allowed_types: frozenset[str] = SAFE_CREATE_TYPES) -> None:
        super().__init__()
        self.allowed_types = frozenset(t.lower() for t in allowed_types) & SAFE_CREATE_TYPES
        self.sparse: bool | None = None  # None until the first bytes tell
        self.needs_footer = False
        self.add_region("header", Region(0, self.HEADER))

    def _inspect(self) -> None:
        if self.sparse is None and (self.has("header") or self.finished):
            self._classify()
        if self.finished and self.sparse is False and "descriptor" in self.regions:
            # A text descriptor runs to the end of the data.
            self.regions["descriptor"].length = len(self.regions["descriptor"].data)

    def _classify(self) -> None:
        header = bytes(self.region("header").data)
        if header[:4] == self.MAGIC:
            self.sparse = True
            if len(header) < self.HEADER:
                raise FormatError("VMDK header is truncated")
            _magic, version, _flags, _capacity, _grain, desc_sector, desc_sectors = \
                struct.unpack_from("<4sIIQQQQ", header, 0)
            if version not in (1, 2, 3):
                raise FormatError(f"Unsupported VMDK version {version}")
            if desc_sector * 512 != self.DESCRIPTOR_OFFSET:
                raise FormatError("VMDK descriptor is not where qemu expects it")
            length = min(desc_sectors * 512, self.DESCRIPTOR_MAX)
            self.add_region("descriptor", Region(self.DESCRIPTOR_OFFSET, length))
            if struct.unpack_from("<Q", header, 56)[0] == self.GD_AT_END:
                # The real header is a footer at the end (streamOptimized).
                self.needs_footer = True
                self.tail = Tail(1536)
        elif header and _is_text(header):
            self.sparse = False
            self.regions["header"].length = len(header)
            # The descriptor starts at 0, in bytes that have already passed:
            # it begins with what the header region holds.
            descriptor = Region(0, self.DESCRIPTOR_MAX)
            descriptor.data += header
            self.add_region("descriptor", descriptor)
        else:
            self.sparse = False
            self.regions["header"].length = len(self.regions["header"].data)

    def descriptor_text(self) -> str | None:
        if "descriptor" not in self.regions:
            return None
        region = self.regions["descriptor"]
        if not region.complete:
            return None
        data = bytes(region.data).split(b"\x00", 1)[0]
        try:
            return data.decode("ascii").lower()
        except UnicodeDecodeError:
            return None

    def create_type(self) -> str | None:
        text = self.descriptor_text()
        if text is None:
            return None
        start = text.find(CREATE_TYPE)
        if start < 0:
            return None
        start += len(CREATE_TYPE)
        end = text.find('"', start)
        if end < 0 or end - start >= 64:
            return None
        return text[start:end]

    @property
    def matches(self) -> bool:
        if self.sparse:
            return True
        # Text naming a create type is a descriptor, even when the type cannot be
        # read (unterminated, too long): then it is refused, never taken for raw.
        text = self.descriptor_text()
        return self.sparse is False and text is not None and CREATE_TYPE in text

    @property
    def virtual_size(self) -> int:
        if not self.sparse or self.create_type() not in SAFE_CREATE_TYPES:
            return 0
        capacity: int = struct.unpack_from("<Q", self.region("header").data, 12)[0]
        return capacity * 512

    def safety_problems(self) -> list[SafetyProblem]:
        problem = self._descriptor_problem()
        problems = [SafetyProblem("descriptor", problem)] if problem else []
        if self.needs_footer:
            problem = self._footer_problem()
            if problem:
                problems.append(SafetyProblem("footer", problem))
        return problems

    def _descriptor_problem(self) -> str | None:
        text = self.descriptor_text()
        if not text:
            return "No VMDK descriptor found"
        create_type = self.create_type()
        if create_type not in self.allowed_types:
            return f"VMDK create type {create_type or '(none)'} is not allowed"
        extents = []
        for line in (raw.strip() for raw in text.split("\n")):
            if not line or line.startswith("#") or line.startswith("ddb"):
                continue
            if "=" in line and " " not in line.split("=", 1)[0]:
                continue
            if line.split(" ", 1)[0] in EXTENT_ACCESS:
                extents.append(line)
                continue
            return "Invalid VMDK descriptor data"
        if not extents:
            return "VMDK descriptor names no extents"
        if any("/" in extent for extent in extents):
            return "VMDK extent names a path"
        return None

    def _footer_problem(self) -> str | None:
        tail = bytes(self.tail.data) if self.tail else b""
        if len(tail) < 1536:
            return "VMDK footer missing"
        header = bytes(self.region("header").data)
        head = struct.unpack_from("<4sI", header, 0), struct.unpack_from("<QQ", header, 28)
        foot = struct.unpack_from("<4sI", tail, 512), struct.unpack_from("<QQ", tail, 540)
        if head[0] != foot[0]:
            return "VMDK header and footer signature or version differ"
        if head[1] != foot[1]:
            return "VMDK footer names a different descriptor"
        if struct.unpack_from("<Q", tail, 512 + 56)[0] == self.GD_AT_END:
            return "VMDK footer points to another footer"
        padding = b"\x00" * 496
        _value, size, kind = struct.unpack_from("<QII", tail, 0)
        if size != 0 or kind != self.MARKER_FOOTER or tail[16:512] != padding:
            return "VMDK footer marker is invalid"
        value, size, kind = struct.unpack_from("<QII", tail, 1024)
        if value != 0 or size != 0 or kind != self.MARKER_EOS or tail[1040:1536] != padding:
            return "VMDK end-of-stream marker is invalid"
        return None


def _is_text(data: bytes) -> bool:
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return False
    return all(char.isprintable() or char.isspace() for char in text)
