"""The history's pure parts, without Home Assistant: which hours a job covers, what is stored,
the rows made from the meter's readings in the statistics' unit, how hours without a usable
reading are settled, and how a profile is described (the recorder tests are in
tests/integration/history)."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from custom_components.nes_echelon.history import hours as hours_module
from custom_components.nes_echelon.history.hours import (
    HistoryJob,
    HourRow,
    RegisterWentDown,
    format_interval,
    new_rows,
    settle_unusable,
    unusable_reason,
)
from custom_components.nes_echelon.history.meter import describe_sets, entity_key
from custom_components.nes_echelon.nes_client.history import (
    DataSet,
    IntervalReading,
    ProfileChannel,
    ProfileConfiguration,
)
from custom_components.nes_echelon.nes_client.tables import (
    EnergySource,
    IntervalRecord,
    load_profile as lp,
)

T = datetime(2026, 3, 10, tzinfo=UTC)
H = timedelta(hours=1)

# kWh (the meter's readings / 1000) to the unit an energy entity's statistics may be kept in.
UNITS = {"Wh": 1000.0, "kWh": 1.0, "MWh": 0.001}


def test_the_hour_arithmetic_imports_no_home_assistant() -> None:
    tree = ast.parse(Path(hours_module.__file__).read_text(encoding="utf-8"))
    imported = {
        node.module or ""
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level == 0
    } | {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert not {name for name in imported if name.startswith("homeassistant")}


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (T + timedelta(minutes=20), T + timedelta(minutes=50), []),  # within one hour
        (T + timedelta(minutes=20), T + H, [T]),  # a read at 01:00 sees hour 00 end
        (T + timedelta(minutes=20), T + 3 * H + timedelta(minutes=5), [T, T + H, T + 2 * H]),
        (T, T + 2 * H, [T, T + H]),  # an action from 00:00 to 02:00
        (T + H, T, []),
    ],
)
def test_job_hours(start: datetime, end: datetime, expected: list[datetime]) -> None:
    assert HistoryJob(start, end, "gap").hours == expected


def test_job_storage() -> None:
    job = HistoryJob(T, T + 5 * H, "action")
    assert HistoryJob.from_dict(job.as_dict()) == HistoryJob(T, T + 5 * H, "action")
    gap = HistoryJob.from_dict({"start": T.isoformat(), "end": T.isoformat(), "origin": "gap"})
    assert gap is not None
    assert gap.origin == "gap"
    assert HistoryJob.from_dict({"start": "x", "end": T.isoformat(), "origin": "gap"}) is None
    assert HistoryJob.from_dict({"start": T.isoformat(), "end": T.isoformat()}) is None
    assert HistoryJob.from_dict({"start": None, "end": T.isoformat(), "origin": "gap"}) is None
    naive = HistoryJob.from_dict({"start": "2026-03-10T00:00:00", "end": "2026-03-10T05:00:00"})
    assert naive is None  # no origin
    naive = HistoryJob.from_dict(
        {"start": "2026-03-10T00:00:00", "end": "2026-03-10T05:00:00", "origin": "action"}
    )
    assert naive == HistoryJob(T, T + 5 * H, "action")  # we only ever store UTC


def test_entity_keys() -> None:
    assert entity_key(EnergySource("import")) == "energy_import"
    assert entity_key(EnergySource("export", 0)) == "tier_1_energy_export"
    assert entity_key(EnergySource("import", 3)) == "tier_4_energy_import"


def reading(end: datetime, wh: int, common: int = 0, status: int = 0) -> IntervalReading:
    return IntervalReading(end, IntervalRecord(common, (status,), (wh,)), 1, 0)


def test_reasons() -> None:
    assert unusable_reason(None, 0) == "no reading"
    assert unusable_reason(reading(T, 100), 0) is None
    flags = lp.DST_ACTIVE | lp.CLOCK_FORWARD
    assert unusable_reason(reading(T, 100, flags, lp.CHANNEL_PARTIAL), 0) is None
    assert unusable_reason(reading(T, 100, lp.POWER_FAILURE), 0) == "power failure"
    assert unusable_reason(reading(T, 100, status=lp.CHANNEL_SKIPPED), 0) == "status 4"
    assert unusable_reason(reading(T, 100, status=lp.CHANNEL_OVERFLOW), 0) == "status 1"


@pytest.mark.parametrize("unit", UNITS)
def test_rows_continue_from_the_row_in_the_statistics_unit(unit: str) -> None:
    """The row before the gap is already in the statistics' unit (an energy entity may show Wh
    or MWh): each reading is converted, the row before it is not (it used to be converted
    again, so in Wh every backfill was refused as "register went down")."""
    factor = UNITS[unit]
    base = HourRow(T - H, 1000.0 * factor, 1500.0 * factor)  # 1000 kWh; offset 500 kWh
    readings = {T + H: reading(T + H, 1_000_250), T + 2 * H: reading(T + 2 * H, 1_000_750)}
    left: list[tuple[datetime, str]] = []
    rows = new_rows(readings, 0, [T, T + H], base, lambda kwh: kwh * factor, left)
    assert left == []
    assert rows[T] == HourRow(T, pytest.approx(1000.25 * factor), pytest.approx(1500.25 * factor))
    assert rows[T + H] == HourRow(
        T + H, pytest.approx(1000.75 * factor), pytest.approx(1500.75 * factor)
    )


@pytest.mark.parametrize("unit", UNITS)
def test_a_register_that_goes_down_is_found_in_any_unit(unit: str) -> None:
    """A reading 1 Wh below the row before the gap: a new meter cycle, in every unit (in MWh
    the converted-again row was a thousand times too small and no reset was ever seen)."""
    factor = UNITS[unit]
    base = HourRow(T - H, 1000.0 * factor, 1500.0 * factor)
    readings = {T + H: reading(T + H, 999_999)}
    with pytest.raises(RegisterWentDown) as caught:
        new_rows(readings, 0, [T], base, lambda kwh: kwh * factor, [])
    assert caught.value.at == T + H
    # The same reading as the row before: no consumption, not a reset.
    same = {T + H: reading(T + H, 1_000_000)}
    rows = new_rows(same, 0, [T], base, lambda kwh: kwh * factor, [])
    assert rows[T] == HourRow(T, pytest.approx(1000.0 * factor), pytest.approx(1500.0 * factor))


def test_rows_without_a_usable_reading_are_left() -> None:
    base = HourRow(T - H, 1.0, 2.0)
    readings = {
        T + H: reading(T + H, 1_100, lp.POWER_FAILURE),
        T + 3 * H: reading(T + 3 * H, 1_300),
    }
    left: list[tuple[datetime, str]] = []
    rows = new_rows(readings, 0, [T, T + H, T + 2 * H], base, lambda kwh: kwh, left)
    assert rows == {T: None, T + H: None, T + 2 * H: HourRow(T + 2 * H, 1.3, 2.3)}
    assert left == [(T, "power failure"), (T + H, "no reading")]


def test_settle_hours_without_a_reading() -> None:
    """No row: left absent. A row that fits between its neighbours: left. A row that would run
    the sum backwards (or past the next known hour): set to the previous hour's values."""
    base = HourRow(T - H, state=5.0, sum=10.0)  # the row before the gap: offset 5
    new = {
        T: HourRow(T, 6.0, 11.0),
        T + H: None,  # no row in the recorder
        T + 2 * H: None,  # a flat row from while Home Assistant was down
        T + 3 * H: None,  # a row Home Assistant recorded itself
        T + 4 * H: HourRow(T + 4 * H, 9.0, 14.0),
        T + 5 * H: None,  # beyond the next known hour: too high
        T + 6 * H: HourRow(T + 6 * H, 10.0, 15.0),
    }
    recorded = {
        T + 2 * H: HourRow(T + 2 * H, 5.0, 10.0),
        T + 3 * H: HourRow(T + 3 * H, 7.5, 12.5),
        T + 5 * H: HourRow(T + 5 * H, 15.0, 20.0),
    }
    final, zeroed = settle_unusable(new, recorded, base, 1e-6)
    assert final == [
        new[T],
        HourRow(T + 2 * H, 6.0, 11.0),
        new[T + 4 * H],
        HourRow(T + 5 * H, 9.0, 14.0),
        new[T + 6 * H],
    ]
    assert zeroed == [T + 2 * H, T + 5 * H]


