"""Fixtures for the history tests: a real recorder (SQLite in memory) and a simulated meter with
a load profile, driven on one timeline.

The recorder has to exist before Home Assistant starts (`recorder_mock` before `hass`), so this
folder's autouse fixture replaces the parent's and asks for `recorder_mock` first. The
recorder's own 5-minute timer is off in the harness; `Timeline` compiles every 5-minute period
explicitly, in order, as the recorder would, so each test knows exactly what it compiled.

Time: the meter's profile clock runs `LEAD` ahead of Home Assistant's, so the poll just before
each step's end reads the registers of the boundary itself: Home Assistant's own hourly rows
then hold the true consumption of each hour too, and every hour can be compared to the Wh.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)

from custom_components.nes_echelon.coordinator import NesEchelonCoordinator
from custom_components.nes_echelon.history import backfill as backfill_module, meter as meter_module
from custom_components.nes_echelon.history.backfill import HistoryBackfill
from custom_components.nes_echelon.history.hours import floor_hour
from custom_components.nes_echelon.nes_client import mep
from nes_echelon_dev.simulator import SimulatedMeter
from nes_echelon_dev.simulator.load_profile import ProfileSetConfig, SimulatedLoadProfile

from ..conftest import RunningMeter, StartMeter, entity_id_of, make_entry, setup_entry

LEAD = timedelta(seconds=10)
HOUR = timedelta(hours=1)
PERIOD = timedelta(minutes=5)
STEP = timedelta(minutes=30)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """The recorder first (before hass), then the loader finds custom_components/."""


@pytest.fixture(autouse=True)
def fast_history(monkeypatch: pytest.MonkeyPatch) -> None:
    """No pause between history requests; polls here are 30 minutes apart, so only a longer
    silence is a gap (in use: 5 minutes, polls every 10 s)."""
    monkeypatch.setattr(meter_module, "REQUEST_SPACING", 0.0)
    monkeypatch.setattr(mep, "MIN_REQUEST_SPACING", 0.0)  # the meter's 100 ms: not needed here
    monkeypatch.setattr(backfill_module, "GAP_MIN", timedelta(minutes=45))


@pytest.fixture(autouse=True)
def quiet_sql() -> Iterator[None]:
    """The harness logs every SQL statement at INFO; formatting them costs most of the time."""
    engine = logging.getLogger("sqlalchemy.engine")
    level = engine.level
    engine.setLevel(logging.WARNING)
    yield
    engine.setLevel(level)


@dataclass
class Timeline:
    """Home Assistant, the recorder and the simulated meter, moved forward together."""

    hass: HomeAssistant
    freezer: FrozenDateTimeFactory
    start_meter: StartMeter
    meter: SimulatedMeter
    running: RunningMeter
    meter_time: datetime
    compiled: datetime  # start of the next 5-minute period to compile
    entry: MockConfigEntry | None = None
    link_up: bool = True
    sleeping: bool = False
    loads: Callable[[datetime], float] = field(default=lambda moment: 400.0)
    _interval: timedelta | None = None

    @property
    def profile(self) -> SimulatedLoadProfile:
        assert self.meter.load_profile is not None
        return self.meter.load_profile

    @property
    def now(self) -> datetime:
        return dt_util.utcnow()

    async def compile_until(self, moment: datetime) -> None:
        """Compile the 5-minute periods that end by `moment`, in order, as the recorder does.

        Only those that can hold a state are compiled (the polls come every 30 minutes, just
        before :00 and :30): compiling a period without a state change adds nothing to the
        hourly rows (each hour's row takes the last 5-minute sum in it, and the period ending
        at the hour is always compiled), and skipping them keeps these tests fast.
        """
        while self.compiled + PERIOD <= moment:
            end = self.compiled + PERIOD
            if (end - floor_hour(end)) % STEP == timedelta(0):
                do_adhoc_statistics(self.hass, start=self.compiled)
            self.compiled = end
        await async_wait_recording_done(self.hass)

    async def poll(self) -> None:
        async_fire_time_changed(self.hass)
        await self.hass.async_block_till_done(wait_background_tasks=True)
        await async_wait_recording_done(self.hass)

    async def step(self, span: timedelta = STEP) -> None:
        """The meter counts `span` (its load set per 5 minutes by `loads`); then Home Assistant
        moves to just before the end, compiles what is complete, and polls (unless asleep)."""
        end = self.meter_time + span
        while self.meter_time < end:
            chunk = min(PERIOD, end - self.meter_time)
            self.meter.loads[0].import_w = self.loads(self.meter_time)
            self.meter.advance(chunk.total_seconds())
            self.meter_time += chunk
        self.freezer.move_to(end - LEAD)
        await self.compile_until(end - LEAD)
        if not self.sleeping:
            await self.poll()  # (moving the clock lets the coordinator's timer fire, too)

    async def fast_forward(self, span: timedelta) -> None:
        """The meter counts `span` before Home Assistant exists (its history)."""
        end = self.meter_time + span
        while self.meter_time < end:
            self.meter.loads[0].import_w = self.loads(self.meter_time)
            self.meter.advance(PERIOD.total_seconds())
            self.meter_time += PERIOD

    def sleep(self) -> None:
        """Home Assistant stops polling (as when it is stopped): the states stay as they are."""
        coordinator = self.coordinator
        self._interval = coordinator.update_interval
        coordinator.update_interval = None
        coordinator._unschedule_refresh()
        self.sleeping = True

    async def wake(self) -> None:
        """Polling again: the first poll after the silence, now."""
        self.coordinator.update_interval = self._interval
        self.sleeping = False
        await self.coordinator.async_refresh()
        await self.hass.async_block_till_done(wait_background_tasks=True)
        await async_wait_recording_done(self.hass)

    @property
    def coordinator(self) -> NesEchelonCoordinator:
        assert self.entry is not None
        coordinator: NesEchelonCoordinator = self.entry.runtime_data.coordinator
        return coordinator

    @property
    def backfill(self) -> HistoryBackfill:
        assert self.entry is not None
        history: HistoryBackfill = self.entry.runtime_data.history
        return history

    async def run(self, hours: float) -> None:
        for _ in range(round(hours * 2)):
            await self.step()

    async def link_down(self) -> None:
        await self.running.sim.close()
        self.link_up = False

    async def link_back(self) -> None:
        self.running = await self.start_meter(
            self.meter, link=self.running.link, tcp_port=self.running.tcp_port
        )
        self.link_up = True

    def truth(self, end: datetime, channel: int = 0) -> int:
        """A register (Wh; channel 0: import) at an interval end, as the profile holds it."""
        reading = self.profile.reading(end)
        assert reading is not None, end
        return reading.values[channel]

    def entity_id(self, key: str = "energy_import") -> str:
        entity_id = entity_id_of(er.async_get(self.hass), key)
        assert entity_id is not None
        return entity_id

    async def rows(
        self, key: str = "energy_import", start: datetime | None = None
    ) -> dict[datetime, dict[str, Any]]:
        """The entity's hourly rows by start (UTC)."""
        entity_id = self.entity_id(key)
        stats = await self.hass.async_add_executor_job(
            statistics_during_period,
            self.hass,
            start or datetime(2000, 1, 1, tzinfo=UTC),
            None,
            {entity_id},
            "hour",
            None,
            {"state", "sum"},
        )
        return {
            dt_util.utc_from_timestamp(row["start"]): {"sum": row["sum"], "state": row["state"]}
            for row in stats.get(entity_id, [])
        }


