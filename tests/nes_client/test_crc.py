"""CRC-16/X-25 (spec §2)."""

from __future__ import annotations

from hypothesis import given, strategies as st
import pytest

from custom_components.nes_echelon.nes_client.crc import crc16_x25


def _bitwise_crc(data: bytes) -> int:
    """Plain bit-by-bit reference: reflected poly 0x8408, init 0xFFFF, xorout 0xFFFF."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


def test_check_value() -> None:
    assert crc16_x25(b"123456789") == 0x906E


def test_empty() -> None:
    # init 0xFFFF xor 0xFFFF.
    assert crc16_x25(b"") == 0x0000


@pytest.mark.parametrize(
    ("frame_hex"),
    [
        "EE 00 00 00 00 01 20 13 10",  # Identification
        "EE 00 20 00 00 01 52 17 20",  # Logoff
        "EE 00 00 00 00 01 21 9A 01",  # Terminate
        "EE 00 20 00 00 08 3F 00 17 00 00 00 00 08 03 F2",
        "EE 00 20 00 00 0C 00 00 08 FB 13 04 02 4D 89 1A 00 FC 92 F2",
        "EE 00 00 00 00 08 3F 00 1C 00 00 00 00 28 94 D5",
    ],
)
def test_real_frames_low_byte_first(frame_hex: str) -> None:
    frame = bytes.fromhex(frame_hex)
    assert crc16_x25(frame[:-2]) == frame[-2] | frame[-1] << 8


def test_detects_single_bit_flip() -> None:
    frame = bytearray.fromhex("EE 00 20 00 00 01 52")
    good = crc16_x25(bytes(frame))
    frame[6] ^= 0x01
    assert crc16_x25(bytes(frame)) != good


@given(st.binary(max_size=300))
def test_matches_bitwise_reference(data: bytes) -> None:
    assert crc16_x25(data) == _bitwise_crc(data)
