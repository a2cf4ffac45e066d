"""The backfill's lifecycle: it watches the coordinator's reads for gaps, keeps its jobs across
restarts, and works them off between polls (see the package's docstring for the mechanism)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
import logging
from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.storage import Store

from ..const import DOMAIN
from ..coordinator import NesEchelonCoordinator
from ..nes_client import NesError, PsemError
from ..nes_client.history import NoLoadProfile
from .fill import JobFiller, local_time
from .hours import HistoryJob, parse_moment
from .meter import TRY_LATER, Interrupted, MeterProfile

_LOGGER = logging.getLogger(__name__)

GAP_MIN = timedelta(minutes=5)  # no good read for longer than this (and 3 polls) is a gap
MAX_FAILURES = 3  # a job that fails this often in a row is given up (logged)
SAVE_DELAY = 60.0
STORAGE_VERSION = 1


def history_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    """Where an entry's last good read and pending jobs are kept (a restart is a gap too)."""
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.history.{entry_id}")


class HistoryBackfill:
    """Watches the coordinator's reads for gaps and fills them from the load profile."""

    def __init__(self, hass: HomeAssistant, coordinator: NesEchelonCoordinator) -> None:
        self.hass = hass
        self.coordinator = coordinator
        self.entry = coordinator.config_entry
        self.profile = MeterProfile(coordinator)
        self._filler = JobFiller(hass, self.profile)
        self.last_read: datetime | None = None
        self.jobs: list[HistoryJob] = []
        self._store = history_store(hass, self.entry.entry_id)
        self._task: asyncio.Task[None] | None = None
        self._save_due: float | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def async_start(self) -> None:
        data = await self._store.async_load() or {}
        self.last_read = parse_moment(data.get("last_read"))
        self.jobs = [job for item in data.get("jobs", []) if (job := HistoryJob.from_dict(item))]
        self.entry.async_on_unload(self.coordinator.async_add_listener(self._handle_update))
        self._handle_update()

    async def async_stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        await self._store.async_save(self._data())

    def _data(self) -> dict[str, Any]:
        return {
            "last_read": self.last_read.isoformat() if self.last_read else None,
            "jobs": [job.as_dict() for job in self.jobs],
        }

    def _save(self) -> None:
        """Write within SAVE_DELAY (not postponed by every poll, so a crash loses little)."""
        now = self.hass.loop.time()
        if self._save_due is None or now >= self._save_due:
            self._store.async_delay_save(self._data, SAVE_DELAY)
            self._save_due = now + SAVE_DELAY

    def queue(self, job: HistoryJob) -> None:
        self.jobs.append(job)
        self._save()
        self._kick()

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
        last = self.last_read
        if last is not None and read_at <= last:
            return
        if last is not None and read_at - last > self.gap_min:
            job = HistoryJob(last, read_at, "gap")
            if job.hours:
                _LOGGER.info(
                    "%s: no reading from %s to %s; filling %d hour(s) from the meter's load "
                    "profile",
                    self.entry.title,
                    local_time(last),
                    local_time(read_at),
                    len(job.hours),
                )
                self.jobs.append(job)
        self.last_read = read_at
        self._save()
        self._kick()

    @callback
    def _kick(self) -> None:
        if self._task is not None and not self._task.done():
            return
        if self.jobs or not self.profile.probed:
            self._task = self.entry.async_create_background_task(
                self.hass, self._run(), f"{DOMAIN} history {self.entry.entry_id}"
            )

    # -- the work --------------------------------------------------------------------------

    async def _run(self) -> None:
        reader = self.profile.current_reader()
        if reader is None:
            return
        try:
            if not self.profile.probed:
                await self.profile.probe(reader)
            while self.jobs:
                if not await self._filler.fill(self.jobs[0], reader):
                    return  # not compiled yet: the next poll tries again
                self.jobs.pop(0)
                self._save()
        except Interrupted:
            _LOGGER.debug("history read interrupted by a reconnect; resuming later")
        except TRY_LATER as err:
            # Busy or not ready (the grid company reading it, say): not a failure of the job,
            # and never a reason to give the profile up.
            _LOGGER.debug("the meter is busy, reading its history after the next poll: %s", err)
        except NesError as err:
            if isinstance(err, NoLoadProfile) or (
                isinstance(err, PsemError) and not self.profile.probed
            ):
                self._give_up(str(err))  # a refusal of the profile itself
            else:
                self._job_failed(err)

    def _job_failed(self, err: NesError) -> None:
        if self.jobs:
            job = self.jobs[0]
            job.failures += 1
            if job.failures >= MAX_FAILURES:
                _LOGGER.warning(
                    "%s: reading the meter's history for %s to %s failed %d times; giving up (%s)",
                    self.entry.title,
                    local_time(job.start),
                    local_time(job.end),
                    job.failures,
                    err,
                )
                self.jobs.pop(0)
                self._save()
                return
        _LOGGER.debug("history read failed, trying again after the next poll: %s", err)

    def _give_up(self, problem: str) -> None:
        """The profile cannot be used: say so once, drop the gap jobs."""
        self.profile.unusable(problem)
        if self.jobs:
            _LOGGER.warning(
                "%s: the meter's load profile cannot fill the gaps: %s", self.entry.title, problem
            )
            self.jobs.clear()
            self._save()
        else:
            _LOGGER.info("%s: no history from the meter: %s", self.entry.title, problem)
