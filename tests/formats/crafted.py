"""Disk images built by hand, byte by byte, for the inspector tests."""

from __future__ import annotations

import struct
import uuid

MIB = 1 << 20


def qcow2(size: int = 64 * MIB, *, version: int = 3, backing: bool = False,
          features: int = 0) -> bytes:
    header = bytearray(512)
    struct.pack_into(">4sIQIIQ", header, 0, b"QFI\xfb", version, 512 if backing else 0,
                     8 if backing else 0, 16, size)
    if version == 3:
        struct.pack_into(">QQQII", header, 72, features, 0, 0, 4, 104)
    if backing:
        header[512 - 8:] = b"/etc/pa"[:7] + b"\x00"
    return bytes(header) + bytes(4096)


def qcow2_with(payload: bytes, size: int = 1 << 30) -> bytes:
    """A plausible qcow2 image: a valid version 3 header, then `payload` (whose
    length the result keeps, so callers choose the image size)."""
    return qcow2(size)[:512] + payload[512:]


def vmdk_sparse(capacity_sectors: int = 2048, descriptor: str | None = None,
                *, version: int = 1, desc_sector: int = 1, footer: bool = False) -> bytes:
    if descriptor is None:
        descriptor = (
            '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n'
            'createType="monolithicSparse"\n\n# Extent description\n'
            f'RW {capacity_sectors} SPARSE "disk.vmdk"\n\nddb.virtualHWVersion = "4"\n'
        )
    header = bytearray(512)
    gd_offset = 0xFFFFFFFFFFFFFFFF if footer else 21
    struct.pack_into("<4sIIQQQQIQQ", header, 0, b"KDMV", version, 3, capacity_sectors, 128,
                     desc_sector, 20, 512, 0, gd_offset)
    body = descriptor.encode().ljust(20 * 512, b"\x00")
    data = bytes(header) + body + bytes(4096)
    if footer:
        marker = struct.pack("<QII", 1, 0, 3).ljust(512, b"\x00")
        foot = bytearray(header)
        struct.pack_into("<Q", foot, 56, 21)
        eos = bytes(512)
        data += marker + bytes(foot) + eos
    return data


def vmdk_text(create_type: str, extent: str) -> bytes:
    return (
        f'# Disk DescriptorFile\nversion=1\nCID=fffffffe\ncreateType="{create_type}"\n'
        f'{extent}\nddb.adapterType = "ide"\n'
    ).encode()


def vhd(size: int = 32 * MIB) -> bytes:
    """A dynamic VHD made by qemu, whose geometry (4 heads, 16 sectors) gives `size`."""
    footer = bytearray(512)
    struct.pack_into(">8sIIQI4sI4sQQHBB", footer, 0, b"conectix", 2, 0x10000, 512, 0, b"qemu",
                     0x50003, b"Wi2k", size, size, size // 512 // 64, 4, 16)
    return bytes(footer) + bytes(1536)


def vdi(size: int = 16 * MIB) -> bytes:
    header = bytearray(512)
    header[:40] = b"<<< QEMU VM Virtual Disk Image >>>\n".ljust(40, b"\x00")
    struct.pack_into("<I", header, 0x40, 0xBEDA107F)
    struct.pack_into("<Q", header, 0x170, size)
    return bytes(header) + bytes(1024)


def iso(blocks: int = 40) -> bytes:
    data = bytearray(blocks * 2048)
    pvd = 32 * 1024
    data[pvd:pvd + 7] = b"\x01CD001\x01"
    struct.pack_into("<I", data, pvd + 80, blocks)
    struct.pack_into(">I", data, pvd + 84, blocks)
    struct.pack_into("<H", data, pvd + 128, 2048)
    struct.pack_into(">H", data, pvd + 130, 2048)
    return bytes(data)


def mbr(partitions: list[tuple[int, int, bytes, int]], length: int = 4096) -> bytes:
    """(boot flag, os type, start CHS, start LBA) per partition entry."""
    data = bytearray(length)
    for index, (boot, os_type, chs, lba) in enumerate(partitions):
        entry = 446 + 16 * index
        data[entry] = boot
        data[entry + 1:entry + 4] = chs
        data[entry + 4] = os_type
        struct.pack_into("<II", data, entry + 8, lba, 1000)
    data[510:512] = b"\x55\xaa"
    return bytes(data)


def gpt(length: int = 8192) -> bytes:
    return mbr([(0, 0xEE, b"\x00\x02\x00", 1)], length)


def luks(version: int = 1, payload_sectors: int = 4) -> bytes:
    header = bytearray(592)
    struct.pack_into(">6sH", header, 0, b"LUKS\xba\xbe", version)
    struct.pack_into(">I", header, 104, payload_sectors)
    return bytes(header) + bytes(payload_sectors * 512 + 4096 - 592)


def qed() -> bytes:
    return b"QED\x00" + bytes(4092)


def ploop(sectors: int = 4096) -> bytes:
    header = bytearray(64)
    struct.pack_into("<16sIIIIIQ", header, 0, b"WithoutFreeSpace", 2, 16, 1, 2048, 2, sectors)
    return bytes(header) + bytes(4096)


def vhdx(size: int = 48 * MIB) -> bytes:
    data = bytearray(2 * MIB + 128 * 1024)
    data[:8] = b"vhdxfile"
    table = 192 * 1024
    metadata = 2 * MIB
    struct.pack_into("<4sII", data, table, b"regi", 0, 2)
    bat = uuid.UUID("2DC27766-F623-4200-9D64-115E9BFD4A08").bytes_le
    meta = uuid.UUID("8B7CA206-4790-4B9A-B8FE-575F050F886E").bytes_le
    data[table + 16:table + 32] = bat
    struct.pack_into("<QII", data, table + 32, 3 * MIB, MIB, 1)
    data[table + 48:table + 64] = meta
    struct.pack_into("<QII", data, table + 64, metadata, MIB, 1)
    struct.pack_into("<8sHH", data, metadata, b"metadata", 0, 2)
    file_params = uuid.UUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B").bytes_le
    disk_size = uuid.UUID("2FA54224-CD1B-4876-B211-5DBED83BF4B8").bytes_le
    data[metadata + 32:metadata + 48] = file_params
    struct.pack_into("<III", data, metadata + 48, 65536, 8, 0)
    data[metadata + 64:metadata + 80] = disk_size
    struct.pack_into("<III", data, metadata + 80, 65544, 8, 0)
    struct.pack_into("<Q", data, metadata + 65544, size)
    return bytes(data)
