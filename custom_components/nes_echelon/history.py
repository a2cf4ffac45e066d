"""Fill the Energy dashboard's gaps from the meter's own history (its load profile).

When Home Assistant or the probe is down for hours, the recorder sees no reading for the hours
of the gap and puts the whole gap's consumption into the first hour after it: a spike, in the
wrong hour. The meter logged the truth: INT32 snapshots of its import/export registers at each
interval end. After a gap (no good read for longer than ``GAP_MIN``), this module reads the
profile for the gap, between regular polls and one request at a time, and rewrites the gap's
hourly statistics of the energy entities.

The mechanism (see the README, "History from the meter"): ``recorder.async_import_statistics``
on each entity's own statistics (statistic id = entity id, source ``recorder``). In HA 2026.10
it runs as a task in the recorder's queue, in order with the recorder's own compiles, and
updates the row of an hour that already has one (``_import_statistics_with_session``:
``_statistics_exists`` then ``_update_statistics``) and inserts the others. For a total_increasing
sensor, ``sum - state`` is constant within a meter cycle, so each gap hour H gets
``state = reading at H's end`` and ``sum = state + (sum - state of the row before the gap)``:
the ``sum`` stays continuous, the hour after the gap keeps only its own consumption, and no row
outside the gap is written. Only hours the recorder has already compiled are written (its
statistics runs reach H:55), so an import can never collide with a later compile of the same
hour (the unique-constraint errors other integrations ran into).

An hour whose reading is not usable (power failure in the interval, a skipped or otherwise
flagged value, or no reading at all) is left as the recorder had it and logged; only where the
recorder's row would make the sum run backwards (the flat rows it compiles while Home Assistant
was down) is it set to "no consumption" (the previous hour's sum), so the next known hour gets
that consumption, never a negative one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
import logging
from typing import TYPE_CHECKING, Any, Literal

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
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.helpers.recorder import get_instance, session_scope
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import EnergyConverter
from sqlalchemy import func

from .const import DOMAIN
from .nes_client import NesError, PsemError
from .nes_client.history import (
    Cursor,
    DataSet,
    IntervalReading,
    LoadProfileReader,
    NoLoadProfile,
    ProfileConfiguration,
    ProfileExtent,
)
from .nes_client.tables import EnergySource

if TYPE_CHECKING:
    from .coordinator import NesEchelonConfigEntry, NesEchelonCoordinator

_LOGGER = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
GAP_MIN = timedelta(minutes=5)  # no good read for longer than this (and 3 polls) is a gap
REQUEST_SPACING = 1.0  # seconds between history requests: the MEP guide's 1 read/s average
MAX_FAILURES = 3  # a job that fails this often in a row is given up (logged)
BASE_LOOKBACK = timedelta(days=7)  # how far back to look for the row before a gap
COMPILED = timedelta(minutes=55)  # hour H is compiled with the recorder's 5-minute period H:55
SAVE_DELAY = 60.0
STORAGE_VERSION = 1
RECORDER = "recorder"
EPSILON_KWH = 1e-6

type Origin = Literal["gap", "action"]


class _Interrupted(Exception):
    """The coordinator's client changed or closed under a history read: retry later."""


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def entity_key(energy: EnergySource) -> str:
    """The sensor description key of the entity showing this counter."""
    prefix = "" if energy.tier is None else f"tier_{energy.tier + 1}_"
    return f"{prefix}energy_{energy.direction}"


def _local(moment: datetime) -> str:
    return dt_util.as_local(moment).strftime("%Y-%m-%d %H:%M")