@pytest.mark.parametrize(
    ("interval", "text"),
    [
        (timedelta(minutes=1), "1 min"),
        (timedelta(minutes=15), "15 min"),
        (timedelta(minutes=30), "30 min"),
        (timedelta(hours=1), "1 h"),
        (timedelta(hours=24), "24 h"),  # BT61's 84: it used to read "84 min"
    ],
)
def test_intervals_as_people_read_them(interval: timedelta, text: str) -> None:
    assert format_interval(interval) == text


def test_a_daily_set_is_described_in_hours() -> None:
    def data_set(index: int, interval_time: int, *sources: int) -> DataSet:
        channels = tuple(
            ProfileChannel(channel, source, lp.energy_source(source))
            for channel, source in enumerate(sources)
        )
        dimensions = lp.LoadProfileSet(10, 96, len(sources), interval_time)
        return DataSet(index, dimensions, channels)

    sets = (data_set(0, lp.DAILY_INTERVAL, 0, 1), data_set(1, 15, 2, 3))
    actual = lp.ActualLoadProfile(0, 0, 0, tuple(item.dimensions for item in sets))
    config = ProfileConfiguration(actual, sets)
    assert describe_sets(config) == (
        "set 1: 24 h, import Wh, export Wh; set 2: 15 min, import varh, export varh"
    )
