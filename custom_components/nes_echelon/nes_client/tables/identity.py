"""The open identification tables: BT00 General Configuration, BT01 Manufacturer
Identification and ET03 Utility Information (all readable without a key [OPT p.18, 19, 48])."""

from __future__ import annotations

from dataclasses import dataclass
import re

from ._common import FirmwareVersion, check_uint8, decode_text, encode_text, require_length

# --------------------------------------------------------------------------------------------
# BT00 General Configuration [OPT p.48-49; MEP p.196-198]

NI_FORMAT_INT32 = 0x88  # NI_FMAT1 and NI_FMAT2 both 8 = 4-byte signed integer
# Fixed bytes the guides print for NES meters (C12.19 GEN_CONFIG_TBL): nameplate type 2
# (electric), default set 0, max procedure parameter length 255, max response length 12,
# standard version 1, revision 0, dimensions of the tables/procedures-used sets (10, 13, 2, 12;
# 13 becomes 20 on firmware >= 4.0).
_DIM_STD_TBLS, _DIM_MFG_TBLS, _DIM_STD_PROC, _DIM_MFG_PROC = 10, 13, 2, 12
_NBR_PENDING = 3  # "2, 3 or 4"
_BT00_MIN = 18  # through byte 17
# The tables a simulated meter announces in STD_TBLS_USED / MFG_TBLS_USED.
_STD_TABLES_USED = (0, 1, 3, 20, 21, 22, 23, 27, 28, 52, 55)
_MFG_TABLES_USED = (3,)


@dataclass(frozen=True, slots=True)
class GeneralConfig:
    """BT00, the fields a reader needs.

    ``identification_bcd`` is byte 1 bit 5 (ID_FORM): True when BT01's serial number is BCD
    (8 bytes); both guides give 1 for NES meters.
    """

    little_endian: bool  # byte 0 bit 0 == 0
    ni_format: int  # byte 2: 0x88 = NI_FMAT1/NI_FMAT2 are INT32
    manufacturer: str  # bytes 3-6, "NES" or "ELON" (padding stripped)
    manufacturer_status_length: int  # byte 17: BT03 is 4 + this bytes long
    identification_bcd: bool = True  # byte 1 bit 5

    @property
    def bt03_size(self) -> int:
        """BT03's own length (4 standard bytes + the manufacturer status bytes)."""
        return 4 + self.manufacturer_status_length


def decode_general_config(data: bytes) -> GeneralConfig:
    require_length(data, _BT00_MIN, "BT00")
    return GeneralConfig(
        little_endian=not data[0] & 0x01,
        ni_format=data[2],
        manufacturer=decode_text(data[3:7]),
        manufacturer_status_length=data[17],
        identification_bcd=bool(data[1] & 0x20),
    )


