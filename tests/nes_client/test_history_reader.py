"""The load-profile reader against the simulated meter, on both links: what it reads agrees
with what the simulated profile recorded, newest first, in pieces of one response each."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from custom_components.nes_echelon.nes_client import tables
from custom_components.nes_echelon.nes_client.history import (
    Cursor,
    DataSet,
    LoadProfileReader,
    NoLoadProfile,
)
from custom_components.nes_echelon.nes_client.tables import load_profile as lp
from nes_echelon_dev.simulator import SimulatedMeter
from nes_echelon_dev.simulator.load_profile import (
    ProfileSetConfig,
    SimulatedLoadProfile,
    register_value,
)

from .conftest import Link, MeterRefuses, StartMeter, table_of

START = datetime(2026, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def meter_with_profile(
    sets: tuple[ProfileSetConfig, ...] = (ProfileSetConfig(blocks=5),), **kwargs: object
) -> SimulatedMeter:
    profile = SimulatedLoadProfile(sets, start=START, **kwargs)  # type: ignore[arg-type]
    return SimulatedMeter(load_profile=profile)


def vary(meter: SimulatedMeter, hours: int) -> None:
    """Let hours pass with a different load each hour, so hours can be told apart."""
    for hour in range(hours):
        meter.loads[0].import_w = 300.0 + 37 * (hour % 11)
        meter.advance(3600)


async def reader_for(
    start_meter: StartMeter, meter: SimulatedMeter, link: Link
) -> LoadProfileReader:
    running = await start_meter(meter, link=link)
    return LoadProfileReader(await running.client())


async def test_reads_a_range_across_midnight_newest_first(
    start_meter: StartMeter, link: Link
) -> None:
    meter = meter_with_profile()
    vary(meter, 3 * 24 + 5)
    reader = await reader_for(start_meter, meter, link)
    config = await reader.configuration()
    data_set = config.energy_set()
    assert data_set is not None
    assert data_set.index == 0
    assert [c.energy for c in data_set.energy_channels] == [
        tables.EnergySource("import"),
        tables.EnergySource("export"),
    ]
    start, end = START + timedelta(days=2, hours=20), START + timedelta(days=3, hours=3)
    readings = await reader.read_all(data_set, start, end)
    assert [r.end for r in readings] == [end - i * timedelta(minutes=15) for i in range(29)]
    profile = meter.load_profile
    assert profile is not None
    for reading in readings:
        assert reading.record == profile.reading(reading.end)
        assert reading.value(0) == reading.record.values[0]
    # The hour before midnight and the one after have their own consumption.
    midnight = START + timedelta(days=3)
    by_end = {r.end: r.record.values for r in readings}
    before = by_end[midnight][0] - by_end[midnight - HOUR][0]
    after = by_end[midnight + HOUR][0] - by_end[midnight][0]
    assert before != after


async def test_every_request_fits_one_response(start_meter: StartMeter, link: Link) -> None:
    meter = meter_with_profile()
    vary(meter, 30)
    running = await start_meter(meter, link=link)
    client = await running.client()
    sizes: list[int] = []
    original = client.read_table

    async def spy(table_id: int, offset: int, count: int) -> bytes:
        sizes.append(count)
        return await original(table_id, offset, count)

    client.read_table = spy  # type: ignore[method-assign]
    reader = LoadProfileReader(client)
    config = await reader.configuration()
    data_set = config.sets[0]
    before = client.requests
    pieces = [piece async for piece in reader.read(data_set, START, START + timedelta(days=2))]
    assert all(size <= client.link.max_read for size in sizes)
    assert client.requests - before == len(pieces) + 2  # + BT63 and ET21
    readings = [r for piece in pieces for r in piece.readings]
    assert len(readings) == 30 * 4
    assert readings == sorted(readings, key=lambda r: r.end, reverse=True)


async def test_resume_by_block_sequence_after_new_blocks(
    start_meter: StartMeter, link: Link
) -> None:
    """A read interrupted and resumed from its cursor gives each interval exactly once, even
    when the meter started new blocks in between (indexes move, sequence numbers do not)."""
    config = ProfileSetConfig(blocks=6, intervals_per_block=8)  # 2-hour blocks
    meter = meter_with_profile((config,))
    vary(meter, 9)
    reader = await reader_for(start_meter, meter, link)
    data_set = (await reader.configuration()).sets[0]
    start, end = START + HOUR, START + 8 * HOUR
    expected = await reader.read_all(data_set, start, end)
    first: list[tables.IntervalRecord] = []
    cursor: Cursor | None = None
    async for piece in reader.read(data_set, start, end):
        if piece.readings:
            first += [r.record for r in piece.readings]
            cursor = piece.cursor
            break
    assert cursor is not None
    vary(meter, 3)  # a new block starts: every index shifts by one
    rest = [
        r.record
        async for piece in reader.read(data_set, start, end, resume=cursor)
        for r in piece.readings
    ]
    assert first + rest == [r.record for r in expected]


async def test_extent_follows_the_circular_list(start_meter: StartMeter, link: Link) -> None:
    meter = meter_with_profile((ProfileSetConfig(blocks=3, intervals_per_block=24),))  # 6 h
    vary(meter, 20)
    reader = await reader_for(start_meter, meter, link)
    data_set = (await reader.configuration()).sets[0]
    extent = await reader.extent(data_set)
    assert extent is not None
    assert extent.newest == START + 20 * HOUR
    # 3 blocks of 6 h: the oldest held is the one that began at 06:00.
    assert extent.oldest == START + 6 * HOUR + timedelta(minutes=15)
    profile = meter.load_profile
    assert profile is not None
    assert profile.oldest_end() == extent.oldest
    # Asking for more than the meter holds gives what it holds.
    readings = await reader.read_all(data_set, START, extent.newest)
    assert readings[-1].end == extent.oldest
    assert len(readings) == 56  # 18:15-20:00, then two whole 6-hour blocks


async def test_a_new_profile_with_one_partial_block(start_meter: StartMeter) -> None:
    meter = meter_with_profile()
    meter.advance(20 * 60)  # 00:00 -> 00:20: one interval
    reader = await reader_for(start_meter, meter, "mep")
    data_set = (await reader.configuration()).sets[0]
    extent = await reader.extent(data_set)
    assert extent is not None
    assert extent.oldest == extent.newest == START + timedelta(minutes=15)


async def test_an_empty_profile(start_meter: StartMeter) -> None:
    meter = meter_with_profile()
    reader = await reader_for(start_meter, meter, "mep")
    data_set = (await reader.configuration()).sets[0]
    assert await reader.extent(data_set) is None
    assert await reader.read_all(data_set, START, START + HOUR) == []


async def test_power_failure_skipped_dst_and_clock_steps(start_meter: StartMeter) -> None:
    meter = meter_with_profile(dst_zone="Europe/Copenhagen")
    profile = meter.load_profile
    assert profile is not None
    profile.clock = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)  # the night of the DST change
    meter.advance(3600 + 5 * 60)  # 01:05 UTC = 03:05 CEST
    profile.power_failure(meter, 45 * 60)  # 01:05-01:50: the registers stand still
    meter.advance(15 * 60)  # 02:05
    profile.step_clock(timedelta(minutes=20))  # 02:25: the interval ending 02:15 is lost
    meter.advance(10 * 60)  # 02:35
    profile.step_clock(timedelta(minutes=-3))  # back to 02:32, inside the same interval
    meter.advance(28 * 60)  # 03:00
    profile.mark_skipped(datetime(2026, 3, 29, 0, 30, tzinfo=UTC))
    reader = await reader_for(start_meter, meter, "optical")
    data_set = (await reader.configuration()).sets[0]
    day = datetime(2026, 3, 29, tzinfo=UTC)
    readings = {r.end: r for r in await reader.read_all(data_set, day, day + timedelta(hours=4))}
    at = lambda h, m: readings[day + timedelta(hours=h, minutes=m)]  # noqa: E731
    assert not at(0, 45).record.dst_active  # 01:45 CET
    assert at(1, 15).record.dst_active  # 03:15 CEST
    assert at(0, 30).value(0) is None  # skipped: status 4, zeroed
    assert at(0, 30).record.channel_status == (lp.CHANNEL_SKIPPED,) * 2
    for minute in (15, 30, 45):
        assert at(1, minute).record.power_failure
    assert at(2, 0).record.power_failure  # power came back in this interval
    assert at(1, 15).record.values == at(1, 45).record.values  # nothing counted while off
    assert day + timedelta(hours=2, minutes=15) not in readings  # jumped over
    assert at(2, 30).record.common & lp.CLOCK_FORWARD
    assert at(2, 30).record.channel_status == (lp.CHANNEL_PARTIAL,) * 2
    assert at(2, 30).value(0) is not None  # partial, but a true register reading
    assert at(2, 45).record.common & lp.CLOCK_BACKWARD
    assert at(2, 45).record.channel_status == (lp.CHANNEL_LONG,) * 2
    assert at(3, 0).record.common == lp.DST_ACTIVE


async def test_sets_and_the_energy_set(start_meter: StartMeter) -> None:
    """Several data sets: the hourly one with import, export and a tier is chosen."""
    sets = (
        ProfileSetConfig(interval_time=5, sources=(8, 9), blocks=2, intervals_per_block=288),
        ProfileSetConfig(60, sources=(0, 1, 29, 30), blocks=40, intervals_per_block=24),
        ProfileSetConfig(interval_time=15, sources=(0,), blocks=10),
        ProfileSetConfig(interval_time=84, sources=(0, 1), blocks=100, intervals_per_block=1),
    )
    meter = meter_with_profile(sets)
    vary(meter, 26)
    reader = await reader_for(start_meter, meter, "mep")
    config = await reader.configuration()
    assert len(config.sets) == 4
    data_set = config.energy_set()
    assert data_set is not None
    assert data_set.index == 1
    assert data_set.depth == timedelta(days=40)
    assert not config.sets[3].hourly
    assert [c.name for c in data_set.channels] == [
        "import Wh", "export Wh", "tier 1 import Wh", "tier 1 export Wh",
    ]  # fmt: skip
    readings = await reader.read_all(data_set, START + 20 * HOUR, START + 26 * HOUR)
    assert len(readings) == 7
    newest = readings[0].record.values
    assert newest[0] == register_value(meter, 0) == meter.registers(0)[0]
    assert newest[2] == meter.registers(1)[0]  # tier 1 (block 1 of BT23)
    daily = await reader.read_all(config.sets[3], START, START + 2 * timedelta(days=1))
    assert [r.end for r in daily] == [START + timedelta(days=1)]


async def test_old_firmware_reads_one_set(start_meter: StartMeter) -> None:
    meter = meter_with_profile()
    meter.firmware = tables.FirmwareVersion(3, 20, 0)
    vary(meter, 2)
    reader = await reader_for(start_meter, meter, "optical")
    config = await reader.configuration()
    assert len(config.sets) == 1
    assert config.actual.memory_length == 5 * 977


async def test_computed_layout_where_et21_is_refused(
    start_meter: StartMeter, meter_refuses: MeterRefuses, link: Link
) -> None:
    meter_refuses(lambda request: b"\x03" if table_of(request) == tables.ET21 else None)
    meter = meter_with_profile()
    vary(meter, 5)
    reader = await reader_for(start_meter, meter, link)
    data_set = (await reader.configuration()).sets[0]
    state = await reader.state(0)
    assert state.layout_source == "computed"
    assert state.last_interval is None
    readings = await reader.read_all(data_set, START, START + 5 * HOUR)
    assert len(readings) == 20
    profile = meter.load_profile
    assert profile is not None
    assert all(r.record == profile.reading(r.end) for r in readings)


async def test_computed_layout_finds_reserved_end_reading_space(
    start_meter: StartMeter, meter_refuses: MeterRefuses
) -> None:
    meter_refuses(lambda request: b"\x03" if table_of(request) == tables.ET21 else None)
    meter = meter_with_profile(reserve_end_readings=True)
    vary(meter, 2)
    reader = await reader_for(start_meter, meter, "mep")
    data_set = (await reader.configuration()).sets[0]
    assert (await reader.state(0)).layout.header_size == 5 + 8 + 12
    readings = await reader.read_all(data_set, START, START + 2 * HOUR)
    assert readings[0].record.values == meter.registers(0)[:2]


async def test_computed_layout_that_does_not_add_up(
    start_meter: StartMeter, meter_refuses: MeterRefuses
) -> None:
    def refuse(request: bytes) -> bytes | None:
        if table_of(request) == tables.ET21:
            return b"\x03"
        if table_of(request) == tables.BT61:  # a memory length that fits no layout
            data = bytes.fromhex("01000000 000C 20 0500 6000 02 0F") + bytes(18)
            return b"\x00" + len(data).to_bytes(2, "big") + data
        return None

    meter_refuses(refuse)
    reader = await reader_for(start_meter, meter_with_profile(), "mep")
    with pytest.raises(NoLoadProfile, match="memory length"):
        await reader.state(0)


async def test_a_meter_without_a_load_profile(start_meter: StartMeter, link: Link) -> None:
    reader = await reader_for(start_meter, SimulatedMeter(), link)
    with pytest.raises(NoLoadProfile, match="no load profile tables"):
        await reader.configuration()


async def test_a_profile_with_no_sets_or_not_int32(
    start_meter: StartMeter, meter_refuses: MeterRefuses
) -> None:
    replies = {
        "empty": bytes.fromhex("00000000 000C 20") + bytes(24),
        "format": bytes.fromhex("00000000 000C 10 0100 0100 01 0F") + bytes(18),
    }
    choice = ["empty"]

    def refuse(request: bytes) -> bytes | None:
        if table_of(request) == tables.BT61:
            data = replies[choice[0]]
            return b"\x00" + len(data).to_bytes(2, "big") + data
        return None

    meter_refuses(refuse)
    running = await start_meter(meter_with_profile(), link="mep")
    client = await running.client()
    with pytest.raises(NoLoadProfile, match="no data set"):
        await LoadProfileReader(client).configuration()
    choice[0] = "format"
    with pytest.raises(NoLoadProfile, match="not INT32"):
        await LoadProfileReader(client).configuration()


async def test_gate_wraps_every_request(start_meter: StartMeter) -> None:
    meter = meter_with_profile()
    vary(meter, 3)
    running = await start_meter(meter, link="optical")
    client = await running.client()
    turns: list[int] = []

    @asynccontextmanager
    async def gate() -> AsyncIterator[None]:
        turns.append(client.requests)
        yield

    reader = LoadProfileReader(client, gate=gate)
    data_set: DataSet = (await reader.configuration()).sets[0]
    await reader.read_all(data_set, START, START + 3 * HOUR)
    assert len(turns) == reader.requests
    # one request per turn: the count moved by exactly one between turns
    assert [b - a for a, b in pairwise(turns)] == [1] * (len(turns) - 1)


def header_read(request: bytes, table: int, offset: int) -> bool:
    """A partial read of a block header (17 bytes for 96 intervals) at this table offset."""
    return (
        table_of(request) == table
        and int.from_bytes(request[3:6], "big") == offset
        and int.from_bytes(request[6:8], "big") == 17
    )


def reply(data: bytes) -> bytes:
    return b"\x00" + len(data).to_bytes(2, "big") + data  # MEP: no checksum


async def test_an_overwritten_oldest_block_stops_the_read(
    start_meter: StartMeter, meter_refuses: MeterRefuses
) -> None:
    """Block 0 (the oldest) answers with a time newer than the blocks after it, as when the
    meter has just started a new block over it: the read stops there, the extent skips it."""
    meter = meter_with_profile()
    vary(meter, 3 * 24 + 2)  # 4 blocks: index 0 (oldest) .. 3 (newest)
    future = tables.encode_stime_date(START + timedelta(days=9)) + b"\xff" * 12
    meter_refuses(lambda request: reply(future) if header_read(request, 64, 0) else None)
    reader = await reader_for(start_meter, meter, "mep")
    data_set = (await reader.configuration()).sets[0]
    readings = await reader.read_all(data_set, START, START + timedelta(days=4))
    assert readings[-1].end == START + timedelta(days=1, minutes=15)  # block 1's first
    extent = await reader.extent(data_set)
    assert extent is not None
    assert extent.oldest == START + timedelta(days=1, minutes=15)


async def test_an_empty_header_ends_the_read(
    start_meter: StartMeter, meter_refuses: MeterRefuses
) -> None:
    meter = meter_with_profile()
    vary(meter, 24 + 2)  # blocks 0 and 1
    meter_refuses(lambda request: reply(bytes(17)) if header_read(request, 64, 0) else None)
    reader = await reader_for(start_meter, meter, "mep")
    data_set = (await reader.configuration()).sets[0]
    readings = await reader.read_all(data_set, START, START + timedelta(days=2))
    assert len(readings) == 8  # block 1 only: 00:15-02:00
    extent = await reader.extent(data_set)
    assert extent is not None
    assert extent.oldest == START + timedelta(days=1, minutes=15)


async def test_an_interval_recorded_during_the_read(
    start_meter: StartMeter, meter_refuses: MeterRefuses, caplog: pytest.LogCaptureFixture
) -> None:
    """A new interval between the ET21 read and the header read: the header decides."""
    meter = meter_with_profile()
    vary(meter, 2)
    advanced: list[bool] = []

    def advance_once(request: bytes) -> bytes | None:
        if table_of(request) == 64 and not advanced:
            advanced.append(True)
            meter.advance(15 * 60)
        return None

    meter_refuses(advance_once)
    reader = await reader_for(start_meter, meter, "mep")
    data_set = (await reader.configuration()).sets[0]
    caplog.set_level("DEBUG", logger="custom_components.nes_echelon.nes_client")
    readings = await reader.read_all(data_set, START, START + 3 * HOUR)
    assert readings[0].end == START + 2 * HOUR + timedelta(minutes=15)
    assert "a new one was recorded" in caplog.text


def test_history_still_exports_its_value_types() -> None:
    """The types live in ``history_types``; ``history`` re-exports them, the same objects."""
    from custom_components.nes_echelon.nes_client import history, history_types

    names = {
        "Cursor",
        "DataSet",
        "HistoryPiece",
        "IntervalReading",
        "LayoutSource",
        "NoLoadProfile",
        "ProfileChannel",
        "ProfileConfiguration",
        "ProfileExtent",
        "ProfileState",
    }
    assert names <= set(history.__all__)
    for name in names:
        assert getattr(history, name) is getattr(history_types, name)