@dataclass
class HistoryJob:
    """Rewrite the hours whose end lies in (start, end]: for a gap, start = the last good read
    before it and end = the first one after it."""

    start: datetime
    end: datetime
    origin: Origin
    readings: dict[datetime, IntervalReading] = field(default_factory=dict)
    cursor: Cursor | None = None
    read_done: bool = False
    failures: int = 0

    @property
    def hours(self) -> list[datetime]:
        first, last = floor_hour(self.start), floor_hour(self.end) - HOUR
        count = int((last - first) / HOUR) + 1 if last >= first else 0
        return [first + i * HOUR for i in range(count)]

    def as_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "origin": self.origin}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HistoryJob | None:
        start = dt_util.parse_datetime(str(data.get("start")))
        end = dt_util.parse_datetime(str(data.get("end")))
        origin = data.get("origin")
        if start is None or end is None or origin not in ("gap", "action"):
            return None
        return cls(start, end, "gap" if origin == "gap" else "action")


@dataclass
class EntityResult:
    entity_id: str
    written: int = 0
    left: list[tuple[datetime, str]] = field(default_factory=list)
    zeroed: list[datetime] = field(default_factory=list)


def _reason(reading: IntervalReading | None, channel: int) -> str | None:
    """Why a reading cannot make an hour row; None when it can."""
    if reading is None:
        return "no reading"
    if reading.record.power_failure:
        return "power failure"
    if reading.value(channel) is None:
        return f"status {reading.record.channel_status[channel]}"
    return None


def _last_statistics_run(hass: HomeAssistant) -> datetime | None:
    """The start of the newest 5-minute period the recorder has compiled (its own table)."""
    with session_scope(hass=hass, read_only=True) as session:
        value = session.query(func.max(StatisticsRuns.start)).scalar()
    return process_timestamp(value) if value is not None else None


