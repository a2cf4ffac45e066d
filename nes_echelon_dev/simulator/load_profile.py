"""A simulated load profile that agrees with the meter's own energy registers.

The profile keeps its own clock (UTC), moved only by ``advance()``: each interval end it passes
records a snapshot of the registers at exactly that moment, so a test can let days pass in one
call ("fast-forward": Home Assistant down for N hours while the meter keeps counting) and knows
to the Wh what every interval holds. It serves BT61, BT62, BT63, BT64-BT67 and ET21 through
``SimulatedMeter.table()``, on both ports, with the client's own encoders.

What it models, per data set: an interval of 1-60 minutes (or 84 = 24 h), channels logging any
source id (import/export Wh, per-tier Wh, varh), a circular list of blocks of a fixed number of
intervals (blocks begin on multiples of the block span from 2000-01-01 00:00 UTC, so 96 x 15
minutes begins at midnight UTC), power failures (the intervals they touch are flagged, the
registers stand still), clock steps (forward: skipped intervals stay invalid, the landing one is
"partial"; backward, within one interval: "long"), skipped values, and the DST flag of a time
zone. Block sequence numbers count up from ``first_sequence`` and are never reset.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from custom_components.nes_echelon.nes_client import tables
from custom_components.nes_echelon.nes_client.tables import (
    BlockHeader,
    IntervalRecord,
    LoadProfileChannel,
    LoadProfileControl,
    LoadProfileSet,
    LoadProfileStatus,
    LpInternalConfiguration,
    ProfileLayout,
)
from custom_components.nes_echelon.nes_client.tables.load_profile import (
    BT61,
    BT62,
    BT63,
    BT64,
    CHANNEL_LONG,
    CHANNEL_OK,
    CHANNEL_PARTIAL,
    CHANNEL_SKIPPED,
    CLOCK_BACKWARD,
    CLOCK_FORWARD,
    DST_ACTIVE,
    ET21,
    MAX_DATA_SETS,
    POWER_FAILURE,
    SOURCE_EXPORT_WH,
    SOURCE_FWD_MINUS_REV_WH,
    SOURCE_FWD_PLUS_REV_WH,
    SOURCE_IMPORT_WH,
    TIER_SOURCE_BASE,
    TIER_SOURCE_STRIDE,
    computed_layout,
    interval_length,
)

ANCHOR = datetime(2000, 1, 1, tzinfo=UTC)
_BT61_FLAGS = 1 << 10 | 1 << 11  # extended and simple interval status, nothing else
_BT61_FORMATS = 1 << 5  # INT32
_BT63_FLAGS = 1 << 2 | 1 << 5  # circular list, active


class Registers(Protocol):
    """What the profile samples: ``energy[block][summation]``, block 0 the total, 1.. tiers;
    summations 0-3 import Wh, export Wh, import varh, export varh (SimulatedMeter.energy)."""

    energy: list[list[float]]


@dataclass(frozen=True, slots=True)
class ProfileSetConfig:
    """One data set: its interval (minutes, or 84 = 24 h), the source id of each channel,
    how many blocks the circular list holds, and how many intervals make a block."""

    interval_time: int = 15
    sources: tuple[int, ...] = (SOURCE_IMPORT_WH, SOURCE_EXPORT_WH)
    blocks: int = 10
    intervals_per_block: int = 96

    @property
    def interval(self) -> timedelta:
        return interval_length(self.interval_time)

    @property
    def span(self) -> timedelta:
        return self.intervals_per_block * self.interval


@dataclass
class _Block:
    sequence: int
    start: datetime
    end_time: datetime
    valid: list[bool]
    records: list[IntervalRecord | None]


@dataclass
class _Set:
    config: ProfileSetConfig
    layout: ProfileLayout
    ring: list[_Block | None]
    index: int = -1  # of the newest block
    sequence: int = 0  # of the newest block
    valid_blocks: int = 0
    last_interval: int = 0
    pending_common: int = 0  # flags for the interval in progress
    pending_code: int = CHANNEL_OK

    @property
    def newest(self) -> _Block | None:
        return self.ring[self.index] if self.index >= 0 else None


def register_value(registers: Registers, source: int) -> int:
    """The whole Wh/varh a channel with this source id logs (0 for sources not modelled)."""
    energy = registers.energy
    total = energy[0]
    direct = {0: total[0], 1: total[1], 2: total[2], 3: total[3]}
    if source in direct:
        return int(direct[source])
    if source == SOURCE_FWD_PLUS_REV_WH:
        return int(total[0] + total[1])
    if source == SOURCE_FWD_MINUS_REV_WH:
        return int(total[0] - total[1])
    offset = source - TIER_SOURCE_BASE
    tier, kind = divmod(offset, TIER_SOURCE_STRIDE)
    if offset >= 0 and kind < 4 and 1 + tier < len(energy):
        return int(energy[1 + tier][kind])
    return 0


class SimulatedLoadProfile:
    """Up to four data sets recording the registers of the meter they are attached to."""

    def __init__(
        self,
        sets: Sequence[ProfileSetConfig] = (ProfileSetConfig(),),
        *,
        start: datetime,
        first_sequence: int = 1,
        dst_zone: str | None = None,
        reserve_end_readings: bool = False,
    ) -> None:
        if not 1 <= len(sets) <= MAX_DATA_SETS:
            raise ValueError(f"1..4 data sets, got {len(sets)}")
        if start.tzinfo is None:
            raise ValueError("give the profile clock as an aware datetime")
        self.clock = start.astimezone(UTC)
        self.first_sequence = first_sequence
        self.dst_zone = ZoneInfo(dst_zone) if dst_zone else None
        # A meter that reserves end-reading space in each block header although BT61 says end
        # readings are unsupported (the guide leaves it open): tests the reader's size check.
        self.reserve_end_readings = reserve_end_readings
        self._outage = False
        self._sets = [self._new_set(config) for config in sets]
        self._cache: dict[int, bytes] = {}

    def _new_set(self, config: ProfileSetConfig) -> _Set:
        dims = self._dimensions(config)
        layout = computed_layout(dims, end_readings=self.reserve_end_readings)
        return _Set(config=config, layout=layout, ring=[None] * config.blocks)

    @staticmethod
    def _dimensions(config: ProfileSetConfig) -> LoadProfileSet:
        return LoadProfileSet(
            blocks=config.blocks,
            intervals=config.intervals_per_block,
            channels=len(config.sources),
            interval_time=config.interval_time,
        )

    # -- time ------------------------------------------------------------------------------

    def _next_end(self, data_set: _Set) -> datetime:
        interval = data_set.config.interval
        elapsed = (self.clock - ANCHOR) // interval
        return ANCHOR + (elapsed + 1) * interval

    def advance(
        self, registers: Registers, seconds: float, accrue: Callable[[float], None]
    ) -> None:
        """Let ``seconds`` pass: ``accrue(s)`` grows the registers by s seconds of load, in
        pieces that end exactly on interval ends, where each set records its snapshot."""
        remaining = timedelta(seconds=seconds)
        while remaining > timedelta(0):
            boundary = min(self._next_end(item) for item in self._sets)
            step = min(remaining, boundary - self.clock)
            accrue(step.total_seconds())
            self.clock += step
            remaining -= step
            if self.clock == boundary:
                for item in self._sets:
                    if self._next_end_is(item, boundary):
                        self._record(item, boundary, registers)

    def _next_end_is(self, data_set: _Set, moment: datetime) -> bool:
        return (moment - ANCHOR) % data_set.config.interval == timedelta(0)

    def power_failure(self, registers: Registers, seconds: float) -> None:
        """The meter is off for ``seconds``: the registers stand still, the profile clock runs
        on, and every interval the outage touches carries the power-failure flag."""
        self._outage = True
        try:
            self.advance(registers, seconds, lambda _: None)
        finally:
            self._outage = False
        for item in self._sets:
            if not self._next_end_is(item, self.clock):
                item.pending_common |= POWER_FAILURE

    def step_clock(self, delta: timedelta) -> None:
        """Set the meter's clock forward or backward (a backward step stays within the
        interval in progress of every set). Intervals jumped over stay invalid."""
        if delta >= timedelta(0):
            self.clock += delta
            for item in self._sets:
                item.pending_common |= CLOCK_FORWARD
                item.pending_code = CHANNEL_PARTIAL
            return
        for item in self._sets:
            start = self._next_end(item) - item.config.interval
            if self.clock + delta <= start:
                raise ValueError("a backward step must stay within the interval in progress")
        self.clock += delta
        for item in self._sets:
            item.pending_common |= CLOCK_BACKWARD
            item.pending_code = CHANNEL_LONG

    def _dst(self, moment: datetime) -> bool:
        if self.dst_zone is None:
            return False
        return bool(moment.astimezone(self.dst_zone).dst())

    # -- recording -------------------------------------------------------------------------

    def _record(self, data_set: _Set, end: datetime, registers: Registers) -> None:
        config = data_set.config
        interval = config.interval
        block_start = ANCHOR + ((end - interval - ANCHOR) // config.span) * config.span
        index = (end - block_start) // interval - 1
        newest = data_set.newest
        if newest is None or newest.start != block_start:
            if newest is not None:
                newest.end_time = newest.start + config.span  # complete: the block's end
            data_set.index = (data_set.index + 1) % config.blocks
            data_set.sequence = self.first_sequence if newest is None else data_set.sequence + 1
            data_set.valid_blocks = min(data_set.valid_blocks + 1, config.blocks)
            newest = _Block(
                sequence=data_set.sequence,
                start=block_start,
                end_time=end,
                valid=[False] * config.intervals_per_block,
                records=[None] * config.intervals_per_block,
            )
            data_set.ring[data_set.index] = newest
        common = data_set.pending_common | (POWER_FAILURE if self._outage else 0)
        if self._dst(end - interval):
            common |= DST_ACTIVE
        newest.records[index] = IntervalRecord(
            common=common,
            channel_status=(data_set.pending_code,) * len(config.sources),
            values=tuple(register_value(registers, source) for source in config.sources),
        )
        newest.valid[index] = True
        newest.end_time = end
        data_set.last_interval = index
        data_set.pending_common = 0
        data_set.pending_code = CHANNEL_OK
        self._cache.clear()

    def mark_skipped(self, end: datetime, *, data_set: int = 0) -> None:
        """Mark the interval ending at ``end`` as skipped (status 4, values zeroed)."""
        block, index = self._find(self._sets[data_set], end)
        record = block.records[index]
        assert record is not None
        block.records[index] = IntervalRecord(
            common=record.common,
            channel_status=(CHANNEL_SKIPPED,) * len(record.values),
            values=(0,) * len(record.values),
        )
        self._cache.clear()

    def _find(self, data_set: _Set, end: datetime) -> tuple[_Block, int]:
        for block in data_set.ring:
            if block is None:
                continue
            index = (end - block.start) // data_set.config.interval - 1
            if 0 <= index < data_set.config.intervals_per_block and block.valid[index]:
                return block, index
        raise KeyError(f"no interval ends at {end.isoformat()}")

    def reading(self, end: datetime, *, data_set: int = 0) -> IntervalRecord | None:
        """What the profile holds for the interval ending at ``end`` (None: nothing)."""
        try:
            block, index = self._find(self._sets[data_set], end.astimezone(UTC))
        except KeyError:
            return None
        return block.records[index]

    def oldest_end(self, *, data_set: int = 0) -> datetime | None:
        """The end of the oldest valid interval still held."""
        item = self._sets[data_set]
        ends = [
            block.start + (index + 1) * item.config.interval
            for block in item.ring
            if block is not None
            for index, valid in enumerate(block.valid)
            if valid
        ]
        return min(ends, default=None)

    def sequence(self, *, data_set: int = 0) -> int:
        return self._sets[data_set].sequence

    # -- tables ----------------------------------------------------------------------------

    def table(self, table_id: int) -> bytes | None:
        if table_id not in (BT61, BT62, BT63, ET21) and not (
            BT64 <= table_id < BT64 + len(self._sets)
        ):
            return None
        if table_id not in self._cache:
            self._cache[table_id] = self._build(table_id)
        return self._cache[table_id]

    def _actual(self) -> tables.ActualLoadProfile:
        return tables.ActualLoadProfile(
            memory_length=sum(item.config.blocks * item.layout.block_size for item in self._sets),
            flags=_BT61_FLAGS,
            formats=_BT61_FORMATS,
            sets=tuple(self._dimensions(item.config) for item in self._sets),
        )

    def _build(self, table_id: int) -> bytes:
        if table_id == BT61:
            return tables.encode_actual_load_profile(self._actual())
        if table_id == BT62:
            controls = [
                LoadProfileControl(tuple(LoadProfileChannel(s) for s in item.config.sources))
                for item in self._sets
            ]
            return tables.encode_load_profile_control(controls, self._actual())
        if table_id == BT63:
            return tables.encode_load_profile_status([self._status(item) for item in self._sets])
        if table_id == ET21:
            return b"".join(
                tables.encode_lp_internal_configuration(self._internal(item)) for item in self._sets
            )
        return self._data(self._sets[table_id - BT64])

    def _status(self, item: _Set) -> LoadProfileStatus:
        return LoadProfileStatus(
            flags=_BT63_FLAGS,
            valid_blocks=item.valid_blocks,
            last_block=max(item.index, 0),
            last_sequence=item.sequence,
            unread_blocks=item.valid_blocks,
            valid_intervals=item.last_interval + 1 if item.valid_blocks else 0,
        )

    def _internal(self, item: _Set) -> LpInternalConfiguration:
        layout = item.layout
        newest = item.newest
        return LpInternalConfiguration(
            current_block_address=layout.block_offset(max(item.index, 0)),
            current_interval_address=layout.interval_offset_in_table(
                max(item.index, 0), item.last_interval
            ),
            block_size=layout.block_size,
            header_size=layout.header_size,
            valid_blocks=item.valid_blocks,
            valid_intervals=item.last_interval + 1 if item.valid_blocks else 0,
            last_block=max(item.index, 0),
            last_interval=item.last_interval,
            simple_status_offset=layout.simple_status_offset,
            simple_status_size=layout.simple_status_size,
            interval_offset=layout.interval_offset,
            record_size=layout.record_size,
            channel_offset=layout.channel_offset,
            common_status=item.pending_common,
            channels=len(item.config.sources),
            interval_time=item.config.interval_time,
            sources=item.config.sources,
            block_start=newest.start if newest else None,
            interval_end=newest.end_time if newest else None,
        )

    def _data(self, item: _Set) -> bytes:
        layout = item.layout
        out = bytearray(item.config.blocks * layout.block_size)
        channels = len(item.config.sources)
        empty = IntervalRecord(0, (0,) * channels, (0,) * channels)
        for index, block in enumerate(item.ring):
            if block is None:
                continue
            at = layout.block_offset(index)
            header = BlockHeader(end_time=block.end_time, valid=tuple(block.valid))
            out[at : at + layout.header_size] = tables.encode_block_header(header, layout)
            for j, record in enumerate(block.records):
                start = layout.interval_offset_in_table(index, j)
                out[start : start + layout.record_size] = tables.encode_interval_record(
                    record or empty
                )
        return bytes(out)
