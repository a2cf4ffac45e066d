"""The recorder behaviour the backfill relies on, pinned against the real recorder (SQLite):
when an hour counts as compiled, that an import with an entity's own metadata updates the rows
it names in place, inserts the missing ones and touches nothing else, and that rows are read
in the statistics' own unit. A Home Assistant release that changes any of this fails here
before it breaks anyone's Energy dashboard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import async_import_statistics, get_metadata
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)

from custom_components.nes_echelon.history.hours import HourRow, floor_hour
from custom_components.nes_echelon.history.recorder import (
    _last_statistics_run,
    compiled_through,
    import_rows,
    read_energy_statistics,
    recorder_running,
)

T = datetime(2026, 1, 5, 10, tzinfo=UTC)
H = timedelta(hours=1)
ENTITY = "sensor.meter_energy_import"


def metadata(unit: str | None = "kWh", statistic_id: str = ENTITY) -> StatisticMetaData:
    return StatisticMetaData(
        mean_type=StatisticMeanType.NONE,
        has_sum=True,
        name="Energy import",
        source="recorder",
        statistic_id=statistic_id,
        unit_class="energy" if unit in ("Wh", "kWh", "MWh") else None,
        unit_of_measurement=unit,
    )


async def seed(hass: HomeAssistant, rows: dict[datetime, tuple[float, float]], **meta: str) -> None:
    """Rows as the recorder compiled them: start -> (state, sum)."""
    async_import_statistics(
        hass,
        metadata(**meta),
        [
            StatisticData(start=start, state=state, sum=total)
            for start, (state, total) in rows.items()
        ],
    )
    await async_wait_recording_done(hass)


async def test_an_hour_is_compiled_once_its_last_period_is(hass: HomeAssistant) -> None:
    assert recorder_running(hass)
    last = await hass.async_add_executor_job(_last_statistics_run, hass)
    assert last is not None  # a new database starts with the current period as its first run
    assert last.tzinfo is not None
    hour = floor_hour(last) + H
    assert not await compiled_through(hass, hour)
    do_adhoc_statistics(hass, start=hour + timedelta(minutes=50))
    await async_wait_recording_done(hass)
    assert not await compiled_through(hass, hour)
    do_adhoc_statistics(hass, start=hour + timedelta(minutes=55))
    await async_wait_recording_done(hass)
    assert await compiled_through(hass, hour)
    assert not await compiled_through(hass, hour + H)


async def test_an_import_rewrites_only_the_rows_it_names(hass: HomeAssistant) -> None:
    await seed(hass, {T: (100.0, 10.0), T + H: (101.0, 11.0), T + 3 * H: (104.0, 14.0)})
    before = await read_energy_statistics(hass, ENTITY, T - H, T + 5 * H)
    assert before is not None
    assert before.entity_id == ENTITY
    assert list(before.rows) == [T, T + H, T + 3 * H]
    assert before.rows[T + H] == HourRow(T + H, 101.0, 11.0)
    assert before.row_before(T + 2 * H) == HourRow(T + H, 101.0, 11.0)
    assert before.row_before(T) is None

    # An update of a row that exists and an insert of one that does not, in one import.
    import_rows(hass, before, [HourRow(T + H, 101.5, 11.5), HourRow(T + 2 * H, 102.0, 12.0)])
    await async_wait_recording_done(hass)

    after = await read_energy_statistics(hass, ENTITY, T - H, T + 5 * H)
    assert after is not None
    assert after.rows == {
        T: HourRow(T, 100.0, 10.0),
        T + H: HourRow(T + H, 101.5, 11.5),
        T + 2 * H: HourRow(T + 2 * H, 102.0, 12.0),
        T + 3 * H: HourRow(T + 3 * H, 104.0, 14.0),
    }
    stored = await hass.async_add_executor_job(lambda: get_metadata(hass, statistic_ids={ENTITY}))
    assert stored[ENTITY][1] == before.metadata  # the entity's own metadata, unchanged


@pytest.mark.parametrize(("unit", "factor"), [("Wh", 1000.0), ("kWh", 1.0), ("MWh", 0.001)])
async def test_rows_are_read_in_the_statistics_own_unit(
    hass: HomeAssistant, unit: str, factor: float
) -> None:
    await seed(hass, {T: (1000.0 * factor, 1500.0 * factor)}, unit=unit)
    statistics = await read_energy_statistics(hass, ENTITY, T, T + H)
    assert statistics is not None
    assert statistics.rows == {T: HourRow(T, 1000.0 * factor, 1500.0 * factor)}
    assert statistics.from_kwh(2.0) == pytest.approx(2.0 * factor)
    assert statistics.tolerance == pytest.approx(1e-6 * factor)


async def test_what_cannot_be_filled(hass: HomeAssistant) -> None:
    """No statistics yet, or statistics in a unit that is not energy: nothing to fill; a row
    without a state is no row to continue from."""
    assert await read_energy_statistics(hass, ENTITY, T, T + H) is None
    async_import_statistics(hass, metadata(), [StatisticData(start=T, sum=5.0)])
    await async_wait_recording_done(hass)
    statistics = await read_energy_statistics(hass, ENTITY, T, T + H)
    assert statistics is not None
    assert statistics.rows == {}
    await seed(hass, {T: (1.0, 1.0)}, unit="m³", statistic_id="sensor.meter_gas")
    assert await read_energy_statistics(hass, "sensor.meter_gas", T, T + H) is None


async def test_row_starts_are_utc(hass: HomeAssistant) -> None:
    await hass.config.async_set_time_zone("Europe/Copenhagen")
    await seed(hass, {T: (1.0, 2.0)})
    statistics = await read_energy_statistics(hass, ENTITY, T, T + H)
    assert statistics is not None
    (start,) = statistics.rows
    assert start == T
    assert start.utcoffset() == timedelta(0)
    assert dt_util.as_local(start).hour == 11
