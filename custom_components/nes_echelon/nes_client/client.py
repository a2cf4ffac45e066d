"""The meter session: identify once per connection, then poll through a minimal plan."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
import functools
import logging
from typing import ParamSpec, TypeVar

from . import psem, tables
from .errors import (
    AuthenticationFailed,
    InappropriateAction,
    InsufficientClearance,
    IntegrityError,
    NesError,
    ServiceNotSupported,
    UnsupportedMeter,
)
from .link import Link
from .model import EnergyRegisters, MeterIdentity, MeterStatus, Snapshot
from .plan import merge_ranges, split_range

_LOGGER = logging.getLogger(__package__)

BT20 = 20  # Dimension register table, read when BT21 is refused [OPT p.19-20]
NI_FORMAT_INT32 = 0x88
BT00_NEEDED = 18
BT21_SIZE = 10
ET03_SERIAL = 30
BT03_NEEDED = 10  # read 10 bytes of BT03 whatever BT00 says [spec §6]
BT52_NEEDED = 7
BT55_NEEDED = 9
ENERGY_SUMMATIONS = 4  # import/export Wh, import/export varh
SLOT_SIZE = 4
VOLTAGE_SLOTS = range(7, 10)  # L1-L3: how many phases carry a voltage
MAX_TIERS = 8  # NES meters have 1, 4 or 8 tiers; more would multiply every poll's requests
# 0x06 busy, 0x07 data not ready, 0x08 data locked: C12.18's "try again later" [spec §5].
BUSY_CODES = frozenset({b"\x06", b"\x07", b"\x08"})
BUSY_RETRIES = 2
BUSY_PAUSE = 0.5  # seconds before asking a busy meter again

# Module-level type variables, not PEP 695 brackets: the client runs on Python 3.11 too.
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _typed_errors(
    error: type[NesError],
) -> Callable[[Callable[_P, Awaitable[_R]]], Callable[_P, Awaitable[_R]]]:
    """Only the client's own errors leave it: a decoder's ValueError becomes `error`.

    The wire checks and the length checks before each decoder should make this unreachable;
    it is the boundary that keeps a meter's odd answer from surfacing as a bare ValueError
    (which Home Assistant would log with a traceback on every poll).
    """

    def decorate(method: Callable[_P, Awaitable[_R]]) -> Callable[_P, Awaitable[_R]]:
        @functools.wraps(method)
        async def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                return await method(*args, **kwargs)
            except NesError:
                raise
            except ValueError as err:
                raise error(f"the meter's answer cannot be decoded: {err}") from err

        return wrapper

    return decorate


@dataclass(frozen=True, slots=True)
class PollOptions:
    """What each poll reads besides the energy totals.

    ``present``: the present values (PresentValues keys) wanted; of them, a poll reads those the
    meter has (``MeterIdentity.present_keys``). None: every one the meter has. ``tiers``: the
    tier register blocks too.
    """

    present: frozenset[str] | None = None
    tiers: bool = True


class MeterClient:
    """Reads one meter over one link. Not safe for concurrent use: one request at a time."""

    def __init__(self, link: Link, *, options: PollOptions | None = None) -> None:
        self.link = link
        self.options = options or PollOptions()
        self.identity: MeterIdentity | None = None
        self.requests = 0
        self._partial_only: set[int] = set()
        self._energy: list[tuple[int, ...]] | None = None  # last summations, block 0 = total
        self._tier_in_force: int | None = None  # 0-based: tier block 1 + this accumulates
        self._all_tiers_due = True  # read every tier block at the next poll

    @_typed_errors(UnsupportedMeter)
    async def connect(self) -> MeterIdentity:
        """Open the link and read who the meter is and where its values live."""
        self._energy = self._tier_in_force = None
        self._all_tiers_due = True
        await self.link.open()
        config = tables.decode_general_config(await self._read(tables.BT00, 0, BT00_NEEDED))
        if not config.little_endian or config.ni_format != NI_FORMAT_INT32:
            raise UnsupportedMeter(
                f"table format {config.ni_format:#04x}, little endian {config.little_endian}"
            )
        bt01_size = tables.BT01_SIZE_BCD if config.identification_bcd else tables.BT01_SIZE_CHAR
        ident = tables.decode_manufacturer_identification(
            await self._read_whole(tables.BT01, bt01_size), bcd_serial=config.identification_bcd
        )
        serial = tables.decode_utility_serial(await self._read(tables.ET03, 0, ET03_SERIAL))
        serial = serial or ident.serial
        if not serial:
            raise UnsupportedMeter("the meter reports no serial number")
        dimensions = await self._read_dimensions()
        phases = await self._count_phases(dimensions)
        self.identity = MeterIdentity(
            serial_number=serial,
            manufacturer=ident.manufacturer or config.manufacturer,
            model=ident.model,
            firmware=ident.firmware,
            dimensions=dimensions,
            phases=phases,
        )
        _LOGGER.debug("identified %s", self.identity)
        return self.identity

    @_typed_errors(IntegrityError)
    async def read(self) -> Snapshot:
        """One poll: energy registers and present values, nothing else."""
        identity = self._require_identity()
        dims = identity.dimensions
        summations = await self._read_energy(dims)
        slots = await self._read_slots(dims, self._wanted_slots(identity))
        present = tables.decode_present_values(dims, identity.firmware, slots)
        registers = [_energy(values) for values in summations]
        return Snapshot(total=registers[0], present=present, tiers=tuple(registers[1:]))

    @_typed_errors(IntegrityError)
    async def read_status(self) -> MeterStatus:
        """Alarms, tier in force and clock: read every few minutes, not every poll."""
        alarms = await self._read_optional(tables.BT03, BT03_NEEDED)
        local = await self._read_optional(tables.BT55, BT55_NEEDED)
        clock = await self._read_optional(tables.BT52, BT52_NEEDED)
        status = MeterStatus(
            alarms=tables.decode_alarms(alarms) if alarms is not None else None,
            current_tier=tables.decode_current_tier(local) if local is not None else None,
            clock=_clock_or_none(clock),
        )
        tiers = self._require_identity().dimensions.tiers
        if self._tier_in_force is None and status.current_tier is not None:
            # A hint for the next poll; which block moves with the total decides (_read_energy).
            self._tier_in_force = status.current_tier if status.current_tier < tiers else None
        self._all_tiers_due = True  # and every tier block at least once per status interval
        if status.alarms is not None and status.alarms.dimension_change:
            # Debug: a meter may keep the flag up for good (the caller logs a real change).
            _LOGGER.debug("the meter reports changed dimensions; reading them again")
            await self.connect()
        return status

    async def read_table(self, table_id: int, offset: int, count: int) -> bytes:
        """A partial read of any table, split into reads of at most `link.max_read` bytes
        (one request when `count` fits). For readers of other tables (history.py)."""
        self._require_identity()
        return await self._read(table_id, offset, count)

    async def close(self) -> None:
        await self.link.close()

    # -- reading ---------------------------------------------------------------------------

    def _require_identity(self) -> MeterIdentity:
        if self.identity is None:
            raise RuntimeError("connect() first")
        return self.identity

    def _wanted_slots(self, identity: MeterIdentity) -> list[int]:
        """The BT28 slots of the wanted present values that this meter has."""
        wanted = self.options.present
        return [
            spec.slot for spec in identity.present_slots if wanted is None or spec.key in wanted
        ]

    async def _read_energy(self, dims: tables.ActualRegister) -> list[tuple[int, ...]]:
        """Summations 0-3 of the total (block 0) and, with tiers, of every tier block.

        Only the tier in force accumulates: a poll reads the total and that tier, and keeps the
        other tiers' last values when that tier moved as the total did (registers only grow,
        the total by what the tier in force adds). Otherwise (the tier changed, a reset, the
        tier not known yet) every block is read, and the tier that moved with the total is the
        one in force; so is every block at the first poll after each status read.
        """
        if not (self.options.tiers and dims.tiers):
            return await self._read_summations(dims, [0])
        last, tier = self._energy, self._tier_in_force
        if not self._all_tiers_due and last is not None and tier is not None:
            total, current = await self._read_summations(dims, [0, 1 + tier])
            if _moved_alike(_moved(last[0], total), _moved(last[1 + tier], current)):
                blocks = [total, *last[1:]]
                blocks[1 + tier] = current
                self._energy = blocks
                return blocks
        blocks = await self._read_summations(dims, range(1 + dims.tiers))
        if last is not None and len(last) == len(blocks):
            self._tier_in_force = _tier_moving_with_total(last, blocks, tier)
        self._energy = blocks
        self._all_tiers_due = False
        return blocks

    async def _read_summations(
        self, dims: tables.ActualRegister, blocks: Sequence[int]
    ) -> list[tuple[int, ...]]:
        count = min(ENERGY_SUMMATIONS, dims.summations)
        if count < 2:
            raise UnsupportedMeter("the meter has no import/export energy registers")
        starts = [dims.summation_offset(block, 0) for block in blocks]
        ranges = [(start, count * 4) for start in starts if start is not None]
        data = await self._read_ranges(tables.BT23, ranges)
        return [
            tuple(tables.decode_int32_le(data[start], 4 * i) for i in range(count))
            for start, _ in ranges
        ]

    async def _read_slots(self, dims: tables.ActualRegister, wanted: list[int]) -> dict[int, int]:
        """The raw values of the wanted slots the meter has, as few reads as the plan allows.

        Slots that come along only because a read spans the gap between two wanted ones are
        dropped: the snapshot holds only what was asked for."""
        offsets = [dims.bt28_slot_offset(slot) for slot in wanted]
        ranges = [(offset, SLOT_SIZE) for offset in offsets if offset is not None]
        raw: dict[int, int] = {}
        for offset, length in merge_ranges(ranges):
            data = await self._read(tables.BT28, offset, length)
            raw |= tables.decode_bt28_slots(dims, data, offset=offset)
        return {slot: raw[slot] for slot in wanted if slot in raw}

    async def _read_ranges(self, table_id: int, ranges: list[tuple[int, int]]) -> dict[int, bytes]:
        """Read the ranges with as few requests as the plan allows; keyed by each range's offset."""
        merged: dict[int, bytes] = {}
        for offset, length in merge_ranges(ranges):
            merged[offset] = await self._read(table_id, offset, length)
        result: dict[int, bytes] = {}
        for offset, length in ranges:
            base = max(start for start in merged if start <= offset)
            result[offset] = merged[base][offset - base : offset - base + length]
        return result

    async def _read(self, table_id: int, offset: int, count: int) -> bytes:
        parts = []
        for start, size in split_range(offset, count, self.link.max_read):
            response = await self._request(psem.partial_read(table_id, start, size))
            parts.append(
                psem.read_data(response, checksum=self.link.read_has_checksum, expected=size)
            )
        return b"".join(parts)

    async def _read_whole(self, table_id: int, size: int) -> bytes:
        """A small table by full read; partial read where the meter refuses the full one."""
        if size <= self.link.max_read and table_id not in self._partial_only:
            request = psem.full_read(table_id, mep_length=self.link.mep_full_read_length)
            try:
                data = psem.read_data(
                    await self._request(request), checksum=self.link.read_has_checksum
                )
            except (ServiceNotSupported, AuthenticationFailed) as err:
                # Some meters refuse full reads of a table even with the right key (spec §5).
                _LOGGER.debug(
                    "full read of table %d refused (%s); using partial reads", table_id, err
                )
                self._partial_only.add(table_id)
            else:
                if len(data) < size:
                    raise IntegrityError(f"table {table_id}: {len(data)} bytes, need {size}")
                return data
        return await self._read(table_id, 0, size)

    async def _read_dimensions(self) -> tables.ActualRegister:
        try:
            data = await self._read_whole(tables.BT21, BT21_SIZE)
        except InappropriateAction:
            data = await self._read_whole(BT20, BT21_SIZE)
        dims = tables.decode_actual_register(data)
        if dims.tiers > MAX_TIERS:  # with <= 8 tiers, every BT23 offset fits a partial read
            raise UnsupportedMeter(f"BT21 describes {dims.tiers} tiers; NES meters have <= 8")
        return dims

    async def _count_phases(self, dims: tables.ActualRegister) -> int:
        slots = await self._read_slots(dims, [s for s in VOLTAGE_SLOTS if s < dims.present_values])
        return 3 if slots.get(8, 0) > 0 or slots.get(9, 0) > 0 else 1

    async def _read_optional(self, table_id: int, size: int) -> bytes | None:
        try:
            return await self._read(table_id, 0, size)
        except (InsufficientClearance, ServiceNotSupported, InappropriateAction) as err:
            _LOGGER.debug("table %d not readable with this key: %s", table_id, err)
            return None

    async def _request(self, request: bytes) -> bytes:
        self.requests += 1
        response = await self.link.request(request)
        if response[:1] in _SESSION_LOST:
            # Renegotiate / invalid service sequence: the optical session is gone; reopen once.
            await self.link.open()
            self.requests += 1
            response = await self.link.request(request)
        for _ in range(BUSY_RETRIES):
            if response[:1] not in BUSY_CODES:
                break
            # Busy, data not ready or locked (e.g. the utility is reading the meter): a moment
            # later it usually answers; a meter busy for longer fails the read (DeviceBusy ...).
            _LOGGER.debug("the meter answered %s; asking again", response[:1].hex())
            await asyncio.sleep(BUSY_PAUSE)
            self.requests += 1
            response = await self.link.request(request)
        return response


