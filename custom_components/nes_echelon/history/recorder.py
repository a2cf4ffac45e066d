"""The recorder adapter: the one place that knows how the recorder keeps statistics.

What the backfill relies on (tests/integration/history/test_recorder.py pins each):
- the recorder notes each compiled 5-minute period in its own StatisticsRuns table; hour H is
  complete once the period starting at H:55 is;
- `async_import_statistics` with an entity's own metadata (source "recorder") updates the row
  of an hour that has one, inserts the others, and leaves every other row and the metadata as
  they were;
- `statistics_during_period` returns rows in the unit asked for, "start" a UNIX timestamp.
The import is a task in the recorder's queue, in order with its compiles, and only compiled
hours are written: an import never collides with a later compile of the same hour (the
unique-constraint errors other integrations ran into).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from homeassistant.components.recorder.db_schema import StatisticsRuns
from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMetaData,
    process_timestamp,
)
from homeassistant.components.recorder.statistics import (
    async_import_statistics,
    get_metadata,
    statistics_during_period,
)
from homeassistant.const import UnitOfEnergy
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance, session_scope
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import EnergyConverter
from sqlalchemy import func

from .hours import TOLERANCE_KWH, Convert, HourRow

RECORDER = "recorder"
LAST_PERIOD = timedelta(minutes=55)  # the start of an hour's last 5-minute period


def recorder_running(hass: HomeAssistant) -> bool:
    return RECORDER in hass.config.components


def _last_statistics_run(hass: HomeAssistant) -> datetime | None:
    """The start of the newest 5-minute period the recorder has compiled (its own table)."""
    with session_scope(hass=hass, read_only=True) as session:
        value: datetime | None = session.query(func.max(StatisticsRuns.start)).scalar()
    return process_timestamp(value) if value is not None else None


async def compiled_through(hass: HomeAssistant, hour: datetime) -> bool:
    """Whether the recorder has compiled the hour starting at `hour` (its last period too)."""
    last_run = await get_instance(hass).async_add_executor_job(_last_statistics_run, hass)
    return last_run is not None and last_run >= hour + LAST_PERIOD


@dataclass(frozen=True, slots=True)
class EnergyStatistics:
    """One energy entity's hourly statistics over a span, in the statistics' own unit."""

    metadata: StatisticMetaData
    rows: dict[datetime, HourRow]  # by start; only rows with both a state and a sum

    @property
    def entity_id(self) -> str:
        return self.metadata["statistic_id"]

    @property
    def from_kwh(self) -> Convert:
        """kWh (the meter's readings) to the statistics' unit (the entity may show Wh, MWh)."""
        return EnergyConverter.converter_factory(
            UnitOfEnergy.KILO_WATT_HOUR, self.metadata["unit_of_measurement"]
        )

    @property
    def tolerance(self) -> float:
        return self.from_kwh(TOLERANCE_KWH)

    def row_before(self, hour: datetime) -> HourRow | None:
        """The newest row that starts before `hour`: the one a rewrite continues from."""
        return next((row for start, row in reversed(self.rows.items()) if start < hour), None)


async def read_energy_statistics(
    hass: HomeAssistant, entity_id: str, start: datetime, end: datetime
) -> EnergyStatistics | None:
    """The entity's hourly rows starting in [start, end); None when it has no statistics yet
    or they are not in an energy unit."""
    instance = get_instance(hass)
    metadata = await instance.async_add_executor_job(
        partial(get_metadata, hass, statistic_ids={entity_id})
    )
    if entity_id not in metadata:
        return None
    meta = metadata[entity_id][1]
    unit = meta["unit_of_measurement"]
    if unit not in EnergyConverter.VALID_UNITS:
        return None
    stats = await instance.async_add_executor_job(
        statistics_during_period,
        hass,
        start,
        end,
        {entity_id},
        "hour",
        {EnergyConverter.UNIT_CLASS: unit},  # as stored: no conversion
        {"state", "sum"},
    )
    rows: dict[datetime, HourRow] = {}
    for row in stats.get(entity_id, []):
        state, total = row.get("state"), row.get("sum")
        if state is not None and total is not None:
            moment = dt_util.utc_from_timestamp(row["start"])
            rows[moment] = HourRow(moment, state, total)
    return EnergyStatistics(meta, dict(sorted(rows.items())))


def import_rows(hass: HomeAssistant, statistics: EnergyStatistics, rows: list[HourRow]) -> None:
    """Queue the rows for the recorder, under the entity's own metadata, unchanged."""
    meta = statistics.metadata
    metadata = StatisticMetaData(
        mean_type=meta["mean_type"],
        has_sum=meta["has_sum"],
        name=meta["name"],
        source=meta["source"],
        statistic_id=meta["statistic_id"],
        unit_class=meta["unit_class"],
        unit_of_measurement=meta["unit_of_measurement"],
    )
    async_import_statistics(
        hass,
        metadata,
        [StatisticData(start=row.start, state=row.state, sum=row.sum) for row in rows],
    )
