"""What the history backfill keeps, and for how long: its Store goes with the entry, and an
unload closes the port once (the coordinator's own shutdown does it)."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Any

from freezegun.api import TickingDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.nes_echelon.const import DOMAIN
from custom_components.nes_echelon.coordinator import NesEchelonCoordinator
from custom_components.nes_echelon.history import HistoryBackfill, meter as meter_module
from custom_components.nes_echelon.history.hours import HistoryJob
from custom_components.nes_echelon.runtime import NesEchelonData
from nes_echelon_dev.simulator import SimulatedMeter
from nes_echelon_dev.simulator.load_profile import SimulatedLoadProfile

from .conftest import RunningMeter, StartMeter, make_entry, setup_entry

LOGGER = "custom_components.nes_echelon"


async def test_the_entry_holds_its_coordinator_and_history(
    hass: HomeAssistant, meter: RunningMeter
) -> None:
    entry = make_entry(hass, meter)
    await setup_entry(hass, entry)
    data = entry.runtime_data
    assert isinstance(data, NesEchelonData)
    assert isinstance(data.coordinator, NesEchelonCoordinator)
    assert isinstance(data.history, HistoryBackfill)
    assert data.history.coordinator is data.coordinator


async def test_removing_the_entry_forgets_its_history(
    hass: HomeAssistant, hass_storage: dict[str, Any], meter: RunningMeter
) -> None:
    entry = make_entry(hass, meter)
    await setup_entry(hass, entry)
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    history_key = f"{DOMAIN}.history.{entry.entry_id}"
    energy_key = f"{DOMAIN}.energy.{entry.entry_id}"
    assert history_key in hass_storage  # the last good read, kept for the next start
    assert energy_key in hass_storage

    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()

    assert history_key not in hass_storage
    assert energy_key not in hass_storage


async def test_unloading_closes_the_port_once(
    hass: HomeAssistant, meter: RunningMeter, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[NesEchelonCoordinator] = []
    close = NesEchelonCoordinator.async_close

    async def counted(self: NesEchelonCoordinator) -> None:
        calls.append(self)
        await close(self)

    monkeypatch.setattr(NesEchelonCoordinator, "async_close", counted)
    entry = make_entry(hass, meter)
    await setup_entry(hass, entry)
    coordinator = entry.runtime_data.coordinator
    assert coordinator.client is not None

    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()

    assert calls == [coordinator]
    assert coordinator.client is None


async def gap(hass: HomeAssistant, entry: MockConfigEntry, before: timedelta) -> HistoryBackfill:
    """Pretend the last good read was `before` ago, and poll."""
    data: NesEchelonData = entry.runtime_data
    assert data.history.last_read is not None
    data.history.last_read -= before
    await data.coordinator.async_refresh()
    await hass.async_block_till_done(wait_background_tasks=True)
    return data.history


async def test_without_a_recorder_a_gap_is_only_logged(
    hass: HomeAssistant, meter: RunningMeter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    entry = make_entry(hass, meter)
    await setup_entry(hass, entry)
    history = await gap(hass, entry, timedelta(hours=3))
    assert any("filling" in r.getMessage() for r in caplog.records)
    assert any("no recorder: nothing to fill" in r.getMessage() for r in caplog.records)
    assert history.jobs == []


@pytest.mark.freeze_time("2026-03-10 10:20:00+00:00", tick=True)
async def test_a_gap_within_one_hour_leaves_no_job(
    hass: HomeAssistant, meter: RunningMeter, caplog: pytest.LogCaptureFixture
) -> None:
    """Ten minutes without a read, both ends in the same hour: that hour's row is compiled
    after it ends, from the reads around it; nothing to fill."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    entry = make_entry(hass, meter)
    await setup_entry(hass, entry)
    history = await gap(hass, entry, timedelta(minutes=10))
    assert history.jobs == []
    assert not any("no reading from" in r.getMessage() for r in caplog.records)


@pytest.mark.freeze_time("2026-03-10 10:20:00+00:00", tick=True)
async def test_a_clock_set_back_is_no_gap(
    hass: HomeAssistant, meter: RunningMeter, freezer: TickingDateTimeFactory
) -> None:
    """Home Assistant's clock is corrected back an hour: the last good read stays where it
    was, so the corrected clock does not make a gap of the hour after it either."""
    entry = make_entry(hass, meter)
    await setup_entry(hass, entry)
    data: NesEchelonData = entry.runtime_data
    last = data.history.last_read
    assert last is not None
    freezer.move_to(last - timedelta(hours=1))
    await data.coordinator.async_refresh()
    await hass.async_block_till_done(wait_background_tasks=True)
    assert data.history.last_read == last
    freezer.move_to(last + timedelta(minutes=1))
    await data.coordinator.async_refresh()
    await hass.async_block_till_done(wait_background_tasks=True)
    assert data.history.last_read is not None
    assert data.history.last_read > last
    assert data.history.jobs == []


async def test_a_job_queued_while_the_port_is_closed_waits(
    hass: HomeAssistant, meter: RunningMeter
) -> None:
    entry = make_entry(hass, meter)
    await setup_entry(hass, entry)
    data: NesEchelonData = entry.runtime_data
    await data.coordinator.async_close()  # as after a failed poll
    assert data.coordinator.client is None
    now = dt_util.utcnow()
    data.history.queue(HistoryJob(now - timedelta(hours=3), now, "action"))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(data.history.jobs) == 1  # nothing to read it with
    await data.coordinator.async_refresh()  # the next poll opens the port again
    await hass.async_block_till_done(wait_background_tasks=True)
    assert data.history.jobs == []  # done (without a recorder: nothing to fill)


async def test_history_requests_are_spaced(
    hass: HomeAssistant, start_meter: StartMeter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe at start-up reads several tables; between two history requests the port
    rests REQUEST_SPACING (the MEP guide's one read per second on average)."""
    monkeypatch.setattr(meter_module, "REQUEST_SPACING", 0.1)
    profile = SimulatedLoadProfile(start=dt_util.utcnow() - timedelta(hours=2))
    simulated = SimulatedMeter(load_profile=profile)
    simulated.advance(2 * 3600)
    running = await start_meter(simulated, link="mep")
    entry = make_entry(hass, running)
    started = hass.loop.time()
    await setup_entry(hass, entry)
    data: NesEchelonData = entry.runtime_data
    elapsed = hass.loop.time() - started
    reader = data.history.profile.current_reader()
    assert reader is not None
    assert data.history.profile.configuration is not None
    assert data.history.profile.extent is not None
    assert reader.requests >= 3
    assert elapsed >= 0.1 * (reader.requests - 1) - 0.01
