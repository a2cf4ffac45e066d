"""The load profile: BT61-BT63, the data tables BT64-BT67 and ET21 [OPT p.29-40; MEP p.29-34].

The meter logs up to 4 data sets, each up to 16 channels of INT32 register snapshots ("snapshot
mode": the value is the register at the end of the interval, not a delta) at its own interval.
Data lives in blocks (typically a day) in a circular list. A reader only reads: the list
headers and "unread" counters belong to the grid company's head-end.

Layouts, all little-endian (spec §6):

BT61 Actual Load Profile: 0-3 memory length (UINT32), 4-5 flags (UINT16: bits 0-3 inhibit
  overflow per set, 4 end readings, 5 end pulses, 6-9 scalars/divisors per set, 10 extended
  interval status, 11 simple interval status), 6 interval formats (bit 5 INT32), then per data
  set N at 7 + 6N: blocks (UINT16), intervals per block (UINT16), channels (UINT8), interval
  time (UINT8: 1-60 minutes, 84 = 24 h).
BT62 Load Profile Control, per set one after the other: channels x 3 bytes (flags: bit 0 end
  reading; interval source id; end-reading source id), 1 byte data format (32 = INT32), then
  if BT61 enables scalars for the set: channels x UINT16 scalars, channels x UINT16 divisors.
BT63 Load Profile Status, 13 bytes per set: 0 flags (bit 0 block order, 1 overflow, 2 circular
  list, 3 block inhibit overflow, 4 interval order, 5 active, 6 test mode), 1-2 valid blocks,
  3-4 last block (index of the newest), 5-8 last block sequence number (UINT32, +1 per block),
  9-10 unread blocks, 11-12 valid intervals in the newest block.
BT64-BT67 Load Profile Data, ARRAY[blocks] of: end time (STIME_DATE, UTC: end of the newest
  interval of the block, the block's end once it is complete), [end readings: INT32 x channels
  when BT61 bit 4], simple status SET((intervals + 7) / 8) (one bit per interval, 1 = valid;
  interval 0 = byte 0 bit 0, the C12.19 SET order), then intervals x records of
  extended status ((channels // 2) + 1 bytes) and INT32 x channels.
ET21 LP Internal Configuration, per set (131 bytes from firmware 3.50, where several sets
  exist; earlier firmware has one shorter element): 0 current block address, 4 current
  interval address (UINT32s), 8 block size (UINT32), 12 block header size, 14 valid blocks,
  16 valid intervals, 18 last block index, 20 last interval number (UINT16s), 22 simple-status
  offset, 23 simple-status size, 24 interval 0 offset, 25 interval record size, 26 channel 0
  offset, 27 extended status common, 28 channels, 29 interval time (UINT8s), 30-37 source ids
  of channels 0-7; 38-69 placeholders (fw 2.10q); 70-77 source ids 8-15, 78 LP config id,
  82 MEP billing start channel (fw 2.10s); 83-88 block start time (LTIME_DATE, UTC), 89-90
  requested block start hour and minute, 91-92 interval in progress, 93 options (fw 3.10);
  94-99 end of the last interval (UTC), 101-106 the same in local time (fw 3.30); 107-110 max
  memory length (fw 3.50), 111 flags (fw 3.60), 112-130 reserved. ET21 is MK/PK only on the
  optical port [OPT p.38]: an RK key gets "insufficient clearance" and the sizes must be
  computed from BT61 (see ``computed_layout``).

The guide's offsets give the 131-byte stride between sets (112 + 19 reserved bytes). Only bytes
0-37 are needed for reading; the later fields are decoded when present and never relied on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ._common import decode_int32_le, encode_int32_le, require_length

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

# BT61 flags (bytes 4-5, one UINT16)
_END_READINGS = 1 << 4
_END_PULSES = 1 << 5
_SCALARS_SET0 = 1 << 6
_EXTENDED_STATUS = 1 << 10
_SIMPLE_STATUS = 1 << 11
# BT61 byte 6
_FORMAT_INT32 = 1 << 5

# BT63 byte 0
_OVERFLOW = 1 << 1
_CIRCULAR = 1 << 2
_ACTIVE = 1 << 5

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


def _decode_ltime_date(data: bytes) -> datetime | None:
    """A UTC LTIME_DATE (STIME_DATE + seconds); None for the zeros of an unset field."""
    if not any(data[:6]):
        return None
    try:
        return decode_stime_date(data).replace(second=data[5])
    except ValueError:
        return None


def _encode_ltime_date(dt: datetime | None) -> bytes:
    if dt is None:
        return bytes(6)
    return encode_stime_date(dt) + bytes((dt.astimezone(UTC).second,))


# --------------------------------------------------------------------------------------------
# BT61 Actual Load Profile


@dataclass(frozen=True, slots=True)
class LoadProfileSet:
    """One data set's dimensions (BT61 at 7 + 6N)."""

    blocks: int
    intervals: int  # per block
    channels: int
    interval_time: int  # minutes 1-60, or 84 = 24 h

    @property
    def in_use(self) -> bool:
        return self.blocks > 0 and self.intervals > 0 and self.channels > 0

    @property
    def interval(self) -> timedelta:
        return interval_length(self.interval_time)

    @property
    def block_span(self) -> timedelta:
        """How much time one full block covers (typically a day; derived, never assumed)."""
        return self.intervals * self.interval

    @property
    def depth(self) -> timedelta:
        """How far back a full circular list reaches."""
        return self.blocks * self.block_span


