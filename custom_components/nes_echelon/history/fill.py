"""One job's work: read the meter's profile for its hours, rewrite each energy entity's hourly
rows from it, and log what was done (and what was left as recorded, and why)."""

from __future__ import annotations

from datetime import datetime, timedelta
import logging

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util

from ..const import DOMAIN
from ..nes_client.history import DataSet, LoadProfileReader, ProfileExtent
from ..nes_client.tables import EnergySource
from .hours import HOUR, EntityResult, HistoryJob, RegisterWentDown, new_rows, settle_unusable
from .meter import MeterProfile, entity_key
from .recorder import compiled_through, import_rows, read_energy_statistics, recorder_running

_LOGGER = logging.getLogger(__name__)

BASE_LOOKBACK = timedelta(days=7)  # how far back to look for the row before a gap


def local_time(moment: datetime) -> str:
    """A moment as the user reads it in the log and in errors."""
    return dt_util.as_local(moment).strftime("%Y-%m-%d %H:%M")


class JobFiller:
    """Works off jobs for one meter: its profile, its entities."""

    def __init__(self, hass: HomeAssistant, profile: MeterProfile) -> None:
        self.hass = hass
        self.profile = profile

    @property
    def title(self) -> str:
        return self.profile.title

    async def fill(self, job: HistoryJob, reader: LoadProfileReader) -> bool:
        """Do the job; False: not yet (the recorder has not compiled its last hour)."""
        hours = job.hours
        if not hours:
            return True
        if not recorder_running(self.hass):
            _LOGGER.debug("no recorder: nothing to fill for %s", job)
            return True
        data_set = await self.profile.energy_set(reader)
        if data_set is None:
            return True
        if not await compiled_through(self.hass, hours[-1]):
            return False
        if not job.read_done and not await self._read_profile(job, reader, data_set):
            return True
        results = [
            result
            for channel in data_set.energy_channels
            if channel.energy is not None
            and (result := await self._fill_entity(job, channel.channel, channel.energy))
            is not None
        ]
        self._log_results(job, results)
        return True

    async def _read_profile(
        self, job: HistoryJob, reader: LoadProfileReader, data_set: DataSet
    ) -> bool:
        """Read the job's readings (resuming where an interrupted read stopped); False when the
        profile holds none of its hours."""
        hours = job.hours
        first_end, last_end = hours[0] + HOUR, hours[-1] + HOUR
        extent = await self.profile.read_extent(reader, data_set)
        start = first_end
        if extent is None or extent.oldest > first_end:
            self._log_short(job, extent)
            if extent is None or extent.oldest > last_end:
                return False
            start = extent.oldest
        async for piece in reader.read(data_set, start, last_end, resume=job.cursor):
            for reading in piece.readings:
                job.readings[reading.end] = reading
            if piece.cursor is not None:
                job.cursor = piece.cursor
        job.read_done = True
        return True

    def _log_short(self, job: HistoryJob, extent: ProfileExtent | None) -> None:
        # The log, not a repair: there is nothing the user could do about it.
        _LOGGER.warning(
            "%s: the meter's load profile reaches back to %s only; the hours from %s to %s "
            "stay as recorded",
            self.title,
            local_time(extent.oldest) if extent else "-",
            local_time(job.hours[0]),
            local_time(extent.oldest if extent else job.end),
        )

    async def _fill_entity(
        self, job: HistoryJob, channel: int, energy: EnergySource
    ) -> EntityResult | None:
        """Rewrite one entity's hourly rows for the job's hours; None if it has none."""
        identity = self.profile.coordinator.identity
        assert identity is not None  # set by the first refresh, before the backfill starts
        entity_id = er.async_get(self.hass).async_get_entity_id(
            "sensor", DOMAIN, f"{identity.serial_number}_{entity_key(energy)}"
        )
        if entity_id is None:
            return None
        hours = job.hours
        statistics = await read_energy_statistics(
            self.hass, entity_id, hours[0] - BASE_LOOKBACK, hours[-1] + HOUR
        )
        if statistics is None:
            return None  # no statistics yet: nothing to repair
        base = statistics.row_before(hours[0])
        if base is None:
            _LOGGER.debug("%s: no statistics before %s to continue from", entity_id, hours[0])
            return None
        result = EntityResult(entity_id)
        try:
            rows = new_rows(job.readings, channel, hours, base, statistics.from_kwh, result.left)
        except RegisterWentDown as err:
            _LOGGER.warning(
                "%s: the meter's register went down at %s (a reset?); its history is left "
                "as recorded",
                entity_id,
                local_time(err.at),
            )
            return None
        final, result.zeroed = settle_unusable(rows, statistics.rows, base, statistics.tolerance)
        if final:
            import_rows(self.hass, statistics, final)
        result.written = len(final) - len(result.zeroed)
        return result

    def _log_results(self, job: HistoryJob, results: list[EntityResult]) -> None:
        hours = job.hours
        first, end = local_time(hours[0]), local_time(hours[-1] + HOUR)
        if not results:
            _LOGGER.info(
                "%s: history from %s to %s: no energy entity with statistics to fill",
                self.title,
                first,
                end,
            )
            return
        left = sorted({(hour, reason) for result in results for hour, reason in result.left})
        zeroed = sorted({hour for result in results for hour in result.zeroed})
        _LOGGER.info(
            "%s: history from the meter for %s to %s written to %s (%s hour row(s))%s%s",
            self.title,
            first,
            end,
            ", ".join(result.entity_id for result in results),
            ", ".join(str(result.written) for result in results),
            "; left as recorded: "
            + ", ".join(f"{local_time(hour)} ({reason})" for hour, reason in left)
            if left
            else "",
            "; set to no consumption (the recorder's row ran backwards): "
            + ", ".join(local_time(hour) for hour in zeroed)
            if zeroed
            else "",
        )
