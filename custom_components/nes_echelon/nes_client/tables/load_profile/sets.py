"""BT61 Actual Load Profile, BT62 Load Profile Control and BT63 Load Profile Status: each
data set's dimensions, channels and state (layouts in the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from .._common import require_length
from .common import (
    BT61_HEADER,
    BT61_SET_SIZE,
    BT63_SET_SIZE,
    INT32_FORMAT,
    MAX_DATA_SETS,
    interval_length,
)

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