@dataclass(frozen=True, slots=True)
class ActualLoadProfile:
    memory_length: int
    flags: int  # bytes 4-5
    formats: int  # byte 6
    sets: tuple[LoadProfileSet, ...]

    @property
    def end_readings(self) -> bool:
        return bool(self.flags & _END_READINGS)

    @property
    def extended_status(self) -> bool:
        return bool(self.flags & _EXTENDED_STATUS)

    @property
    def simple_status(self) -> bool:
        return bool(self.flags & _SIMPLE_STATUS)

    @property
    def int32_format(self) -> bool:
        return bool(self.formats & _FORMAT_INT32)

    def scalars(self, data_set: int) -> bool:
        """Whether BT62 carries scalars and divisors for this set (NES: never)."""
        return bool(self.flags & (_SCALARS_SET0 << data_set))


def bt61_size(sets: int) -> int:
    return BT61_HEADER + BT61_SET_SIZE * sets


def decode_actual_load_profile(data: bytes) -> ActualLoadProfile:
    """BT61. As many sets as the data holds (at most 4); trailing unused sets are dropped.

    A partial read past a table's end returns zeros [OPT p.9], so reading 31 bytes and
    dropping all-zero sets works whatever the number of sets the meter has.
    """
    require_length(data, bt61_size(1), "BT61")
    count = min(MAX_DATA_SETS, (len(data) - BT61_HEADER) // BT61_SET_SIZE)
    sets = []
    for n in range(count):
        at = BT61_HEADER + BT61_SET_SIZE * n
        sets.append(
            LoadProfileSet(
                blocks=int.from_bytes(data[at : at + 2], "little"),
                intervals=int.from_bytes(data[at + 2 : at + 4], "little"),
                channels=data[at + 4],
                interval_time=data[at + 5],
            )
        )
    while len(sets) > 1 and sets[-1] == LoadProfileSet(0, 0, 0, 0):
        sets.pop()
    return ActualLoadProfile(
        memory_length=int.from_bytes(data[0:4], "little"),
        flags=int.from_bytes(data[4:6], "little"),
        formats=data[6],
        sets=tuple(sets),
    )


def encode_actual_load_profile(profile: ActualLoadProfile) -> bytes:
    if not 1 <= len(profile.sets) <= MAX_DATA_SETS:
        raise ValueError(f"BT61 holds 1..4 data sets, got {len(profile.sets)}")
    out = bytearray(
        profile.memory_length.to_bytes(4, "little")
        + profile.flags.to_bytes(2, "little")
        + bytes((profile.formats,))
    )
    for item in profile.sets:
        out += item.blocks.to_bytes(2, "little") + item.intervals.to_bytes(2, "little")
        out += bytes((item.channels, item.interval_time))
    return bytes(out)


# --------------------------------------------------------------------------------------------
# BT62 Load Profile Control


@dataclass(frozen=True, slots=True)
class LoadProfileChannel:
    source: int  # interval source id (BT22 numbering: 0 import Wh, 1 export Wh, ...)
    end_reading: bool = False
    end_reading_source: int = 0


@dataclass(frozen=True, slots=True)
class LoadProfileControl:
    """One data set's channels (BT62)."""

    channels: tuple[LoadProfileChannel, ...]
    data_format: int = INT32_FORMAT
    scalars: tuple[int, ...] = field(default=())
    divisors: tuple[int, ...] = field(default=())


def bt62_set_size(channels: int, *, scalars: bool) -> int:
    return 3 * channels + 1 + (4 * channels if scalars else 0)


def bt62_size(profile: ActualLoadProfile) -> int:
    return sum(
        bt62_set_size(item.channels, scalars=profile.scalars(n))
        for n, item in enumerate(profile.sets)
    )


def decode_load_profile_control(
    data: bytes, profile: ActualLoadProfile
) -> tuple[LoadProfileControl, ...]:
    """BT62: one control per BT61 set, laid out one after the other."""
    require_length(data, bt62_size(profile), "BT62")
    controls = []
    at = 0
    for n, item in enumerate(profile.sets):
        channels = tuple(
            LoadProfileChannel(
                source=data[at + 3 * c + 1],
                end_reading=bool(data[at + 3 * c] & 0x01),
                end_reading_source=data[at + 3 * c + 2],
            )
            for c in range(item.channels)
        )
        at += 3 * item.channels
        data_format = data[at]
        at += 1
        scalars: tuple[int, ...] = ()
        divisors: tuple[int, ...] = ()
        if profile.scalars(n):
            scalars = _uint16s(data, at, item.channels)
            divisors = _uint16s(data, at + 2 * item.channels, item.channels)
            at += 4 * item.channels
        controls.append(LoadProfileControl(channels, data_format, scalars, divisors))
    return tuple(controls)


def _uint16s(data: bytes, at: int, count: int) -> tuple[int, ...]:
    return tuple(int.from_bytes(data[at + 2 * i : at + 2 * i + 2], "little") for i in range(count))


def encode_load_profile_control(
    controls: tuple[LoadProfileControl, ...] | list[LoadProfileControl],
    profile: ActualLoadProfile,
) -> bytes:
    if len(controls) != len(profile.sets):
        raise ValueError(f"{len(controls)} controls for {len(profile.sets)} data sets")
    out = bytearray()
    for n, (control, item) in enumerate(zip(controls, profile.sets, strict=True)):
        if len(control.channels) != item.channels:
            raise ValueError(
                f"set {n}: {len(control.channels)} channels, BT61 says {item.channels}"
            )
        for channel in control.channels:
            out += bytes((int(channel.end_reading), channel.source, channel.end_reading_source))
        out.append(control.data_format)
        if profile.scalars(n):
            if len(control.scalars) != item.channels or len(control.divisors) != item.channels:
                raise ValueError(f"set {n}: scalars and divisors need one value per channel")
            for value in (*control.scalars, *control.divisors):
                out += value.to_bytes(2, "little")
    return bytes(out)


# --------------------------------------------------------------------------------------------
# BT63 Load Profile Status


@dataclass(frozen=True, slots=True)
class LoadProfileStatus:
    """One set's status (BT63, 13 bytes per set)."""

    flags: int
    valid_blocks: int
    last_block: int  # index of the newest block; moves with the first valid interval
    last_sequence: int  # +1 per block, never reset: what was already imported
    unread_blocks: int  # the head-end's counter: leave it alone
    valid_intervals: int  # in the newest block

    @property
    def overflow(self) -> bool:
        return bool(self.flags & _OVERFLOW)

    @property
    def circular(self) -> bool:
        return bool(self.flags & _CIRCULAR)

    @property
    def active(self) -> bool:
        return bool(self.flags & _ACTIVE)


def decode_load_profile_status(data: bytes, sets: int = 1) -> tuple[LoadProfileStatus, ...]:
    require_length(data, BT63_SET_SIZE * sets, "BT63")
    result = []
    for n in range(sets):
        at = BT63_SET_SIZE * n
        result.append(
            LoadProfileStatus(
                flags=data[at],
                valid_blocks=int.from_bytes(data[at + 1 : at + 3], "little"),
                last_block=int.from_bytes(data[at + 3 : at + 5], "little"),
                last_sequence=int.from_bytes(data[at + 5 : at + 9], "little"),
                unread_blocks=int.from_bytes(data[at + 9 : at + 11], "little"),
                valid_intervals=int.from_bytes(data[at + 11 : at + 13], "little"),
            )
        )
    return tuple(result)


def encode_load_profile_status(
    statuses: tuple[LoadProfileStatus, ...] | list[LoadProfileStatus],
) -> bytes:
    out = bytearray()
    for status in statuses:
        out.append(status.flags)
        out += status.valid_blocks.to_bytes(2, "little")
        out += status.last_block.to_bytes(2, "little")
        out += status.last_sequence.to_bytes(4, "little")
        out += status.unread_blocks.to_bytes(2, "little")
        out += status.valid_intervals.to_bytes(2, "little")
    return bytes(out)


# --------------------------------------------------------------------------------------------
# ET21 LP Internal Configuration


@dataclass(frozen=True, slots=True)
class ProfileLayout:
    """Where things are inside one set's data table (ET21, or computed from BT61)."""

    block_size: int
    header_size: int
    simple_status_offset: int
    simple_status_size: int
    interval_offset: int  # of interval 0 in a block
    record_size: int
    channel_offset: int  # of channel 0 in a record

    def block_offset(self, index: int) -> int:
        return index * self.block_size

    def interval_offset_in_table(self, index: int, interval: int) -> int:
        return index * self.block_size + self.interval_offset + interval * self.record_size


@dataclass(frozen=True, slots=True)
class LpInternalConfiguration:
    """One set's ET21 element; fields past byte 37 are None when the element is shorter."""

    current_block_address: int
    current_interval_address: int
    block_size: int
    header_size: int
    valid_blocks: int
    valid_intervals: int
    last_block: int
    last_interval: int  # index of the newest interval in its block
    simple_status_offset: int
    simple_status_size: int
    interval_offset: int
    record_size: int
    channel_offset: int
    common_status: int
    channels: int
    interval_time: int
    sources: tuple[int, ...]  # channels 0-7 (bytes 30-37) + 8-15 (bytes 70-77) when present
    block_start: datetime | None = None  # bytes 83-88, fw 3.10
    interval_end: datetime | None = None  # bytes 94-99, fw 3.30

    @property
    def layout(self) -> ProfileLayout:
        return ProfileLayout(
            block_size=self.block_size,
            header_size=self.header_size,
            simple_status_offset=self.simple_status_offset,
            simple_status_size=self.simple_status_size,
            interval_offset=self.interval_offset,
            record_size=self.record_size,
            channel_offset=self.channel_offset,
        )


def _u16(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 2], "little")


