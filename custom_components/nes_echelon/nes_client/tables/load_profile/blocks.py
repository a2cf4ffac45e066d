"""BT64-BT67 Load Profile Data: a block's header and its interval records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .._common import decode_int32_le, encode_int32_le, require_length
from .common import (
    CLOCK_BACKWARD,
    CLOCK_FORWARD,
    DST_ACTIVE,
    POWER_FAILURE,
    STIME_DATE_SIZE,
    USABLE_CHANNEL_CODES,
    decode_stime_date,
    encode_stime_date,
    extended_status_size,
    simple_status_size,
)
from .layout import ProfileLayout

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
