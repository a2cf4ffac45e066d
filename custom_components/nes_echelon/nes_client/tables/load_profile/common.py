"""What every load-profile table shares: table ids, sizes, the interval status codes, the
interval and record arithmetic, and the STIME_DATE / LTIME_DATE codecs [OPT p.29-40]."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .._common import require_length

BT61 = 61  # Actual Load Profile
BT62 = 62  # Load Profile Control
BT63 = 63  # Load Profile Status
BT64 = 64  # Load Profile Data, data set 1 (BT65-BT67: sets 2-4)
ET21 = 0x0815  # LP Internal Configuration

MAX_DATA_SETS = 4
MAX_CHANNELS = 16
DAILY_INTERVAL = 84  # BT61 interval time for 24 h
INT32_FORMAT = 32  # BT62 data format: INT32, snapshot mode
ET21_SET_SIZE = 131  # one data set's element of ET21 (fw >= 3.50)
ET21_NEEDED = 38  # through the first 8 source ids: everything a reader uses

BT61_HEADER = 7
BT61_SET_SIZE = 6
BT63_SET_SIZE = 13
STIME_DATE_SIZE = 5

# Extended status, high nibble of byte 0: flags common to all channels [OPT p.36-37].
DST_ACTIVE = 0x10
POWER_FAILURE = 0x20
CLOCK_FORWARD = 0x40
CLOCK_BACKWARD = 0x80

# Channel status codes (one nibble per channel) [OPT p.37-38].
CHANNEL_OK = 0
CHANNEL_OVERFLOW = 1
CHANNEL_PARTIAL = 2  # clock set forward: a short interval
CHANNEL_LONG = 3  # clock set backward: a long interval
CHANNEL_SKIPPED = 4  # value zeroed
CHANNEL_TEST_MODE = 5
CHANNEL_DECRYPTION_FAILURE = 8
CHANNEL_CLOCK_ERROR = 9
CHANNEL_DEVICE_MISSING = 10
CHANNEL_NOT_CURRENT = 11
CHANNEL_OPT_OUT = 12
CHANNEL_PLACEHOLDER = 15
# A register snapshot is a true reading only with these codes; 2 and 3 cover an interval of
# irregular length but the value is still the register at the interval's end.
USABLE_CHANNEL_CODES = frozenset({CHANNEL_OK, CHANNEL_PARTIAL, CHANNEL_LONG})


def data_table(data_set: int) -> int:
    """BT64 for data set 0 (the guide's "Data Set 1"), BT65-BT67 for sets 1-3."""
    if not 0 <= data_set < MAX_DATA_SETS:
        raise ValueError(f"data set must be 0..3, got {data_set}")
    return BT64 + data_set


def interval_length(interval_time: int) -> timedelta:
    """BT61 / ET21 interval time: 1-60 minutes, or 84 for 24 hours."""
    if interval_time == DAILY_INTERVAL:
        return timedelta(hours=24)
    if not 1 <= interval_time <= 60:
        raise ValueError(f"interval time must be 1..60 or 84, got {interval_time}")
    return timedelta(minutes=interval_time)


def extended_status_size(channels: int) -> int:
    return channels // 2 + 1


def interval_record_size(channels: int) -> int:
    """One interval: extended status nibbles, then INT32 x channels."""
    return extended_status_size(channels) + 4 * channels


def simple_status_size(intervals: int) -> int:
    return (intervals + 7) // 8


# --------------------------------------------------------------------------------------------
# STIME_DATE (YY MM DD hh mm), here always UTC.


def decode_stime_date(data: bytes, what: str = "STIME_DATE") -> datetime:
    """A UTC STIME_DATE; an impossible date (an empty block's zeros) raises ValueError."""
    require_length(data, STIME_DATE_SIZE, what)
    yy, month, day, hour, minute = data[:STIME_DATE_SIZE]
    if yy > 99:
        raise ValueError(f"{what}: year byte {yy} is not two digits")
    try:
        return datetime(2000 + yy, month, day, hour, minute, tzinfo=UTC)
    except ValueError as err:
        raise ValueError(f"{what}: {err}") from err


def encode_stime_date(dt: datetime) -> bytes:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("load profile times are UTC: give an aware datetime")
    dt = dt.astimezone(UTC)
    if not 2000 <= dt.year <= 2099:
        raise ValueError(f"year {dt.year} does not fit a two-digit STIME_DATE")
    return bytes((dt.year - 2000, dt.month, dt.day, dt.hour, dt.minute))


def decode_ltime_date(data: bytes) -> datetime | None:
    """A UTC LTIME_DATE (STIME_DATE + seconds); None for the zeros of an unset field."""
    if not any(data[:6]):
        return None
    try:
        return decode_stime_date(data).replace(second=data[5])
    except ValueError:
        return None


def encode_ltime_date(dt: datetime | None) -> bytes:
    if dt is None:
        return bytes(6)
    return encode_stime_date(dt) + bytes((dt.astimezone(UTC).second,))