def _u32(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 4], "little")


def decode_lp_internal_configuration(data: bytes) -> LpInternalConfiguration:
    """One set's ET21 element (at least 38 bytes; later fields decoded when present)."""
    require_length(data, ET21_NEEDED, "ET21")
    sources = tuple(data[30:38])
    if len(data) >= 78:
        sources += tuple(data[70:78])
    channels = data[28]
    return LpInternalConfiguration(
        current_block_address=_u32(data, 0),
        current_interval_address=_u32(data, 4),
        block_size=_u32(data, 8),
        header_size=_u16(data, 12),
        valid_blocks=_u16(data, 14),
        valid_intervals=_u16(data, 16),
        last_block=_u16(data, 18),
        last_interval=_u16(data, 20),
        simple_status_offset=data[22],
        simple_status_size=data[23],
        interval_offset=data[24],
        record_size=data[25],
        channel_offset=data[26],
        common_status=data[27],
        channels=channels,
        interval_time=data[29],
        sources=sources[:channels] if channels <= len(sources) else sources,
        block_start=_decode_ltime_date(data[83:89]) if len(data) >= 89 else None,
        interval_end=_decode_ltime_date(data[94:100]) if len(data) >= 100 else None,
    )


def encode_lp_internal_configuration(config: LpInternalConfiguration) -> bytes:
    """A full 131-byte ET21 element; sources beyond the channel count are 0."""
    if len(config.sources) > MAX_CHANNELS:
        raise ValueError(f"at most {MAX_CHANNELS} sources, got {len(config.sources)}")
    sources = bytes(config.sources).ljust(MAX_CHANNELS, b"\x00")
    out = bytearray(ET21_SET_SIZE)
    out[0:4] = config.current_block_address.to_bytes(4, "little")
    out[4:8] = config.current_interval_address.to_bytes(4, "little")
    out[8:12] = config.block_size.to_bytes(4, "little")
    out[12:14] = config.header_size.to_bytes(2, "little")
    out[14:16] = config.valid_blocks.to_bytes(2, "little")
    out[16:18] = config.valid_intervals.to_bytes(2, "little")
    out[18:20] = config.last_block.to_bytes(2, "little")
    out[20:22] = config.last_interval.to_bytes(2, "little")
    out[22:30] = bytes(
        (
            config.simple_status_offset,
            config.simple_status_size,
            config.interval_offset,
            config.record_size,
            config.channel_offset,
            config.common_status,
            config.channels,
            config.interval_time,
        )
    )
    out[30:38] = sources[:8]
    out[70:78] = sources[8:]
    out[83:89] = _encode_ltime_date(config.block_start)
    out[94:100] = _encode_ltime_date(config.interval_end)
    return bytes(out)


