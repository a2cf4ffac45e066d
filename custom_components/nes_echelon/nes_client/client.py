"""The meter session: identify once per connection, then poll through a minimal plan."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
import logging

from . import psem, tables
from .errors import (
    AuthenticationFailed,
    InappropriateAction,
    InsufficientClearance,
    IntegrityError,
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
BASE_SLOTS = range(15)  # power, reactive, I, U, PF, f, VA
PER_PHASE_SLOTS = range(26, 32)  # import/export W per phase (fw 3.50)
PER_PHASE_FIRMWARE = tables.FirmwareVersion(3, 50, 0)
VOLTAGE_SLOTS = range(7, 10)


@dataclass(frozen=True, slots=True)
class PollOptions:
    """What each poll reads besides the energy totals and the base present values."""

    tiers: bool = True
    per_phase: bool = True


class MeterClient:
    """Reads one meter over one link. Not safe for concurrent use: one request at a time."""

    def __init__(self, link: Link, *, options: PollOptions | None = None) -> None:
        self.link = link
        self.options = options or PollOptions()
        self.identity: MeterIdentity | None = None
        self.requests = 0
        self._partial_only: set[int] = set()

    async def connect(self) -> MeterIdentity:
        """Open the link and read who the meter is and where its values live."""
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

    async def read(self) -> Snapshot:
        """One poll: energy registers and present values, nothing else."""
        identity = self._require_identity()
        dims = identity.dimensions
        blocks = range(1 + dims.tiers) if self.options.tiers else range(1)
        summations = await self._read_summations(dims, blocks)
        slots = await self._read_slots(dims, self._wanted_slots(identity))
        present = tables.decode_present_values(dims, identity.firmware, slots)
        registers = [_energy(values) for values in summations]
        return Snapshot(total=registers[0], present=present, tiers=tuple(registers[1:]))

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
        if status.alarms is not None and status.alarms.dimension_change:
            _LOGGER.info("the meter reports changed dimensions; reading them again")
            await self.connect()
        return status

    async def close(self) -> None:
        await self.link.close()

    # -- reading ---------------------------------------------------------------------------

    def _require_identity(self) -> MeterIdentity:
        if self.identity is None:
            raise RuntimeError("connect() first")
        return self.identity

    def _wanted_slots(self, identity: MeterIdentity) -> list[int]:
        wanted = list(BASE_SLOTS)
        if self.options.per_phase and identity.firmware >= PER_PHASE_FIRMWARE:
            wanted += PER_PHASE_SLOTS
        return [slot for slot in wanted if slot < identity.dimensions.present_values]

    async def _read_summations(
        self, dims: tables.ActualRegister, blocks: range
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
        offsets = {slot: dims.bt28_slot_offset(slot) for slot in wanted}
        located = {slot: offset for slot, offset in offsets.items() if offset is not None}
        data = await self._read_ranges(
            tables.BT28, [(offset, SLOT_SIZE) for offset in located.values()]
        )
        return {slot: tables.decode_int32_le(data[offset], 0) for slot, offset in located.items()}

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
        return tables.decode_actual_register(data)

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
        return response


_SESSION_LOST = (bytes([psem.RENEGOTIATE]), bytes([psem.INVALID_SERVICE_SEQUENCE]))


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
