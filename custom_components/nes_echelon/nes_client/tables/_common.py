"""Table ids, the packed firmware version and the byte helpers every table codec shares.

All multi-byte table fields are little-endian (BT00 byte 0 bit 0 = 0) [OPT p.5-7; MEP p.40-42].
"""

from __future__ import annotations

from dataclasses import dataclass

BT00 = 0  # General Configuration (open)
BT01 = 1  # General Manufacturer Identification (open)
BT03 = 3  # End Device Mode Status: alarms
BT20 = 20  # Dimension Register: read it when BT21 answers "inappropriate action"
BT21 = 21  # Actual Register: the dimensions of BT23/BT28
BT22 = 22  # Data Selection: source id of each BT23 summation
BT23 = 23  # Current Register Data: energy summations
BT27 = 27  # Present Register Selection: source id of each BT28 slot
BT28 = 28  # Present Register Data: instantaneous values
BT52 = 52  # UTC clock
BT55 = 55  # Local clock state (tier in force)
ET03 = 0x0803  # Utility Information (open): utility serial number

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


def require_length(data: bytes, needed: int, what: str) -> None:
    """Raise ValueError unless ``data`` holds at least ``needed`` bytes."""
    if len(data) < needed:
        raise ValueError(f"{what}: need at least {needed} bytes, got {len(data)}")


def check_uint8(value: int, what: str) -> None:
    if not 0 <= value <= 0xFF:
        raise ValueError(f"{what} must be 0..255, got {value}")


def decode_int32_le(data: bytes, offset: int) -> int:
    """The signed little-endian INT32 (NI_FMAT1/2 with BT00 byte 2 = 0x88) at ``offset``."""
    if offset < 0 or offset + 4 > len(data):
        raise ValueError(f"INT32 at offset {offset} lies outside {len(data)} bytes of data")
    return int.from_bytes(data[offset : offset + 4], "little", signed=True)


def encode_int32_le(value: int) -> bytes:
    if not INT32_MIN <= value <= INT32_MAX:
        raise ValueError(f"{value} does not fit a signed 32-bit register")
    return value.to_bytes(4, "little", signed=True)


def decode_text(raw: bytes) -> str:
    """A fixed-size CHAR field, NULs and spaces stripped (latin-1: never fails on odd bytes)."""
    return raw.decode("latin-1").strip(" \x00")


def encode_text(text: str, size: int, what: str) -> bytes:
    """A left-justified, space-padded CHAR field of exactly ``size`` bytes (ASCII only)."""
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError as err:
        raise ValueError(f"{what} must be ASCII: {text!r}") from err
    if len(raw) > size:
        raise ValueError(f"{what} is longer than {size} characters: {text!r}")
    return raw.ljust(size, b" ")


@dataclass(frozen=True, slots=True, order=True)
class FirmwareVersion:
    """A firmware version x.yy.zz; ordered, so ``firmware >= FirmwareVersion(3, 50)`` gates.

    Packed in 16 bits [OPT p.19; MEP p.199]: x = bits 15-12, yy = bits 11-5, zz = bits 4-0
    (0x3018 = 3.00.24, 0x3155 = 3.10.21). The guides give yy a range of 0..99; the bit field
    holds up to 127, and that is what is accepted here so that every 16-bit value decodes.
    """

    major: int
    minor: int
    patch: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.major <= 0x0F:
            raise ValueError(f"firmware major version must be 0..15, got {self.major}")
        if not 0 <= self.minor <= 0x7F:
            raise ValueError(f"firmware minor version must be 0..127, got {self.minor}")
        if not 0 <= self.patch <= 0x1F:
            raise ValueError(f"firmware build number must be 0..31, got {self.patch}")

    @classmethod
    def from_packed(cls, value: int) -> FirmwareVersion:
        if not 0 <= value <= 0xFFFF:
            raise ValueError(f"a packed firmware version is 16 bits, got {value:#x}")
        return cls(value >> 12, (value >> 5) & 0x7F, value & 0x1F)

    @property
    def packed(self) -> int:
        return (self.major << 12) | (self.minor << 5) | self.patch

    def __str__(self) -> str:
        return f"{self.major}.{self.minor:02d}.{self.patch:02d}"
