"""Status tables read every few minutes: BT03 alarms, BT52 UTC clock, BT55 local clock/tier."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime

from ._common import require_length

# --------------------------------------------------------------------------------------------
# BT03 End Device Mode Status [OPT p.45-47]
#
# Byte 0 is the mode byte; bytes 1-2 are one 16-bit SET (BOOL(0)..BOOL(15) at offset 1, so
# BOOL(n) sits in byte 1 + n // 8, bit n % 8); byte 3 the extended (standard) set; bytes 4 on
# the manufacturer set, BT00 byte 17 bytes long. Checked against OPT p.45-47: every position in
# the spec's §6 list matches the guide (Power Failure = BOOL(11) at offset 1 = byte 2 bit 3,
# Cover Removed BOOL(12) = byte 2 bit 4, Reverse Energy BOOL(13) = byte 2 bit 5).
# Doubt, left open: OPT p.49 gives BT00 byte 17 = 4 (BT03 = 8 bytes) and MEP p.198 gives 9
# (13 bytes), yet the guide lists bits up to byte 9 (fw 4.30). Reading 10 bytes regardless is
# safe: a read past a table's end returns zeros [OPT p.9]. So byte 8 (key expiration pending,
# fw 3.80) is required here and reads False on a meter whose BT03 stops at byte 7.

BT03_SIZE = 10
_BT03_MIN = 9  # through byte 8

_ALARM_BITS: tuple[tuple[str, int, int], ...] = (
    ("clock_error", 1, 6),
    ("measurement_error", 1, 7),
    ("power_failure", 2, 3),
    ("cover_removed", 2, 4),
    ("reverse_energy", 2, 5),
    ("phase_loss", 4, 4),
    ("phase_inversion", 4, 5),
    ("invalid_password", 5, 0),  # set by a wrong optical password [OPT p.46]
    ("dimension_change", 7, 0),  # re-read the dimension tables (BT21)
    ("magnetic_tamper", 7, 1),
    ("key_expiration_pending", 8, 2),  # fw 3.80 (also 2.04, 2.13, 3.13)
)


@dataclass(frozen=True, slots=True)
class Alarms:
    clock_error: bool = False
    measurement_error: bool = False
    power_failure: bool = False
    cover_removed: bool = False
    reverse_energy: bool = False
    phase_loss: bool = False
    phase_inversion: bool = False
    invalid_password: bool = False
    dimension_change: bool = False
    magnetic_tamper: bool = False
    key_expiration_pending: bool = False

    @property
    def active(self) -> tuple[str, ...]:
        """Names of the alarms that are set, in field order."""
        return tuple(f.name for f in fields(self) if getattr(self, f.name))


def decode_alarms(data: bytes) -> Alarms:
    require_length(data, _BT03_MIN, "BT03")
    return Alarms(
        **{name: bool(data[byte] >> bit & 1) for name, byte, bit in _ALARM_BITS},
    )


def encode_alarms(alarms: Alarms) -> bytes:
    """10 bytes of BT03; the bits this module does not model are 0."""
    out = bytearray(BT03_SIZE)
    out[0] = 0x01  # metering mode
    for name, byte, bit in _ALARM_BITS:
        if getattr(alarms, name):
            out[byte] |= 1 << bit
    return bytes(out)


# --------------------------------------------------------------------------------------------
# Clocks. LTIME_DATE = YY (2000 + YY), MM, DD, hh, mm, ss, then byte 6: bits 0-2 day of week
# (0 = Sunday), bit 3 DST in effect, bit 4 GMT, bit 5 time zone applied, bit 6 DST applied
# [MEP p.224-225 for BT52, p.229-231 for BT55].

_LTIME_DATE_SIZE = 6
BT52_SIZE = 7
_GMT = 1 << 4
_TZ_APPLIED = 1 << 5
_DST_APPLIED = 1 << 6


def _decode_ltime_date(data: bytes, what: str) -> tuple[int, int, int, int, int, int]:
    require_length(data, _LTIME_DATE_SIZE, what)
    yy, month, day, hour, minute, second = data[:_LTIME_DATE_SIZE]
    if yy > 99:
        raise ValueError(f"{what}: year byte {yy} is not two digits")
    return 2000 + yy, month, day, hour, minute, second


def _encode_ltime_date(dt: datetime, flags: int) -> bytes:
    if not 2000 <= dt.year <= 2099:
        raise ValueError(f"year {dt.year} does not fit a two-digit LTIME_DATE")
    weekday = dt.isoweekday() % 7  # ISO Sunday = 7 -> 0
    return bytes((dt.year - 2000, dt.month, dt.day, dt.hour, dt.minute, dt.second, weekday | flags))


def decode_clock(data: bytes) -> datetime:
    """BT52, the meter's clock in UTC (tz-aware). An impossible date raises ValueError."""
    year, month, day, hour, minute, second = _decode_ltime_date(data, "BT52")
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def encode_clock(dt: datetime) -> bytes:
    """7 bytes of BT52 for an aware datetime (converted to UTC; microseconds dropped).

    Byte 6: the weekday, GMT set (the guide's fixed value: this clock is UTC), DST flags 0.
    """
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("BT52 holds UTC: give an aware datetime")
    return _encode_ltime_date(dt.astimezone(UTC), _GMT)


# BT55 Local Clock State [MEP p.229-231]: LTIME_DATE (local, DST- and time-zone-adjusted
# wall clock), byte 6 as above (GMT 0, time zone applied 1, DST applied 1), then bytes 7-8 one
# little-endian 16-bit field: bits 0-2 current tier (0-based; 0-3, or 0-7 from fw 3.70),
# bits 3-5 filler, 6-7 tier drive, 8-11 special schedule active, 12-15 season. 9 bytes.

BT55_SIZE = 9
_BT55_TIER = 7


def decode_current_tier(data: bytes) -> int:
    """The tier in force now, 0-based (the meter's display calls tier 0 "Tier 1")."""
    require_length(data, _BT55_TIER + 1, "BT55")
    return data[_BT55_TIER] & 0x07


def decode_local_time(data: bytes) -> datetime:
    """BT55's local wall-clock time, naive (the meter's TOU clock has no zone attached)."""
    year, month, day, hour, minute, second = _decode_ltime_date(data, "BT55")
    return datetime(year, month, day, hour, minute, second)


def encode_local_clock(dt: datetime, tier: int) -> bytes:
    """9 bytes of BT55: ``dt``'s wall-clock fields as given (no zone conversion), the tier
    (0-7) in bits 0-2 of bytes 7-8; tier drive, special schedule and season 0."""
    if not 0 <= tier <= 7:
        raise ValueError(f"tier must be 0..7, got {tier}")
    fields16 = tier
    return _encode_ltime_date(dt, _TZ_APPLIED | _DST_APPLIED) + fields16.to_bytes(2, "little")