class HistoryBackfill:
    """Watches the coordinator's reads for gaps and fills them from the load profile."""

    def __init__(
        self, hass: HomeAssistant, entry: NesEchelonConfigEntry, coordinator: NesEchelonCoordinator
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.coordinator = coordinator
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.history.{entry.entry_id}"
        )
        self._last_read: datetime | None = None
        self.jobs: list[HistoryJob] = []
        self._task: asyncio.Task[None] | None = None
        self._reader: LoadProfileReader | None = None
        self.configuration: ProfileConfiguration | None = None
        self.extent: ProfileExtent | None = None
        self.problem: str | None = None  # why the profile cannot be used (permanent)
        self._probed = False
        self._warned: set[str] = set()
        self._last_request = -REQUEST_SPACING  # loop time of the last history request
        self._save_due: float | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def async_start(self) -> None:
        data = await self._store.async_load() or {}
        last = dt_util.parse_datetime(str(data.get("last_read", "")))
        self._last_read = last
        self.jobs = [job for item in data.get("jobs", []) if (job := HistoryJob.from_dict(item))]
        self.entry.async_on_unload(self.coordinator.async_add_listener(self._handle_update))
        self._handle_update()

    async def async_stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        await self._store.async_save(self._data())

    def _data(self) -> dict[str, Any]:
        return {
            "last_read": self._last_read.isoformat() if self._last_read else None,
            "jobs": [job.as_dict() for job in self.jobs],
        }

    def _save(self) -> None:
        """Write within SAVE_DELAY (not postponed by every poll, so a crash loses little)."""
        now = self.hass.loop.time()
        if self._save_due is None or now >= self._save_due:
            self._store.async_delay_save(self._data, SAVE_DELAY)
            self._save_due = now + SAVE_DELAY

    # -- gap detection ---------------------------------------------------------------------

    @property
    def gap_min(self) -> timedelta:
        interval = self.coordinator.update_interval or timedelta(0)
        return max(GAP_MIN, 3 * interval)

    @callback
    def _handle_update(self) -> None:
        coordinator = self.coordinator
        if not coordinator.last_update_success or coordinator.data is None:
            return
        read_at = coordinator.data.read_at
        last = self._last_read
        if last is not None and read_at <= last:
            return
        if last is not None and read_at - last > self.gap_min:
            job = HistoryJob(last, read_at, "gap")
            if job.hours:
                _LOGGER.info(
                    "%s: no reading from %s to %s; filling %d hour(s) from the meter's load "
                    "profile",
                    self.entry.title,
                    _local(last),
                    _local(read_at),
                    len(job.hours),
                )
                self.jobs.append(job)
        self._last_read = read_at
        self._save()
        self._kick()

    @callback
    def _kick(self) -> None:
        if self._task is not None and not self._task.done():
            return
        if self.jobs or (not self._probed and self.problem is None):
            self._task = self.entry.async_create_background_task(
                self.hass, self._run(), f"{DOMAIN} history {self.entry.entry_id}"
            )

    # -- the port, one request at a time ---------------------------------------------------

    def _current_reader(self) -> LoadProfileReader | None:
        client = self.coordinator.client
        if client is None or client.identity is None:
            return None
        if self._reader is None or self._reader.client is not client:
            self._reader = LoadProfileReader(client, gate=partial(self._turn, client))
        return self._reader

    @asynccontextmanager
    async def _turn(self, client: object) -> AsyncIterator[None]:
        """One history request: after a pause, alone on the port, with the client the reader
        was made for (a poll never waits for more than this one request)."""
        wait = self._last_request + REQUEST_SPACING - self.hass.loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        async with self.coordinator.async_exclusive_client() as current:
            if current is not client:
                raise _Interrupted
            try:
                yield
            finally:
                self._last_request = self.hass.loop.time()

    # -- the work --------------------------------------------------------------------------

    async def _run(self) -> None:
        reader = self._current_reader()
        if reader is None:
            return
        try:
            if not self._probed:
                await self._probe(reader)
            while self.jobs:
                job = self.jobs[0]
                if not await self._process(job, reader):
                    return  # not compiled yet: the next poll tries again
                self.jobs.pop(0)
                self._save()
        except _Interrupted:
            _LOGGER.debug("history read interrupted by a reconnect; resuming later")
        except NoLoadProfile as err:
            self._give_up(str(err))
        except NesError as err:
            if isinstance(err, PsemError) and not self._probed:
                self._give_up(str(err))
                return
            if self.jobs:
                job = self.jobs[0]
                job.failures += 1
                if job.failures >= MAX_FAILURES:
                    _LOGGER.warning(
                        "%s: reading the meter's history for %s to %s failed %d times; giving "
                        "up (%s)",
                        self.entry.title,
                        _local(job.start),
                        _local(job.end),
                        job.failures,
                        err,
                    )
                    self.jobs.pop(0)
                    self._save()
                    return
            _LOGGER.debug("history read failed, trying again after the next poll: %s", err)

    def _give_up(self, problem: str) -> None:
        """The profile cannot be used: say so once, drop the gap jobs."""
        self.problem = problem
        self._probed = True
        if self.jobs:
            _LOGGER.warning(
                "%s: the meter's load profile cannot fill the gaps: %s", self.entry.title, problem
            )
            self.jobs.clear()
            self._save()
        else:
            _LOGGER.info("%s: no history from the meter: %s", self.entry.title, problem)

    async def _probe(self, reader: LoadProfileReader) -> None:
        """Once: what the profile logs (diagnostics, and a warning if it logs no energy)."""
        config = await reader.configuration()
        self.configuration = config
        data_set = config.energy_set()
        if data_set is not None:
            self.extent = await reader.extent(data_set)
        self._probed = True
        self._check_energy_set(config)

    def _check_energy_set(self, config: ProfileConfiguration) -> DataSet | None:
        data_set = config.energy_set()
        if data_set is None and "no_energy" not in self._warned:
            self._warned.add("no_energy")
            _LOGGER.warning(
                "%s: the meter's load profile logs no import/export energy at an hourly-"
                "compatible interval (%s); gaps cannot be filled from it",
                self.entry.title,
                _describe(config),
            )
        return data_set

    async def _compiled_through(self, hour: datetime) -> bool:
        last_run = await get_instance(self.hass).async_add_executor_job(
            _last_statistics_run, self.hass
        )
        return last_run is not None and last_run >= hour + COMPILED

    async def _process(self, job: HistoryJob, reader: LoadProfileReader) -> bool:
        """False: wait (the recorder has not compiled the last hour yet)."""
        hours = job.hours
        if not hours:
            return True
        if RECORDER not in self.hass.config.components:
            _LOGGER.debug("no recorder: nothing to fill for %s", job)
            return True
        config = await reader.configuration()
        self.configuration = config
        data_set = self._check_energy_set(config)
        if data_set is None:
            return True
        if not await self._compiled_through(hours[-1]):
            return False
        first_end, last_end = hours[0] + HOUR, hours[-1] + HOUR
        if not job.read_done:
            extent = await reader.extent(data_set)
            self.extent = extent
            start = first_end
            if extent is None or extent.oldest > first_end:
                self._report_short(job, extent)
                if extent is None or extent.oldest > last_end:
                    return True
                start = extent.oldest
            elif job.origin == "gap":
                ir.async_delete_issue(self.hass, DOMAIN, self._issue_id)
            async for piece in reader.read(data_set, start, last_end, resume=job.cursor):
                for reading in piece.readings:
                    job.readings[reading.end] = reading
                if piece.cursor is not None:
                    job.cursor = piece.cursor
            job.read_done = True
        results = [
            result
            for channel in data_set.energy_channels
            if (result := await self._write(job, channel.channel, channel.energy)) is not None
        ]
        self._log_results(job, results)
        return True

    @property
    def _issue_id(self) -> str:
        return f"history_incomplete_{self.entry.entry_id}"

    def _report_short(self, job: HistoryJob, extent: ProfileExtent | None) -> None:
        oldest = _local(extent.oldest) if extent else "-"
        _LOGGER.warning(
            "%s: the meter's load profile reaches back to %s only; the hours from %s to %s "
            "stay as recorded",
            self.entry.title,
            oldest,
            _local(job.hours[0]),
            _local(extent.oldest if extent else job.end),
        )
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self._issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="history_incomplete",
            translation_placeholders={
                "title": self.entry.title,
                "start": _local(job.start),
                "end": _local(job.end),
                "oldest": oldest,
            },
        )

    async def _write(
        self, job: HistoryJob, channel: int, energy: EnergySource | None
    ) -> EntityResult | None:
        """Rewrite one entity's hourly rows for the job's hours; None if it has none."""
        identity = self.coordinator.identity
        if energy is None or identity is None:
            return None
        entity_id = er.async_get(self.hass).async_get_entity_id(
            "sensor", DOMAIN, f"{identity.serial_number}_{entity_key(energy)}"
        )
        if entity_id is None:
            return None
        instance = get_instance(self.hass)
        metadata = await instance.async_add_executor_job(
            partial(get_metadata, self.hass, statistic_ids={entity_id})
        )
        if entity_id not in metadata:
            return None  # no statistics yet: nothing to repair
        meta = metadata[entity_id][1]
        unit = meta["unit_of_measurement"]
        if unit not in EnergyConverter.VALID_UNITS:
            return None
        convert = EnergyConverter.converter_factory(UnitOfEnergy.KILO_WATT_HOUR, unit)
        hours = job.hours
        stats = await instance.async_add_executor_job(
            statistics_during_period,
            self.hass,
            hours[0] - BASE_LOOKBACK,
            hours[-1] + HOUR,
            {entity_id},
            "hour",
            {EnergyConverter.UNIT_CLASS: unit},
            {"state", "sum"},
        )
        existing = {
            dt_util.utc_from_timestamp(row["start"]): row for row in stats.get(entity_id, [])
        }
        base = next(
            (
                (row_sum, row_state)
                for start, row in sorted(existing.items(), reverse=True)
                if start < hours[0]
                and (row_sum := row.get("sum")) is not None
                and (row_state := row.get("state")) is not None
            ),
            None,
        )
        if base is None:
            _LOGGER.debug("%s: no statistics before %s to continue from", entity_id, hours[0])
            return None
        result = EntityResult(entity_id)
        rows = self._rows(job, channel, hours, convert, base, result)
        if rows is None:
            return None
        final = self._settle_unusable(rows, existing, base, result)
        if final:
            async_import_statistics(self.hass, _import_metadata(meta), final)
        result.written = sum(1 for row in final if row["start"] not in result.zeroed)
        return result

    def _rows(
        self,
        job: HistoryJob,
        channel: int,
        hours: list[datetime],
        convert: Callable[[float], float],
        base: tuple[float, float],
        result: EntityResult,
    ) -> dict[datetime, StatisticData | None] | None:
        """The new row of each hour (None: no usable reading), or None on a register reset."""
        offset = base[0] - base[1]
        last = convert(base[1])
        rows: dict[datetime, StatisticData | None] = {}
        for hour in hours:
            reading = job.readings.get(hour + HOUR)
            reason = _reason(reading, channel)
            if reason is not None or reading is None:
                result.left.append((hour, reason or "no reading"))
                rows[hour] = None
                continue
            value = reading.value(channel)
            assert value is not None
            state = convert(value / 1000)
            if state < last - EPSILON_KWH:
                _LOGGER.warning(
                    "%s: the meter's register went down at %s (a reset?); its history is left "
                    "as recorded",
                    result.entity_id,
                    _local(reading.end),
                )
                return None
            last = state
            rows[hour] = StatisticData(start=hour, state=state, sum=offset + state)
        return rows

    @staticmethod
    def _settle_unusable(
        rows: dict[datetime, StatisticData | None],
        existing: dict[datetime, Any],
        base: tuple[float, float],
        result: EntityResult,
    ) -> list[StatisticData]:
        """Hours without a usable reading keep the recorder's row, unless that row would make
        the sum run backwards or jump past the next known hour: then "no consumption"."""
        final: list[StatisticData] = []
        prev_sum, prev_state = base
        upper: dict[datetime, float | None] = {}
        following: float | None = None
        for hour in reversed(rows):
            upper[hour] = following
            if (row := rows[hour]) is not None:
                following = row["sum"]
        for hour, row in rows.items():
            if row is not None:
                final.append(row)
                prev_sum, prev_state = row["sum"], row["state"]
                continue
            old = existing.get(hour)
            if old is None or old.get("sum") is None:
                continue  # no row: leave it so
            old_sum = float(old["sum"])
            limit = upper[hour]
            if old_sum >= prev_sum - EPSILON_KWH and (
                limit is None or old_sum <= limit + EPSILON_KWH
            ):
                prev_sum = old_sum
                if old.get("state") is not None:
                    prev_state = float(old["state"])
                continue
            final.append(StatisticData(start=hour, state=prev_state, sum=prev_sum))
            result.zeroed.append(hour)
        return final

    def _log_results(self, job: HistoryJob, results: list[EntityResult]) -> None:
        hours = job.hours
        if not results:
            _LOGGER.info(
                "%s: history from %s to %s: no energy entity with statistics to fill",
                self.entry.title,
                _local(hours[0]),
                _local(hours[-1] + HOUR),
            )
            return
        left = sorted({(hour, reason) for result in results for hour, reason in result.left})
        zeroed = sorted({hour for result in results for hour in result.zeroed})
        _LOGGER.info(
            "%s: history from the meter for %s to %s written to %s (%s)%s%s",
            self.entry.title,
            _local(hours[0]),
            _local(hours[-1] + HOUR),
            ", ".join(result.entity_id for result in results),
            ", ".join(str(result.written) for result in results) + " hour row(s)",
            "; left as recorded: "
            + ", ".join(f"{_local(hour)} ({reason})" for hour, reason in left)
            if left
            else "",
            "; set to no consumption (the recorder's row ran backwards): "
            + ", ".join(_local(hour) for hour in zeroed)
            if zeroed
            else "",
        )

    # -- the action ------------------------------------------------------------------------

    async def async_request_import(self, start: datetime, end: datetime) -> int:
        """Validate an import of (start, end] and queue it; returns the number of hours."""
        start, end = dt_util.as_utc(start), dt_util.as_utc(end)
        if start >= end:
            raise _invalid("history_invalid_range")
        if end > dt_util.utcnow():
            raise _invalid("history_in_future")
        if RECORDER not in self.hass.config.components:
            raise _invalid("history_no_recorder")
        if self.problem is not None:
            raise _invalid("history_no_profile", error=self.problem)
        client = self.coordinator.client
        if client is None or client.identity is None:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="history_unavailable",
                translation_placeholders={"error": "the meter is not connected"},
            )
        reader = LoadProfileReader(client, gate=partial(self._turn, client))
        try:
            config = await reader.configuration()
            self.configuration = config
            data_set = config.energy_set()
            if data_set is None:
                raise _invalid("history_no_energy_channel", sources=_describe(config))
            extent = await reader.extent(data_set)
        except NoLoadProfile as err:
            raise _invalid("history_no_profile", error=str(err)) from err
        except (NesError, _Interrupted) as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="history_unavailable",
                translation_placeholders={"error": str(err) or "reconnected"},
            ) from err
        self.extent = extent
        if extent is None or start < extent.oldest - data_set.interval:
            raise _invalid(
                "history_before_profile",
                oldest=_local(extent.oldest) if extent else "-",
            )
        job = HistoryJob(start, end, "action")
        _LOGGER.info(
            "%s: importing the meter's history for %s to %s (%d hours)",
            self.entry.title,
            _local(start),
            _local(end),
            len(job.hours),
        )
        self.jobs.append(job)
        self._save()
        self._kick()
        return len(job.hours)

    # -- diagnostics -----------------------------------------------------------------------

    def diagnostics(self) -> dict[str, Any]:
        config = self.configuration
        energy_set = config.energy_set() if config else None
        return {
            "problem": self.problem,
            "last_read": self._last_read.isoformat() if self._last_read else None,
            "pending": [job.as_dict() for job in self.jobs],
            "extent": None
            if self.extent is None
            else {
                "oldest": self.extent.oldest.isoformat(),
                "newest": self.extent.newest.isoformat(),
            },
            "sets": None
            if config is None
            else [
                {
                    "set": item.index + 1,
                    "used_for_history": energy_set is not None and item.index == energy_set.index,
                    "interval_minutes": item.dimensions.interval_time
                    if item.dimensions.interval_time != 84
                    else 24 * 60,
                    "blocks": item.dimensions.blocks,
                    "intervals_per_block": item.dimensions.intervals,
                    "depth_days": round(item.depth / timedelta(days=1), 2),
                    "channels": [
                        {
                            "channel": channel.channel,
                            "source": channel.source,
                            "name": channel.name,
                            "entity": entity_key(channel.energy) if channel.energy else None,
                        }
                        for channel in item.channels
                    ],
                }
                for item in config.sets
            ],
        }


def _describe(config: ProfileConfiguration) -> str:
    return "; ".join(
        f"set {item.index + 1}: {item.dimensions.interval_time} min, "
        + ", ".join(channel.name for channel in item.channels)
        for item in config.sets
    )


def _import_metadata(meta: StatisticMetaData) -> StatisticMetaData:
    """The entity's own metadata, unchanged (so the import does not alter it)."""
    return StatisticMetaData(
        mean_type=meta["mean_type"],
        has_sum=meta["has_sum"],
        name=meta["name"],
        source=meta["source"],
        statistic_id=meta["statistic_id"],
        unit_class=meta["unit_class"],
        unit_of_measurement=meta["unit_of_measurement"],
    )


def _invalid(key: str, **placeholders: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders=placeholders or None,
    )