_SESSION_LOST = (bytes([psem.RENEGOTIATE]), bytes([psem.INVALID_SERVICE_SEQUENCE]))


def _moved(before: tuple[int, ...], after: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(b - a for a, b in zip(before, after, strict=True))


def _moved_alike(total: tuple[int, ...], tier: tuple[int, ...]) -> bool:
    """Whether a tier moved as the total did. The same energy added to both can move their
    whole Wh apart by 1, when the meter counts finer than it reports (the simulator does)."""
    return all(abs(a - b) <= 1 for a, b in zip(total, tier, strict=True))


def _tier_moving_with_total(
    before: list[tuple[int, ...]], after: list[tuple[int, ...]], known: int | None
) -> int | None:
    """The tier whose registers moved as the total's did. Several (nothing flowed): the one
    known so far; none (the tier changed between two polls): not known."""
    total = _moved(before[0], after[0])
    moving = [
        tier
        for tier in range(len(after) - 1)
        if _moved_alike(total, _moved(before[1 + tier], after[1 + tier]))
    ]
    if len(moving) == 1:
        return moving[0]
    return known if moving else None


def _energy(values: tuple[int, ...]) -> EnergyRegisters:
    return EnergyRegisters(
        import_wh=values[0],
        export_wh=values[1],
        reactive_import_varh=values[2] if len(values) > 2 else None,
        reactive_export_varh=values[3] if len(values) > 3 else None,
    )


def _clock_or_none(data: bytes | None) -> datetime | None:
    if data is None:
        return None
    try:
        return tables.decode_clock(data)
    except ValueError as err:  # an unset or invalid meter clock is not a failed poll
        _LOGGER.debug("meter clock unreadable: %s", err)
        return None