def computed_layout(item: LoadProfileSet, *, end_readings: bool) -> ProfileLayout:
    """The layout BT61 implies, for when ET21 is refused (optical RK key) [OPT p.35-36].

    header = end time (5) [+ end readings, INT32 x channels] + simple status; block = header +
    intervals x record. Whether a meter reserves end-reading space when BT61 says end readings
    are unsupported is unclear in the guide: check the result against BT61's memory length
    (``layout_matches``) and try the other variant if it disagrees.
    """
    status_offset = STIME_DATE_SIZE + (4 * item.channels if end_readings else 0)
    status_size = simple_status_size(item.intervals)
    header = status_offset + status_size
    record = interval_record_size(item.channels)
    return ProfileLayout(
        block_size=header + item.intervals * record,
        header_size=header,
        simple_status_offset=status_offset,
        simple_status_size=status_size,
        interval_offset=header,
        record_size=record,
        channel_offset=extended_status_size(item.channels),
    )


def layout_matches(profile: ActualLoadProfile, layouts: list[ProfileLayout]) -> bool:
    """Whether the sets' blocks x block sizes add up to BT61's memory length."""
    used = sum(
        item.blocks * layout.block_size
        for item, layout in zip(profile.sets, layouts, strict=True)
        if item.in_use
    )
    return used == profile.memory_length


