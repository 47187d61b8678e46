"""Run every inspector over one stream at once.

`Detection.feed` takes the blocks of an upload as they pass (the caller
hands each block over once; nothing is re-read), `finish` marks the end.
An inspector that finds the data broken for its format drops out; the
others report whether the data matches them.
"""

from __future__ import annotations

import logging

from glint.formats.base import FormatError, Inspector, RawInspector
from glint.formats.disks import (
    GptInspector,
    IsoInspector,
    LuksInspector,
    PloopInspector,
    Qcow2Inspector,
    QedInspector,
    VdiInspector,
    VhdInspector,
    VhdxInspector,
)
from glint.formats.vmdk import SAFE_CREATE_TYPES, VmdkInspector

log = logging.getLogger(__name__)

# The formats Glance 33 identifies (oslo.utils' ALL_FORMATS).
GLANCE_INSPECTED = frozenset(
    {"raw", "qcow2", "vhd", "vhdx", "vmdk", "vdi", "qed", "iso", "gpt", "luks"}
)


class Detection:
    """The inspectors of one stream; feed blocks, then `finish()`."""

    def __init__(self, vmdk_allowed_types: frozenset[str] = SAFE_CREATE_TYPES) -> None:
        self.raw = RawInspector()
        self.inspectors: list[Inspector] = [
            Qcow2Inspector(), QedInspector(), VhdInspector(), VhdxInspector(),
            VmdkInspector(vmdk_allowed_types), VdiInspector(), IsoInspector(), GptInspector(),
            LuksInspector(), PloopInspector(),
        ]
        # Those that still want data: not settled, or watching the end.
        self._busy = list(self.inspectors)
        self.position = 0
        self.finished = False

    def feed(self, block: bytes) -> None:
        """Present the next block of the stream."""
        start = self.position
        self.position += len(block)
        self.raw.total = self.position
        if not block or not self._busy:
            return
        view = memoryview(block)
        for inspector in list(self._busy):
            try:
                inspector.feed(view, start)
            except (FormatError, ValueError, IndexError) as exc:  # struct.error is a ValueError
                self._drop(inspector, exc)
                continue
            if inspector.settled and inspector.tail is None:
                self._busy.remove(inspector)

    def finish(self) -> None:
        """The stream ended: let inspectors that wait for the end conclude."""
        self.finished = True
        for inspector in list(self.inspectors):
            inspector.total = self.position
            try:
                inspector.finish()
            except (FormatError, ValueError, IndexError) as exc:
                self._drop(inspector, exc)

    def _drop(self, inspector: Inspector, exc: Exception) -> None:
        log.debug("data is not %s: %s", inspector.name, exc)
        self.inspectors.remove(inspector)
        if inspector in self._busy:
            self._busy.remove(inspector)

    @property
    def size(self) -> int:
        return self.position

    def matches(self) -> list[Inspector]:
        """Every format the data matches; just raw when no richer one does."""
        if not self.finished:
            raise RuntimeError("matches() called before finish()")
        found = []
        for inspector in self.inspectors:
            try:
                if inspector.matches:
                    found.append(inspector)
            except (FormatError, ValueError, IndexError) as exc:
                log.debug("data is not %s: %s", inspector.name, exc)
        return found or [self.raw]


def inspect_bytes(data: bytes, block_size: int = 4 << 20,
                  vmdk_allowed_types: frozenset[str] = SAFE_CREATE_TYPES) -> Detection:
    """Run a detection over in-memory data (tests, small files)."""
    detection = Detection(vmdk_allowed_types)
    for start in range(0, len(data), block_size):
        detection.feed(data[start:start + block_size])
    detection.finish()
    return detection
