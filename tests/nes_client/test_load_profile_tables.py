"""Load-profile codecs (BT61, BT62, BT63, ET21, BT64-BT67): byte fixtures laid out by hand from
the guide [OPT p.31-40], and hypothesis round-trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import importlib
import inspect

from hypothesis import given, strategies as st
import pytest

from custom_components.nes_echelon.nes_client import tables as t
from custom_components.nes_echelon.nes_client.tables import (
    ActualLoadProfile,
    BlockHeader,
    EnergySource,
    IntervalRecord,
    LoadProfileChannel,
    LoadProfileControl,
    LoadProfileSet,
    LoadProfileStatus,
    LpInternalConfiguration,
    load_profile as lp,
)

# BT61: 30 blocks x 977 bytes = 29 310 (0x727E); flags bits 10 + 11 (extended and simple
# interval status); formats bit 5 (INT32); set 1: 30 blocks, 96 intervals, 2 channels, 15 min.
# Read as 31 bytes: sets 2-4 come back as zeros (a read past the table's end).
BT61_ONE_SET = bytes.fromhex("7E720000 000C 20 1E00 6000 02 0F") + bytes(18)
# BT62: channel 0 logs source 0 (import Wh), channel 1 source 1 (export Wh); format 32 = INT32.
BT62_ONE_SET = bytes.fromhex("000000 000100 20")
# BT63: circular + active, 30 valid blocks, newest at index 7, sequence 0x1234, 3 unread,
# 40 valid intervals in the newest block.
BT63_ONE_SET = bytes.fromhex("24 1E00 0700 34120000 0300 2800")
# ET21 bytes 0-37: addresses, block size 977, header 17, 30 valid blocks, 40 valid intervals,
# last block 7, last interval 39, status at 5 (12 bytes), interval 0 at 17, 10-byte records,
# channel 0 at 2, common status 0, 2 channels, 15 minutes, sources 0 and 1.
ET21_ONE_SET = bytes.fromhex(
    "B71A0000 4E1C0000 D1030000 1100 1E00 2800 0700 2700 05 0C 11 0A 02 00 02 0F0001000000000000"
)
# A block header: ends 2026-03-04 05:00 UTC, intervals 0-19 valid (of 96).
HEADER = bytes.fromhex("1A 03 04 05 00") + bytes.fromhex("FFFF0F") + bytes(9)
# An interval, 2 channels: power failure in the interval (byte 0 high nibble 0x2), channel 0
# status 0, channel 1 status 4 (skipped); import 33 821 691 Wh, export 1 739 085 Wh (the
# spec's real BT23 capture).
RECORD = bytes.fromhex("20 40 FB130402 4D891A00")


def test_bt61_fixture() -> None:
    actual = t.decode_actual_load_profile(BT61_ONE_SET)
    assert actual == ActualLoadProfile(
        memory_length=29_310,
        flags=0x0C00,
        formats=0x20,
        sets=(LoadProfileSet(blocks=30, intervals=96, channels=2, interval_time=15),),
    )
    assert actual.extended_status
    assert actual.simple_status
    assert actual.int32_format
    assert not actual.end_readings
    assert not actual.scalars(0)
    item = actual.sets[0]
    assert item.in_use
    assert item.interval == timedelta(minutes=15)
    assert item.block_span == timedelta(days=1)
    assert item.depth == timedelta(days=30)
    assert t.encode_actual_load_profile(actual) == BT61_ONE_SET[:13]


def test_bt61_keeps_a_set_between_used_sets_and_drops_trailing_zero_sets() -> None:
    data = bytes.fromhex("00000000 000C 20 0100 0100 01 3C") + bytes(6)
    data += bytes.fromhex("0200 1800 01 54") + bytes(6)
    actual = t.decode_actual_load_profile(data)
    assert len(actual.sets) == 3
    assert not actual.sets[1].in_use
    assert actual.sets[2].interval == timedelta(hours=24)  # 84 = 24 h
    with pytest.raises(ValueError, match="BT61"):
        t.decode_actual_load_profile(bytes(12))


def test_bt62_fixture() -> None:
    actual = t.decode_actual_load_profile(BT61_ONE_SET)
    (control,) = t.decode_load_profile_control(BT62_ONE_SET, actual)
    assert control == LoadProfileControl(
        channels=(LoadProfileChannel(source=0), LoadProfileChannel(source=1)), data_format=32
    )
    assert t.encode_load_profile_control([control], actual) == BT62_ONE_SET
    with pytest.raises(ValueError, match="BT62"):
        t.decode_load_profile_control(BT62_ONE_SET[:-1], actual)


def test_bt62_with_scalars_and_two_sets() -> None:
    actual = ActualLoadProfile(
        memory_length=0,
        flags=1 << 7,  # scalars and divisors for set 2 only
        formats=0x20,
        sets=(LoadProfileSet(1, 1, 1, 60), LoadProfileSet(1, 1, 2, 15)),
    )
    data = bytes.fromhex("010203 20") + bytes.fromhex("001D00 001E00 20 0A00 6400 0100 0200")
    first, second = t.decode_load_profile_control(data, actual)
    assert first.channels == (LoadProfileChannel(2, end_reading=True, end_reading_source=3),)
    assert second.channels == (LoadProfileChannel(29), LoadProfileChannel(30))
    assert second.scalars == (10, 100)
    assert second.divisors == (1, 2)
    assert t.encode_load_profile_control((first, second), actual) == data
    with pytest.raises(ValueError, match="controls"):
        t.encode_load_profile_control((first,), actual)
    with pytest.raises(ValueError, match="channels"):
        t.encode_load_profile_control((second, second), actual)
    with pytest.raises(ValueError, match="scalars"):
        t.encode_load_profile_control((first, LoadProfileControl(second.channels)), actual)


def test_bt63_fixture() -> None:
    (status,) = t.decode_load_profile_status(BT63_ONE_SET)
    assert status == LoadProfileStatus(
        flags=0x24,
        valid_blocks=30,
        last_block=7,
        last_sequence=0x1234,
        unread_blocks=3,
        valid_intervals=40,
    )
    assert status.circular
    assert status.active
    assert not status.overflow
    assert t.encode_load_profile_status([status]) == BT63_ONE_SET
    with pytest.raises(ValueError, match="BT63"):
        t.decode_load_profile_status(BT63_ONE_SET, sets=2)


def test_et21_fixture() -> None:
    internal = t.decode_lp_internal_configuration(ET21_ONE_SET)
    assert internal.block_size == 977
    assert internal.header_size == 17
    assert (internal.valid_blocks, internal.valid_intervals) == (30, 40)
    assert (internal.last_block, internal.last_interval) == (7, 39)
    assert (internal.simple_status_offset, internal.simple_status_size) == (5, 12)
    assert (internal.interval_offset, internal.record_size, internal.channel_offset) == (17, 10, 2)
    assert (internal.channels, internal.interval_time) == (2, 15)
    assert internal.sources == (0, 1)
    assert internal.block_start is None
    assert internal.interval_end is None
    assert internal.layout == t.computed_layout(LoadProfileSet(30, 96, 2, 15), end_readings=False)
    full = t.encode_lp_internal_configuration(internal)
    assert len(full) == t.ET21_SET_SIZE == 131
    assert full[:38] == ET21_ONE_SET
    with pytest.raises(ValueError, match="ET21"):
        t.decode_lp_internal_configuration(ET21_ONE_SET[:37])


def test_et21_later_fields() -> None:
    data = bytearray(t.ET21_SET_SIZE)
    data[28] = 10  # channels
    data[30:38] = bytes(range(8))
    data[70:78] = bytes(range(8, 16))
    data[83:89] = bytes((26, 3, 4, 0, 0, 0))
    data[94:100] = bytes((26, 3, 4, 5, 0, 7))
    internal = t.decode_lp_internal_configuration(bytes(data))
    assert internal.sources == tuple(range(10))
    assert internal.block_start == datetime(2026, 3, 4, tzinfo=UTC)
    assert internal.interval_end == datetime(2026, 3, 4, 5, 0, 7, tzinfo=UTC)
    data[94:100] = bytes((26, 13, 4, 5, 0, 7))  # month 13: not a time
    assert t.decode_lp_internal_configuration(bytes(data)).interval_end is None


def test_block_header_fixture() -> None:
    layout = t.computed_layout(LoadProfileSet(30, 96, 2, 15), end_readings=False)
    header = t.decode_block_header(HEADER, layout, intervals=96)
    assert header.end_time == datetime(2026, 3, 4, 5, 0, tzinfo=UTC)
    # C12.19 SET order: interval 0 is byte 0 bit 0 (the simulator encodes it the same way).
    assert header.valid == (True,) * 20 + (False,) * 76
    assert header.newest_valid == 19
    assert t.encode_block_header(header, layout) == HEADER
    assert BlockHeader(header.end_time, (False,) * 3).newest_valid is None
    with pytest.raises(ValueError, match="header"):
        t.decode_block_header(HEADER[:16], layout, intervals=96)
    with pytest.raises(ValueError, match="block end time"):
        t.decode_block_header(bytes(17), layout, intervals=96)


def test_block_header_with_end_readings() -> None:
    layout = t.computed_layout(LoadProfileSet(1, 8, 2, 60), end_readings=True)
    assert (layout.simple_status_offset, layout.header_size) == (13, 14)
    header = BlockHeader(datetime(2026, 1, 1, tzinfo=UTC), (True,) * 8, end_readings=(5, -6))
    data = t.encode_block_header(header, layout)
    assert t.decode_block_header(data, layout, intervals=8, end_reading_channels=2) == header


def test_interval_record_fixture() -> None:
    record = t.decode_interval_record(RECORD, 2)
    assert record == IntervalRecord(
        common=lp.POWER_FAILURE, channel_status=(0, 4), values=(33_821_691, 1_739_085)
    )
    assert record.power_failure
    assert not record.dst_active
    assert not record.clock_changed
    assert record.value_usable(0)
    assert not record.value_usable(1)  # skipped
    assert t.encode_interval_record(record) == RECORD
    with pytest.raises(ValueError, match="interval record"):
        t.decode_interval_record(RECORD[:-1], 2)


def test_interval_record_nibble_order_for_16_channels() -> None:
    # byte 0: common | ch 0; byte k (k >= 1): ch 2k-1 (high) | ch 2k (low) [OPT p.36]
    status = bytes.fromhex("9F 12 34 56 78 9A BC DE F0")
    record = t.decode_interval_record(status + bytes(64), 16)
    assert record.common == lp.DST_ACTIVE | lp.CLOCK_BACKWARD
    assert record.clock_changed
    assert record.dst_active
    assert record.channel_status == (15, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)


def test_interval_record_with_a_channel_offset() -> None:
    data = bytes.fromhex("00 AA 01000000")  # one padding byte before channel 0
    assert t.decode_interval_record(data, 1, channel_offset=2).values == (1,)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (IntervalRecord(0x01, (0,), (0,)), "high nibble"),
        (IntervalRecord(0, (16,), (0,)), "nibble"),
        (IntervalRecord(0, (0, 0), (0,)), "per channel"),
    ],
)
def test_interval_record_encoder_refuses(record: IntervalRecord, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        t.encode_interval_record(record)


def test_stime_date() -> None:
    moment = datetime(2026, 3, 29, 1, 15, tzinfo=UTC)
    assert t.encode_stime_date(moment) == bytes((26, 3, 29, 1, 15))
    assert t.decode_stime_date(bytes((26, 3, 29, 1, 15))) == moment
    with pytest.raises(ValueError, match="aware"):
        t.encode_stime_date(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="two-digit"):
        t.encode_stime_date(datetime(2100, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="two digits"):
        t.decode_stime_date(bytes((100, 1, 1, 0, 0)))
    with pytest.raises(ValueError, match="month"):
        t.decode_stime_date(bytes(5))


def test_interval_times_and_tables() -> None:
    assert lp.interval_length(1) == timedelta(minutes=1)
    assert lp.interval_length(84) == timedelta(hours=24)
    for bad in (0, 61, 83, 85):
        with pytest.raises(ValueError, match="interval time"):
            lp.interval_length(bad)
    assert [t.data_table(n) for n in range(4)] == [64, 65, 66, 67]
    with pytest.raises(ValueError, match="data set"):
        t.data_table(4)
    assert lp.interval_record_size(2) == 10
    assert lp.interval_record_size(16) == 73


def test_computed_layout_checked_against_memory_length() -> None:
    item = LoadProfileSet(blocks=30, intervals=96, channels=2, interval_time=15)
    actual = ActualLoadProfile(memory_length=29_310, flags=0x0C00, formats=0x20, sets=(item,))
    plain = t.computed_layout(item, end_readings=False)
    reserved = t.computed_layout(item, end_readings=True)
    assert plain.block_size == 977
    assert reserved.block_size == 985
    assert t.layout_matches(actual, [plain])
    assert not t.layout_matches(actual, [reserved])


def test_energy_sources() -> None:
    assert t.energy_source(0) == EnergySource("import")
    assert t.energy_source(1) == EnergySource("export")
    assert t.energy_source(29) == EnergySource("import", 0)
    assert t.energy_source(30) == EnergySource("export", 0)
    assert t.energy_source(62) == EnergySource("import", 3)  # T3 Fwd [MEP p.204]
    assert t.energy_source(63) == EnergySource("export", 3)
    for other in (2, 3, 6, 7, 31, 39, 73, 112):
        assert t.energy_source(other) is None
    assert t.source_name(0) == "import Wh"
    assert t.source_name(41) == "tier 2 export Wh"
    assert t.source_name(120) == "mapped source 120 (ET66)"
    assert t.source_name(19) == "source 19"


# -- round-trips ------------------------------------------------------------------------------

uint8 = st.integers(0, 0xFF)
uint16 = st.integers(0, 0xFFFF)
uint32 = st.integers(0, 0xFFFF_FFFF)
int32 = st.integers(-(2**31), 2**31 - 1)
interval_times = st.one_of(st.integers(1, 60), st.just(84))
profile_sets = st.builds(
    LoadProfileSet,
    blocks=st.integers(1, 0xFFFF),
    intervals=uint16,
    channels=st.integers(0, 16),
    interval_time=interval_times,
)
stime_dates = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31, 23, 59)
).map(lambda d: d.replace(second=0, microsecond=0, tzinfo=UTC))


@given(uint32, uint16, uint8, st.lists(profile_sets, min_size=1, max_size=4))
def test_bt61_round_trip(memory: int, flags: int, formats: int, sets: list[LoadProfileSet]) -> None:
    actual = ActualLoadProfile(memory, flags, formats, tuple(sets))
    assert t.decode_actual_load_profile(t.encode_actual_load_profile(actual)) == actual


@st.composite
def profiles_with_controls(
    draw: st.DrawFn,
) -> tuple[ActualLoadProfile, tuple[LoadProfileControl, ...]]:
    sets = draw(st.lists(profile_sets, min_size=1, max_size=4))
    flags = draw(uint16)
    actual = ActualLoadProfile(0, flags, 0x20, tuple(sets))
    controls = []
    for n, item in enumerate(sets):
        channels = tuple(
            draw(st.builds(LoadProfileChannel, uint8, st.booleans(), uint8))
            for _ in range(item.channels)
        )
        scaled = actual.scalars(n)
        values = st.lists(uint16, min_size=item.channels, max_size=item.channels).map(tuple)
        controls.append(
            LoadProfileControl(
                channels,
                draw(uint8),
                draw(values) if scaled else (),
                draw(values) if scaled else (),
            )
        )
    return actual, tuple(controls)


@given(profiles_with_controls())
def test_bt62_round_trip(
    pair: tuple[ActualLoadProfile, tuple[LoadProfileControl, ...]],
) -> None:
    actual, controls = pair
    data = t.encode_load_profile_control(controls, actual)
    assert len(data) == lp.bt62_size(actual)
    assert t.decode_load_profile_control(data, actual) == controls


statuses = st.builds(LoadProfileStatus, uint8, uint16, uint16, uint32, uint16, uint16)


@given(st.lists(statuses, min_size=1, max_size=4))
def test_bt63_round_trip(statuses: list[LoadProfileStatus]) -> None:
    data = t.encode_load_profile_status(statuses)
    assert t.decode_load_profile_status(data, len(statuses)) == tuple(statuses)


@st.composite
def internal_configurations(draw: st.DrawFn) -> LpInternalConfiguration:
    channels = draw(st.integers(0, 16))
    times = st.one_of(
        st.none(),
        st.builds(lambda d, s: d.replace(second=s), stime_dates, st.integers(0, 59)),
    )
    return LpInternalConfiguration(
        current_block_address=draw(uint32),
        current_interval_address=draw(uint32),
        block_size=draw(uint32),
        header_size=draw(uint16),
        valid_blocks=draw(uint16),
        valid_intervals=draw(uint16),
        last_block=draw(uint16),
        last_interval=draw(uint16),
        simple_status_offset=draw(uint8),
        simple_status_size=draw(uint8),
        interval_offset=draw(uint8),
        record_size=draw(uint8),
        channel_offset=draw(uint8),
        common_status=draw(uint8),
        channels=channels,
        interval_time=draw(uint8),
        sources=tuple(draw(st.lists(uint8, min_size=channels, max_size=channels))),
        block_start=draw(times),
        interval_end=draw(times),
    )


@given(internal_configurations())
def test_et21_round_trip(internal: LpInternalConfiguration) -> None:
    assert t.decode_lp_internal_configuration(t.encode_lp_internal_configuration(internal)) == (
        internal
    )


@given(
    st.integers(1, 300),
    st.integers(0, 16),
    st.booleans(),
    stime_dates,
    st.data(),
)
def test_block_header_round_trip(
    intervals: int, channels: int, end_readings: bool, end: datetime, data: st.DataObject
) -> None:
    layout = t.computed_layout(
        LoadProfileSet(1, intervals, channels, 15), end_readings=end_readings
    )
    valid = tuple(data.draw(st.lists(st.booleans(), min_size=intervals, max_size=intervals)))
    readings = (
        tuple(data.draw(st.lists(int32, min_size=channels, max_size=channels)))
        if end_readings
        else ()
    )
    header = BlockHeader(end, valid, readings)
    encoded = t.encode_block_header(header, layout)
    assert len(encoded) == layout.header_size
    decoded = t.decode_block_header(
        encoded, layout, intervals=intervals, end_reading_channels=len(readings)
    )
    assert decoded == header


@st.composite
def interval_records(draw: st.DrawFn) -> IntervalRecord:
    channels = draw(st.integers(0, 16))
    codes = st.lists(st.integers(0, 15), min_size=channels, max_size=channels)
    return IntervalRecord(
        common=draw(st.integers(0, 15)) << 4,
        channel_status=tuple(draw(codes)),
        values=tuple(draw(st.lists(int32, min_size=channels, max_size=channels))),
    )


@given(interval_records())
def test_interval_record_round_trip(record: IntervalRecord) -> None:
    data = t.encode_interval_record(record)
    assert len(data) == lp.interval_record_size(len(record.values))
    assert t.decode_interval_record(data, len(record.values)) == record


@given(stime_dates)
def test_stime_date_round_trip(moment: datetime) -> None:
    assert t.decode_stime_date(t.encode_stime_date(moment)) == moment


@pytest.mark.parametrize("module", ["common", "sets", "layout", "blocks", "sources"])
def test_the_package_exports_every_public_name_of_its_modules(module: str) -> None:
    """``tables.load_profile`` is a package: importers use it, never its modules."""
    part = importlib.import_module(f"{lp.__name__}.{module}")
    own = {
        name
        for name, value in vars(part).items()
        if not name.startswith("_")
        and not inspect.ismodule(value)
        and (name.isupper() or getattr(value, "__module__", part.__name__) == part.__name__)
        and name != "UTC"  # datetime's, imported
    }
    assert own
    assert own <= set(lp.__all__)
    for name in own:
        assert getattr(lp, name) is getattr(part, name)
