"""Run every inspector over one stream at once.

`Detection.feed` takes the blocks of an upload as they pass (the caller
hands each block over once; nothing is re-read), `finish` marks the end.
An inspector that finds the data is not its format drops out; one whose
format the data claims (by its signature) but whose structure is broken
stays, marked `broken`, and fails its safety checks. Only FormatError is an
inspector's own verdict: any other exception is a defect and propagates.
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
            except FormatError as exc:
                self._reject(inspector, exc)
                continue
            if inspector.settled and inspector.tail is None:
                self._busy.remove(inspector)

    def finish(self) -> None:
        """The stream ended: let inspectors that wait for the end conclude."""
        self.finished = True
        for inspector in list(self.inspectors):
            inspector.total = self.position
            if inspector.broken is not None:
                continue
            try:
                inspector.finish()
            except FormatError as exc:
                self._reject(inspector, exc)

    def _reject(self, inspector: Inspector, exc: FormatError) -> None:
        """The inspector found the data broken for its format: the data is
        still that format when it carries its signature, else it is not."""
        if inspector in self._busy:
            self._busy.remove(inspector)
        if inspector.matches:
            log.debug("data is broken %s: %s", inspector.name, exc)
            inspector.broken = str(exc)
            return
        log.debug("data is not %s: %s", inspector.name, exc)
        self.inspectors.remove(inspector)

    @property
    def size(self) -> int:
        return self.position

    def matches(self) -> list[Inspector]:
        """Every format the data matches; just raw when no richer one does."""
        if not self.finished:
            raise RuntimeError("matches() called before finish()")
        return [inspector for inspector in self.inspectors if inspector.matches] or [self.raw]


def inspect_bytes(data: bytes, block_size: int = 4 << 20,
                  vmdk_allowed_types: frozenset[str] = SAFE_CREATE_TYPES) -> Detection:
    """Run a detection over in-memory data (tests, small files)."""
    detection = Detection(vmdk_allowed_types)
    for start in range(0, len(data), block_size):
        detection.feed(data[start:start + block_size])
    detection.finish()
    return detection
