"""Glint's inspector proven against the reference (issue 10).

A corpus made by qemu-img, sfdisk and xorriso (every format and feature
Glint knows), then thousands of seeded mutations of its headers, must get
the same format, safety verdict and virtual size from Glint (fed in random
block sizes, as uploads arrive) as from oslo.utils' format_inspector, the
one Glance 33 uses, and, for the corpus, as from `qemu-img info`. Every
disagreement is excused by an entry of tests/formats/disagreements.py or
fails; any exception from Glint's inspector but its own rejection fails.

GLINT_INSPECTOR_SEED and GLINT_INSPECTOR_MUTANTS (per image) choose other
mutations; a case's id (image#index) rebuilds it with `mutate.mutants`.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import random
import struct
import subprocess
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from glint.formats.detect import Detection
from tests.formats.corpus import CorpusImage, build, ensure_tool, qemu_info
from tests.formats.disagreements import ALLOWED, Disagreement, explain
from tests.formats.mutate import Mutant, cuts, mutants
from tests.formats.readings import (
    Reading,
    differences,
    glint_detection,
    glint_reading,
    qemu_differences,
    reference_reading,
)

DEFAULT_SEED = 10
DEFAULT_MUTANTS = 200
SEED = int(os.environ.get("GLINT_INSPECTOR_SEED", DEFAULT_SEED))
MUTANTS = int(os.environ.get("GLINT_INSPECTOR_MUTANTS", DEFAULT_MUTANTS))


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[CorpusImage]:
    return build(tmp_path_factory.mktemp("inspector-corpus"))


@pytest.fixture
def quiet() -> Iterator[None]:
    """Both inspectors log every refusal; thousands of them would only slow the run."""
    loggers = [logging.getLogger(name) for name in ("oslo_utils", "glint.formats")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


class Tally:
    """Disagreements seen, by the entry that excused them, and those none did."""

    def __init__(self) -> None:
        self.excused: Counter[str] = Counter()
        self.unexcused: list[Disagreement] = []

    def check(self, d: Disagreement) -> None:
        if not d.differences:
            return
        entry = explain(d)
        if entry is None:
            self.unexcused.append(d)
        else:
            self.excused[entry.name] += 1

    def report(self, limit: int = 20) -> str:
        return "\n".join(
            f"{d.case} vs {d.against}: {d.differences}\n    glint={d.glint}\n    other={d.other}"
            for d in self.unexcused[:limit])

    def stale(self, against: str) -> list[str]:
        return [a.name for a in ALLOWED if a.against == against and a.name not in self.excused]


def _glint(data: bytes, rng: random.Random) -> Reading:
    """Glint's reading, checked to be the same whatever the block sizes."""
    streamed = glint_reading(glint_detection(data, rng))
    whole = glint_reading(glint_detection(data))
    assert streamed == whole, f"block sizes changed the reading: {streamed} != {whole}"
    return streamed


def test_corpus_covers_every_format_glint_knows(corpus: list[CorpusImage]) -> None:
    known = {inspector.name for inspector in Detection().inspectors} | {"raw"}
    seen = {glint_reading(glint_detection(image.data)).format for image in corpus}
    assert seen == known


def test_corpus_agrees_with_the_reference_and_qemu_img(corpus: list[CorpusImage],
                                                       quiet: None) -> None:
    tally = Tally()
    for image in corpus:
        readings = {_glint(image.data, random.Random(f"{image.name}/{n}")) for n in range(10)}
        assert len(readings) == 1, f"{image.name}: block sizes changed the reading: {readings}"
        glint = readings.pop()
        assert glint.safe == image.safe, f"{image.name}: {glint}"
        ref = reference_reading(image.data)
        tally.check(Disagreement(image.name, "oslo.utils", image.data, glint, ref,
                                 differences(glint, ref)))
        info = qemu_info(image)
        if info is not None:
            qemu = Reading(info.format, True, info.virtual_size,
                           frozenset({info.format}) - {"raw"})
            tally.check(Disagreement(image.name, "qemu-img", image.data, glint, qemu,
                                     qemu_differences(glint, qemu)))
    assert not tally.unexcused, tally.report()
    stale = tally.stale("qemu-img")
    assert not stale, f"entries that excuse nothing: {stale}"
    print(f"\ncorpus: {len(corpus)} images, excused: {dict(tally.excused)}")


def test_mutants_agree_with_the_reference_and_never_crash_glint(
    corpus: list[CorpusImage], quiet: None,
) -> None:
    tally, crashes, count = Tally(), [], 0
    started = time.monotonic()
    for image in corpus:
        for mutant in itertools.chain(cuts(image), mutants(image, MUTANTS, SEED)):
            count += 1
            try:
                glint = _glint(mutant.data, random.Random(mutant.id))
            except Exception:  # noqa: BLE001 - every crash is collected, then reported
                crashes.append(_crash(mutant))
                continue
            ref = reference_reading(mutant.data)
            tally.check(Disagreement(f"{mutant.id} {mutant.steps}", "oslo.utils", mutant.data,
                                     glint, ref, differences(glint, ref)))
    assert not crashes, "\n".join(crashes[:10])
    assert not tally.unexcused, f"{len(tally.unexcused)} unexcused:\n{tally.report()}"
    if (SEED, MUTANTS) == (DEFAULT_SEED, DEFAULT_MUTANTS):
        stale = tally.stale("oslo.utils")
        assert not stale, f"entries that excuse nothing: {stale}"
    print(f"\n{count} cut or mutated images in {time.monotonic() - started:.1f}s, "
          f"excused: {dict(tally.excused)}")


def _crash(mutant: Mutant) -> str:
    return f"{mutant.id} {mutant.steps}:\n{traceback.format_exc()}"


# (creator application, cylinders, heads, sectors, current size)
VHD_VARIANTS = [
    (b"qemu", 500, 4, 17, 32 << 20), (b"vpc ", 500, 4, 17, 32 << 20),
    (b"qemu", 65535, 16, 255, 32 << 20), (b"win ", 500, 4, 17, (1 << 20) + 100),
    (b"qem2", 500, 4, 17, 1 << 20), (b"d2v ", 0, 0, 0, 4 << 20), (b"CTXS", 500, 4, 17, 1 << 20),
    (b"tap\x00", 500, 4, 17, 1 << 20), (b"qemu", 0, 0, 0, 32 << 20),
]


@pytest.mark.parametrize(("creator", "cylinders", "heads", "sectors", "current"), VHD_VARIANTS)
def test_vhd_virtual_size_is_qemus(corpus: list[CorpusImage], tmp_path: Path, creator: bytes,
                                   cylinders: int, heads: int, sectors: int,
                                   current: int) -> None:
    data = bytearray(next(i for i in corpus if i.name == "dynamic.vhd").data)
    for footer in (0, len(data) - 512):
        data[footer + 28:footer + 32] = creator
        struct.pack_into(">QHBB", data, footer + 48, current, cylinders, heads, sectors)
        data[footer + 64:footer + 68] = bytes(4)
        # qemu refuses a footer whose checksum (one's complement of the byte sum) is wrong.
        checksum = ~sum(data[footer:footer + 512]) & 0xFFFFFFFF
        struct.pack_into(">I", data, footer + 64, checksum)
    (tmp_path / "disk.vhd").write_bytes(data)
    info = subprocess.run([ensure_tool("qemu-img"), "info", "--output=json", "disk.vhd"],
                          cwd=tmp_path, capture_output=True, text=True, check=True)
    glint = glint_reading(glint_detection(bytes(data)))
    assert (glint.format, glint.virtual_size) == ("vhd", json.loads(info.stdout)["virtual-size"])