type MakeTimeline = Callable[..., Awaitable[Timeline]]


@pytest.fixture
async def make_timeline(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, start_meter: StartMeter
) -> MakeTimeline:
    """A meter whose profile starts at the frozen time + LEAD, and its entry, set up."""

    async def make(
        sets: tuple[ProfileSetConfig, ...] = (ProfileSetConfig(blocks=10),),
        *,
        link: str = "mep",
        loads: Callable[[datetime], float] | None = None,
        history_hours: float = 0,
        meter: dict[str, Any] | None = None,
        **profile: Any,
    ) -> Timeline:
        """`history_hours`: how long the meter has recorded before Home Assistant starts."""
        ha_now = dt_util.utcnow().replace(microsecond=0)
        meter_start = ha_now + LEAD - timedelta(hours=history_hours)
        load_profile = SimulatedLoadProfile(sets, start=meter_start, **profile)
        simulated = SimulatedMeter(load_profile=load_profile, **(meter or {}))
        running = await start_meter(simulated, link=link)
        timeline = Timeline(
            hass=hass,
            freezer=freezer,
            start_meter=start_meter,
            meter=simulated,
            running=running,
            meter_time=meter_start,
            compiled=floor_hour(ha_now) + (ha_now - floor_hour(ha_now)) // PERIOD * PERIOD,
        )
        if loads is not None:
            timeline.loads = loads
        if history_hours:
            await timeline.fast_forward(timedelta(hours=history_hours))
        timeline.entry = make_entry(hass, running)
        await setup_entry(hass, timeline.entry)
        return timeline

    return make


def varying(moment: datetime) -> float:
    """A load that differs from hour to hour (and within the hour), so misplaced energy shows."""
    return 250.0 + 53.0 * (moment.hour % 7) + 11.0 * (moment.minute // 5)