# --------------------------------------------------------------------------------------------
# BT64-BT67 block header and interval records


@dataclass(frozen=True, slots=True)
class BlockHeader:
    end_time: datetime  # UTC: the newest interval's end; the block's end once complete
    valid: tuple[bool, ...]  # simple status, one per interval
    end_readings: tuple[int, ...] = field(default=())

    @property
    def newest_valid(self) -> int | None:
        """Index of the newest interval marked valid, if any."""
        for index in range(len(self.valid) - 1, -1, -1):
            if self.valid[index]:
                return index
        return None


def decode_block_header(
    data: bytes, layout: ProfileLayout, *, intervals: int, end_reading_channels: int = 0
) -> BlockHeader:
    """A block's header. ``end_reading_channels``: channels of end readings BT61 announces."""
    require_length(data, layout.header_size, "load profile block header")
    require_length(
        data, layout.simple_status_offset + simple_status_size(intervals), "simple status"
    )
    status = data[layout.simple_status_offset :]
    return BlockHeader(
        end_time=decode_stime_date(data, "block end time"),
        valid=tuple(bool(status[i // 8] >> (i % 8) & 1) for i in range(intervals)),
        end_readings=tuple(
            decode_int32_le(data, STIME_DATE_SIZE + 4 * c) for c in range(end_reading_channels)
        ),
    )


def encode_block_header(header: BlockHeader, layout: ProfileLayout) -> bytes:
    out = bytearray(layout.header_size)
    out[0:STIME_DATE_SIZE] = encode_stime_date(header.end_time)
    for c, value in enumerate(header.end_readings):
        out[STIME_DATE_SIZE + 4 * c : STIME_DATE_SIZE + 4 * c + 4] = encode_int32_le(value)
    for i, valid in enumerate(header.valid):
        if valid:
            out[layout.simple_status_offset + i // 8] |= 1 << (i % 8)
    return bytes(out)


@dataclass(frozen=True, slots=True)
class IntervalRecord:
    """One interval: common flags (DST_ACTIVE ... CLOCK_BACKWARD), a status code per channel,
    and each channel's INT32 register snapshot at the interval's end."""

    common: int
    channel_status: tuple[int, ...]
    values: tuple[int, ...]

    @property
    def power_failure(self) -> bool:
        return bool(self.common & POWER_FAILURE)

    @property
    def dst_active(self) -> bool:
        return bool(self.common & DST_ACTIVE)

    @property
    def clock_changed(self) -> bool:
        return bool(self.common & (CLOCK_FORWARD | CLOCK_BACKWARD))

    def value_usable(self, channel: int) -> bool:
        """The snapshot is a true register reading (codes 0, 2, 3); codes 4, 5, 12 and 15
        carry no usable value and the others (overflow, clock error, M-Bus trouble) none we
        can trust."""
        return self.channel_status[channel] in USABLE_CHANNEL_CODES


def decode_interval_record(
    data: bytes, channels: int, *, channel_offset: int = -1
) -> IntervalRecord:
    """Byte 0 high nibble: common flags; byte 0 low nibble: channel 0; byte 1 high: channel 1,
    byte 1 low: channel 2, ... [OPT p.36]. Values at ``channel_offset`` (default: right after
    the status bytes)."""
    status_size = extended_status_size(channels)
    offset = status_size if channel_offset < 0 else channel_offset
    require_length(data, max(status_size, offset + 4 * channels), "interval record")
    nibbles = []
    for c in range(channels):
        position = c + 1  # nibble 0 is the common status
        byte = data[position // 2]
        nibbles.append(byte >> 4 if position % 2 == 0 else byte & 0x0F)
    return IntervalRecord(
        common=data[0] & 0xF0,
        channel_status=tuple(nibbles),
        values=tuple(decode_int32_le(data, offset + 4 * c) for c in range(channels)),
    )


def encode_interval_record(record: IntervalRecord) -> bytes:
    channels = len(record.values)
    if len(record.channel_status) != channels:
        raise ValueError("one status code per channel")
    if record.common & 0x0F:
        raise ValueError(f"common flags live in the high nibble, got {record.common:#04x}")
    status = bytearray(extended_status_size(channels))
    status[0] = record.common
    for c, code in enumerate(record.channel_status):
        if not 0 <= code <= 0x0F:
            raise ValueError(f"a channel status is one nibble, got {code}")
        position = c + 1
        status[position // 2] |= code << 4 if position % 2 == 0 else code
    return bytes(status) + b"".join(encode_int32_le(value) for value in record.values)


# --------------------------------------------------------------------------------------------
# Source ids [MEP p.203-207]: which register a channel logs.

SOURCE_IMPORT_WH = 0
SOURCE_EXPORT_WH = 1
SOURCE_IMPORT_VARH = 2
SOURCE_EXPORT_VARH = 3
SOURCE_FWD_PLUS_REV_WH = 6
SOURCE_FWD_MINUS_REV_WH = 7
TIER_SOURCE_BASE = 29  # tier t's forward Wh = 29 + 11 t, reverse Wh = 30 + 11 t (tiers 0-3)
TIER_SOURCE_STRIDE = 11
TIER_SOURCE_TIERS = 4
MAPPED_SOURCES = range(112, 164)  # resolved through ET66; not interpreted here


@dataclass(frozen=True, slots=True)
class EnergySource:
    """An energy counter a channel may log: ``tier`` None for the total, else 0-based."""

    direction: str  # "import" or "export"
    tier: int | None = None


def energy_source(source: int) -> EnergySource | None:
    """The import/export Wh counter behind a source id, or None for anything else."""
    if source == SOURCE_IMPORT_WH:
        return EnergySource("import")
    if source == SOURCE_EXPORT_WH:
        return EnergySource("export")
    offset = source - TIER_SOURCE_BASE
    if 0 <= offset < TIER_SOURCE_STRIDE * TIER_SOURCE_TIERS:
        tier, kind = divmod(offset, TIER_SOURCE_STRIDE)
        if kind == 0:
            return EnergySource("import", tier)
        if kind == 1:
            return EnergySource("export", tier)
    return None


def source_name(source: int) -> str:
    """A short English label for diagnostics."""
    names = {
        SOURCE_IMPORT_WH: "import Wh",
        SOURCE_EXPORT_WH: "export Wh",
        SOURCE_IMPORT_VARH: "import varh",
        SOURCE_EXPORT_VARH: "export varh",
        SOURCE_FWD_PLUS_REV_WH: "import+export Wh",
        SOURCE_FWD_MINUS_REV_WH: "import-export Wh",
    }
    if source in names:
        return names[source]
    energy = energy_source(source)
    if energy is not None and energy.tier is not None:
        return f"tier {energy.tier + 1} {energy.direction} Wh"
    if source in MAPPED_SOURCES:
        return f"mapped source {source} (ET66)"
    return f"source {source}"
