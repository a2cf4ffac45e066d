"""CRC-16/X-25, the checksum that closes every ANSI C12.18 frame (spec §2).

Reflected polynomial 0x8408 (0x1021 bit-reversed), initial value 0xFFFF, final XOR 0xFFFF.
The frame carries the result low byte first.
"""

from __future__ import annotations

_POLY = 0x8408


def _make_table() -> tuple[int, ...]:
    table: list[int] = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _make_table()


def crc16_x25(data: bytes) -> int:
    """Return the CRC-16/X-25 of ``data`` (``b"123456789"`` gives 0x906E)."""
    crc = 0xFFFF
    table = _TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc ^ 0xFFFF
