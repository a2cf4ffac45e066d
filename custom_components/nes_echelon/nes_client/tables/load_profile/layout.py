"""ET21 LP Internal Configuration, and the same layout computed from BT61 when ET21 is refused
(where each block, header and interval record sits inside a data table)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .._common import require_length
from .common import (
    ET21_NEEDED,
    ET21_SET_SIZE,
    MAX_CHANNELS,
    STIME_DATE_SIZE,
    decode_ltime_date,
    encode_ltime_date,
    extended_status_size,
    interval_record_size,
    simple_status_size,
)
from .sets import ActualLoadProfile, LoadProfileSet

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
        block_start=decode_ltime_date(data[83:89]) if len(data) >= 89 else None,
        interval_end=decode_ltime_date(data[94:100]) if len(data) >= 100 else None,
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
    out[83:89] = encode_ltime_date(config.block_start)
    out[94:100] = encode_ltime_date(config.interval_end)
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