def _bit_set(size: int, members: tuple[int, ...]) -> bytes:
    """A C12.19 SET: bit n = member n, byte n // 8, bit n % 8 (0 = least significant)."""
    out = bytearray(size)
    for member in members:
        out[member // 8] |= 1 << (member % 8)
    return bytes(out)


def encode_general_config(cfg: GeneralConfig) -> bytes:
    """A full 79-byte C12.19 GEN_CONFIG_TBL (19 fixed bytes + the six table/procedure sets)."""
    check_uint8(cfg.ni_format, "NI format")
    check_uint8(cfg.manufacturer_status_length, "manufacturer status length")
    head = bytes(
        (
            (0 if cfg.little_endian else 1) | 1 << 1,  # data order, char format 1 = ASCII
            # time format 2 (discrete UINT8s), data access 1 (offset-count), ID_FORM, INT_FORMAT 0
            2 | 1 << 3 | (1 << 5 if cfg.identification_bcd else 0),
            cfg.ni_format,
        )
    )
    fixed = bytes((2, 0, 255, 12, 1, 0, _DIM_STD_TBLS, _DIM_MFG_TBLS, _DIM_STD_PROC, _DIM_MFG_PROC))
    sets = (
        _bit_set(_DIM_STD_TBLS, _STD_TABLES_USED)
        + _bit_set(_DIM_MFG_TBLS, _MFG_TABLES_USED)
        + bytes(_DIM_STD_PROC + _DIM_MFG_PROC)  # procedures used: none announced
        + bytes(_DIM_STD_TBLS + _DIM_MFG_TBLS)  # tables writable: none
    )
    return (
        head
        + encode_text(cfg.manufacturer, 4, "manufacturer")
        + fixed
        + bytes((cfg.manufacturer_status_length, _NBR_PENDING))
        + sets
    )


# --------------------------------------------------------------------------------------------
# BT01 General Manufacturer Identification [OPT p.19; MEP p.199]
#
# Bytes 0-3 manufacturer, 4-11 model (left-justified), 12-13 "hardware version / revision"
# (OPT p.19 describes them as a second packed version: the application firmware), 14-15 the
# legally relevant firmware version, packed, byte 14 = most significant. Bytes 16+ the
# manufacturer serial number: C12.19 makes it STRING(16) when BT00 ID_FORM = 0 and BCD(8)
# when ID_FORM = 1; OPT p.19 prints "ARRAY[16] OF BCD (Field is 8 bytes in length)" and both
# guides give ID_FORM = 1, so by default it is 8 BCD bytes (a 24-byte table).

BT01_SIZE_BCD = 24
BT01_SIZE_CHAR = 32
_BCD_SERIAL = re.compile(r"[0-9A-F]{16}")


@dataclass(frozen=True, slots=True)
class ManufacturerIdentification:
    manufacturer: str
    model: str
    firmware: FirmwareVersion  # bytes 14-15
    hardware_version: int  # byte 12
    hardware_revision: int  # byte 13
    serial: str  # 16 BCD digits, or the 16-character string when ID_FORM = 0

    @property
    def application_firmware(self) -> FirmwareVersion:
        """Bytes 12-13 read as a packed version (byte 12 high), as OPT p.19 describes them."""
        return FirmwareVersion.from_packed(self.hardware_version << 8 | self.hardware_revision)


def decode_manufacturer_identification(
    data: bytes, *, bcd_serial: bool = True
) -> ManufacturerIdentification:
    """Decode BT01. ``bcd_serial`` = BT00 ``identification_bcd``.

    A BCD serial is shown digit for digit, leading zeros kept; a nibble above 9 (not valid BCD)
    shows as its hex digit A-F rather than being guessed at.
    """
    if bcd_serial:
        require_length(data, BT01_SIZE_BCD, "BT01")
        serial = bytes(data[16:24]).hex().upper()
    else:
        require_length(data, BT01_SIZE_CHAR, "BT01")
        serial = decode_text(data[16:32])
    return ManufacturerIdentification(
        manufacturer=decode_text(data[0:4]),
        model=decode_text(data[4:12]),
        firmware=FirmwareVersion.from_packed(data[14] << 8 | data[15]),
        hardware_version=data[12],
        hardware_revision=data[13],
        serial=serial,
    )


def encode_manufacturer_identification(
    ident: ManufacturerIdentification, *, bcd_serial: bool = True
) -> bytes:
    """Encode BT01: 24 bytes with a BCD serial (exactly 16 digits), else 32 bytes."""
    check_uint8(ident.hardware_version, "hardware version")
    check_uint8(ident.hardware_revision, "hardware revision")
    if bcd_serial:
        if not _BCD_SERIAL.fullmatch(ident.serial):
            raise ValueError(f"a BCD serial is exactly 16 digits, got {ident.serial!r}")
        serial = bytes.fromhex(ident.serial)
    else:
        serial = encode_text(ident.serial, 16, "serial")
    return (
        encode_text(ident.manufacturer, 4, "manufacturer")
        + encode_text(ident.model, 8, "model")
        + bytes((ident.hardware_version, ident.hardware_revision))
        + ident.firmware.packed.to_bytes(2, "big")
        + serial
    )


# --------------------------------------------------------------------------------------------
# ET03 Utility Information [OPT p.18; MEP p.55-56]: bytes 0-29 utility serial number
# (null-terminated CHAR), 30-136 reserved, 137-138 image CRC (UINT16, little-endian like every
# table field), 139-142 reserved: 143 bytes in all.

ET03_SIZE = 143
_ET03_SERIAL_SIZE = 30
_ET03_IMAGE_CRC = 137


def decode_utility_serial(data: bytes) -> str:
    """The utility serial number: the meter's unique id for the integration."""
    require_length(data, _ET03_SERIAL_SIZE, "ET03")
    raw = bytes(data[:_ET03_SERIAL_SIZE]).split(b"\x00", 1)[0]
    return decode_text(raw)


def encode_utility_information(serial: str, *, image_crc: int = 0) -> bytes:
    """A full 143-byte ET03: the serial NUL-terminated (unless it fills all 30 bytes)."""
    if "\x00" in serial:
        raise ValueError("the utility serial number cannot contain NUL")
    if not 0 <= image_crc <= 0xFFFF:
        raise ValueError(f"image CRC must be 16 bits, got {image_crc:#x}")
    out = bytearray(ET03_SIZE)
    raw = encode_text(serial, _ET03_SERIAL_SIZE, "utility serial")[: len(serial)]
    out[: len(raw)] = raw  # the rest stays NUL: terminator and padding
    out[_ET03_IMAGE_CRC : _ET03_IMAGE_CRC + 2] = image_crc.to_bytes(2, "little")
    return bytes(out)
