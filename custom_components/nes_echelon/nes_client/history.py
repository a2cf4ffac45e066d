"""The meter's own history: its load profile, read newest first, one response at a time.

The recipe [OPT p.30-31; MEP p.30-31]: once per connection BT61 (dimensions) and BT62 (which
register each channel logs); before each read BT63 (valid blocks, newest block L, its sequence
number S, valid intervals in it) and ET21 (block and record sizes); then partial reads of the
data table. Block k back from the newest is at index (L - k) mod blocks with sequence S - k;
interval j of a block ends at ``end time - (j_last - j) x interval`` (times are UTC; the
schedule ignores DST), j_last being the newest valid interval of the newest block (read from
the same header, so the two always agree) and the last interval of a complete one.

Pieces fit one response (``link.max_read``), so a caller that runs one piece between its
regular polls never delays a poll by more than one request; pass a ``gate`` to wrap every
request (e.g. to take the port's lock for exactly one exchange). A read is resumable from the
``Cursor`` of the last piece delivered: a block sequence number and an interval index, which
stay valid while the meter starts new blocks (indexes move; sequence numbers do not).

Where ET21 is refused (an optical RK key: "insufficient clearance") the sizes are computed from
BT61 and accepted only if they add up to BT61's memory length.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
import contextlib
from contextlib import AbstractAsyncContextManager
from datetime import datetime
import logging
from typing import TypeAlias

from . import tables
from .client import MeterClient
from .errors import InappropriateAction, InsufficientClearance, ServiceNotSupported
from .history_types import (
    Cursor,
    DataSet,
    HistoryPiece,
    IntervalReading,
    LayoutSource,
    NoLoadProfile,
    ProfileChannel,
    ProfileConfiguration,
    ProfileExtent,
    ProfileState,
)
from .tables import ActualLoadProfile, BlockHeader, ProfileLayout
from .tables.load_profile import (
    BT61_HEADER,
    BT61_SET_SIZE,
    BT63_SET_SIZE,
    ET21_NEEDED,
    INT32_FORMAT,
    MAX_DATA_SETS,
    bt62_size,
)

_LOGGER = logging.getLogger(__package__)

MULTI_SET_FIRMWARE = tables.FirmwareVersion(3, 50, 0)

RequestGate: TypeAlias = Callable[[], AbstractAsyncContextManager[object]]

__all__ = [
    "MULTI_SET_FIRMWARE",
    "Cursor",
    "DataSet",
    "HistoryPiece",
    "IntervalReading",
    "LayoutSource",
    "LoadProfileReader",
    "NoLoadProfile",
    "ProfileChannel",
    "ProfileConfiguration",
    "ProfileExtent",
    "ProfileState",
    "RequestGate",
]


class LoadProfileReader:
    """Reads one meter's load profile through a connected MeterClient."""

    def __init__(self, client: MeterClient, *, gate: RequestGate | None = None) -> None:
        self.client = client
        self._gate = gate
        self._configuration: ProfileConfiguration | None = None
        self._layouts: dict[int, tuple[ProfileLayout, LayoutSource]] = {}
        self._et21_refused = False
        self.requests = 0

    # -- requests --------------------------------------------------------------------------

    async def _read(self, table_id: int, offset: int, count: int) -> bytes:
        """Read in pieces of at most max_read bytes, each request on its own through the gate."""
        step = self.client.link.max_read
        parts = []
        for start in range(offset, offset + count, step):
            size = min(step, offset + count - start)
            gate = self._gate() if self._gate is not None else contextlib.nullcontext()
            async with gate:
                self.requests += 1
                parts.append(await self.client.read_table(table_id, start, size))
        return b"".join(parts)

    # -- configuration and state -----------------------------------------------------------

    async def configuration(self) -> ProfileConfiguration:
        """BT61 and BT62, once per reader (one reader per connection)."""
        if self._configuration is not None:
            return self._configuration
        identity = self.client.identity
        sets = MAX_DATA_SETS
        if identity is not None and identity.firmware < MULTI_SET_FIRMWARE:
            sets = 1
        try:
            data = await self._read(tables.BT61, 0, BT61_HEADER + BT61_SET_SIZE * sets)
        except (InappropriateAction, ServiceNotSupported) as err:
            raise NoLoadProfile(f"the meter has no load profile tables ({err})") from err
        actual = tables.decode_actual_load_profile(data)
        if not any(item.in_use for item in actual.sets):
            raise NoLoadProfile("the meter logs no load profile (BT61 has no data set)")
        if not actual.int32_format:
            raise NoLoadProfile(f"load profile format {actual.formats:#04x} is not INT32")
        size = bt62_size(actual)
        controls = tables.decode_load_profile_control(
            await self._read(tables.BT62, 0, size), actual
        )
        data_sets = tuple(
            DataSet(
                index=n,
                dimensions=item,
                channels=tuple(
                    ProfileChannel(c, channel.source, tables.energy_source(channel.source))
                    for c, channel in enumerate(control.channels)
                ),
            )
            for n, (item, control) in enumerate(zip(actual.sets, controls, strict=True))
            if item.in_use and control.data_format == INT32_FORMAT
        )
        self._configuration = ProfileConfiguration(actual=actual, sets=data_sets)
        return self._configuration

    async def state(self, data_set: int) -> ProfileState:
        """BT63 and ET21 for one set: re-read before each history read [OPT p.31]."""
        config = await self.configuration()
        status = tables.decode_load_profile_status(
            await self._read(tables.BT63, BT63_SET_SIZE * data_set, BT63_SET_SIZE)
        )[0]
        last_interval: int | None = None
        if not self._et21_refused:
            try:
                internal = tables.decode_lp_internal_configuration(
                    await self._read(tables.ET21, tables.ET21_SET_SIZE * data_set, ET21_NEEDED)
                )
            except InsufficientClearance:
                # An optical RK key may not read ET21 [OPT p.38]: compute the sizes instead.
                _LOGGER.debug("ET21 refused with this key; computing the profile's layout")
                self._et21_refused = True
            else:
                last_interval = internal.last_interval
                self._layouts[data_set] = (internal.layout, "et21")
        if data_set not in self._layouts:
            self._layouts[data_set] = (self._computed_layout(config.actual, data_set), "computed")
        layout, source = self._layouts[data_set]
        return ProfileState(data_set, status, layout, source, last_interval)

    @staticmethod
    def _computed_layout(actual: ActualLoadProfile, data_set: int) -> ProfileLayout:
        for end_readings in dict.fromkeys((actual.end_readings, True, False)):
            layouts = [
                tables.computed_layout(item, end_readings=end_readings) for item in actual.sets
            ]
            if tables.layout_matches(actual, layouts):
                return layouts[data_set]
        raise NoLoadProfile(
            "ET21 is refused and the block sizes computed from BT61 do not add up to its "
            f"memory length ({actual.memory_length} bytes)"
        )

    # -- data ------------------------------------------------------------------------------

    async def _header(
        self, data_set: DataSet, state: ProfileState, index: int
    ) -> BlockHeader | None:
        layout = state.layout
        data = await self._read(
            tables.data_table(data_set.index), layout.block_offset(index), layout.header_size
        )
        try:
            return tables.decode_block_header(data, layout, intervals=data_set.dimensions.intervals)
        except ValueError as err:  # an empty or half-written block
            _LOGGER.debug("load profile block %d has no valid header: %s", index, err)
            return None

    @staticmethod
    def _newest_index(header: BlockHeader, *, newest: bool, intervals: int) -> int | None:
        """j_last: the newest valid interval of the newest block, the last of a complete one."""
        return header.newest_valid if newest else intervals - 1

    async def extent(self, data_set: DataSet) -> ProfileExtent | None:
        """The oldest and newest interval ends held now (two header reads); None if empty."""
        state = await self.state(data_set.index)
        status = state.status
        if status.valid_blocks == 0:
            return None
        blocks = data_set.dimensions.blocks
        interval = data_set.interval
        newest_header = await self._header(data_set, state, status.last_block % blocks)
        if newest_header is None or (last := newest_header.newest_valid) is None:
            return None
        # The oldest block; if it was just overwritten (newer than the newest we read) or is
        # unreadable, the one after it.
        for k in range(status.valid_blocks - 1, -1, -1):
            header: BlockHeader | None = newest_header
            if k:
                header = await self._header(data_set, state, (status.last_block - k) % blocks)
            if header is None or (k and header.end_time >= newest_header.end_time):
                continue
            first = next((j for j, valid in enumerate(header.valid) if valid), None)
            if first is None:
                continue
            oldest_last = data_set.dimensions.intervals - 1 if k else last
            return ProfileExtent(
                oldest=header.end_time - (oldest_last - first) * interval,
                newest=newest_header.end_time,
            )
        return None  # pragma: no cover - the newest block always has a valid interval

    async def read(
        self,
        data_set: DataSet,
        start: datetime,
        end: datetime,
        *,
        resume: Cursor | None = None,
    ) -> AsyncIterator[HistoryPiece]:
        """The intervals ending in [start, end], newest first, one piece per request.

        Header reads give pieces without readings. Stops at the oldest block held, at the
        first block wholly older than ``start``, or where block times stop going backwards
        (the oldest block was overwritten while we read).
        """
        state = await self.state(data_set.index)
        status = state.status
        dims = data_set.dimensions
        interval = data_set.interval
        table = tables.data_table(data_set.index)
        record = state.layout.record_size
        per_piece = max(1, self.client.link.max_read // record)
        newer_start: datetime | None = None
        for k in range(status.valid_blocks):
            sequence = status.last_sequence - k
            if resume is not None and sequence > resume.sequence:
                continue
            index = (status.last_block - k) % dims.blocks
            header = await self._header(data_set, state, index)
            yield HistoryPiece((), None)
            if header is None:
                return
            last = self._newest_index(header, newest=k == 0, intervals=dims.intervals)
            if last is None:
                return
            if k == 0 and state.last_interval is not None and state.last_interval != last:
                _LOGGER.debug(
                    "newest interval %d in the header, %d in ET21: a new one was recorded",
                    last,
                    state.last_interval,
                )
            ends = [header.end_time - (last - j) * interval for j in range(last + 1)]
            if newer_start is not None and ends[-1] > newer_start:
                _LOGGER.debug("block %d is newer than the one after it; stopping", sequence)
                return
            newer_start = ends[0] - interval
            limit = last + 1
            if resume is not None and sequence == resume.sequence:
                limit = min(limit, resume.index)
            wanted = [j for j in range(limit) if header.valid[j] and start <= ends[j] <= end]
            while wanted:
                high = wanted[-1]
                low = max(wanted[0], high - per_piece + 1)
                data = await self._read(
                    table,
                    state.layout.interval_offset_in_table(index, low),
                    (high - low + 1) * record,
                )
                readings = []
                for j in range(high, low - 1, -1):
                    if not header.valid[j]:
                        continue
                    at = (j - low) * record
                    readings.append(
                        IntervalReading(
                            end=ends[j],
                            record=tables.decode_interval_record(
                                data[at : at + record],
                                dims.channels,
                                channel_offset=state.layout.channel_offset,
                            ),
                            sequence=sequence,
                            index=j,
                        )
                    )
                yield HistoryPiece(tuple(readings), Cursor(sequence, low))
                wanted = [j for j in wanted if j < low]
            if ends[0] <= start:
                return

    async def read_all(
        self, data_set: DataSet, start: datetime, end: datetime
    ) -> list[IntervalReading]:
        """Every interval ending in [start, end], newest first (CLI, tests)."""
        readings: list[IntervalReading] = []
        async for piece in self.read(data_set, start, end):
            readings.extend(piece.readings)
        return readings
