"""When the backfill works and when it waits: the recorder lagging behind, a job the profile no
longer reaches, a reconnect or an unload in the middle of a read, a first read that failed, and
a meter without a profile that had a gap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
import logging
from typing import Any

from homeassistant.core import HomeAssistant
import pytest

from custom_components.nes_echelon.const import DOMAIN
from custom_components.nes_echelon.history.hours import HistoryJob
from custom_components.nes_echelon.nes_client import IntegrityError
from custom_components.nes_echelon.nes_client.history import (
    HistoryPiece,
    LoadProfileReader,
    ProfileConfiguration,
)
from custom_components.nes_echelon.runtime import NesEchelonData
from nes_echelon_dev.simulator import SimulatedMeter
from nes_echelon_dev.simulator.load_profile import ProfileSetConfig

from ..conftest import StartMeter, make_entry, setup_entry
from .conftest import MakeTimeline, varying
from .test_gaps import LOGGER, assert_continuous, assert_true, hours, utc


@pytest.fixture(autouse=True)
def history_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)


def messages(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


@pytest.mark.freeze_time("2026-03-10 19:59:50+00:00", tick=True)
async def test_a_gap_waits_until_the_recorder_has_compiled_it(
    make_timeline: MakeTimeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first poll after the gap comes before the recorder compiled the gap's last hour (a
    busy recorder): writing now could collide with that compile, so the job waits a poll."""
    timeline = await make_timeline(loads=varying, history_hours=2)
    await timeline.run(1)  # to 21:00
    await timeline.link_down()
    await timeline.run(2)  # to 23:00
    await timeline.link_back()
    compile_until = timeline.compile_until

    async def lagging(moment: Any) -> None:
        """The recorder falls behind: nothing compiled."""

    monkeypatch.setattr(timeline, "compile_until", lagging)
    await timeline.step()  # 23:30: the gap is found, 22:00-23:00 is not compiled yet
    backfill = timeline.backfill
    assert len(backfill.jobs) == 1
    assert utc("2026-03-10T22:00") not in await timeline.rows()
    monkeypatch.setattr(timeline, "compile_until", compile_until)
    await timeline.step()  # 00:00: compiled up to now, and filled
    assert backfill.jobs == []
    rows = await timeline.rows()
    assert_true(timeline, rows, hours(utc("2026-03-10T20:00"), utc("2026-03-10T22:00")))
    assert_continuous(rows)


@pytest.mark.freeze_time("2026-03-10 19:59:50+00:00", tick=True)
async def test_a_stored_job_the_profile_no_longer_reaches(
    hass: HomeAssistant, make_timeline: MakeTimeline, caplog: pytest.LogCaptureFixture
) -> None:
    """A job kept over a long stop: the meter's 4-hour profile has moved on since. It is
    dropped with a warning; nothing is written."""
    config = ProfileSetConfig(blocks=2, intervals_per_block=8)
    timeline = await make_timeline((config,), loads=varying, history_hours=1)
    await timeline.run(6)  # to 02:00; the profile holds 22:15 onwards
    before = await timeline.rows()
    backfill = timeline.backfill
    backfill.queue(HistoryJob(utc("2026-03-10T19:10"), utc("2026-03-10T21:05"), "gap"))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert backfill.jobs == []
    assert await timeline.rows() == before
    (warning,) = messages(caplog, "reaches back to")
    assert "the hours from 2026-03-10 12:00 to 2026-03-10 15:15 stay as recorded" in warning


@pytest.mark.freeze_time("2026-03-10 19:59:50+00:00", tick=True)
async def test_a_reconnect_in_the_middle_of_a_read(
    make_timeline: MakeTimeline, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The port is closed and opened again (a failed poll) while the gap is read: the read
    stops at its next request and goes on with the new connection after the next poll."""
    timeline = await make_timeline(loads=varying, history_hours=2)
    await timeline.run(1)
    await timeline.link_down()
    await timeline.run(2)
    read = LoadProfileReader.read
    closed = False

    async def reconnecting(
        self: LoadProfileReader, *args: Any, **kwargs: Any
    ) -> AsyncIterator[HistoryPiece]:
        nonlocal closed
        if not closed:
            closed = True
            await timeline.coordinator.async_close()
        async for piece in read(self, *args, **kwargs):
            yield piece

    monkeypatch.setattr(LoadProfileReader, "read", reconnecting)
    await timeline.link_back()
    await timeline.step()
    assert messages(caplog, "interrupted by a reconnect")
    backfill = timeline.backfill
    assert len(backfill.jobs) == 1
    assert backfill.jobs[0].failures == 0
    await timeline.run(1)
    assert backfill.jobs == []
    rows = await timeline.rows()
    assert_true(timeline, rows, hours(utc("2026-03-10T20:00"), utc("2026-03-10T22:00")))


@pytest.mark.freeze_time("2026-03-10 19:59:50+00:00", tick=True)
async def test_an_unload_in_the_middle_of_a_read_keeps_the_job(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    make_timeline: MakeTimeline,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Home Assistant stops while a gap is being read: the read is cancelled, the job is
    stored, and the next start finishes it."""
    timeline = await make_timeline(loads=varying, history_hours=2)
    assert timeline.entry is not None
    await timeline.run(1)
    await timeline.link_down()
    await timeline.run(2)
    read = LoadProfileReader.read
    reading = asyncio.Event()

    async def stuck(*_: Any, **__: Any) -> AsyncIterator[HistoryPiece]:
        reading.set()
        await asyncio.Event().wait()  # never
        yield HistoryPiece((), None)  # an async generator

    monkeypatch.setattr(LoadProfileReader, "read", stuck)
    await timeline.link_back()
    timeline.sleeping = True  # the steps below poll by hand, without waiting for the read
    await timeline.step()
    coordinator = timeline.coordinator
    await coordinator.async_refresh()  # the poll that finds the gap
    await reading.wait()
    await coordinator.async_refresh()  # a poll while the read is still on
    assert len(timeline.backfill.jobs) == 1
    await hass.config_entries.async_unload(timeline.entry.entry_id)
    await hass.async_block_till_done()
    stored = hass_storage[f"{DOMAIN}.history.{timeline.entry.entry_id}"]["data"]
    assert [job["origin"] for job in stored["jobs"]] == ["gap"]

    monkeypatch.setattr(LoadProfileReader, "read", read)
    await hass.config_entries.async_setup(timeline.entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    timeline.sleeping = False
    await timeline.run(0.5)
    assert timeline.backfill.jobs == []
    rows = await timeline.rows()
    assert_true(timeline, rows, hours(utc("2026-03-10T20:00"), utc("2026-03-10T22:00")))


@pytest.mark.freeze_time("2026-03-10 19:59:50+00:00", tick=True)
async def test_a_failed_first_read_is_tried_again(
    make_timeline: MakeTimeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A corrupted answer to the first profile read is a failure like any other, not a
    refusal: the next poll reads the profile again."""
    configuration = LoadProfileReader.configuration
    failures = 1

    async def flaky(self: LoadProfileReader) -> ProfileConfiguration:
        nonlocal failures
        if failures:
            failures -= 1
            raise IntegrityError("a corrupted reply")
        return await configuration(self)

    monkeypatch.setattr(LoadProfileReader, "configuration", flaky)
    timeline = await make_timeline(history_hours=1)
    profile = timeline.backfill.profile
    assert (profile.probed, profile.problem) == (False, None)
    await timeline.step()
    assert (profile.probed, profile.problem) == (True, None)
    assert profile.configuration is not None


async def test_a_gap_on_a_meter_without_a_profile(
    hass: HomeAssistant, start_meter: StartMeter, caplog: pytest.LogCaptureFixture
) -> None:
    """The meter keeps no load profile (said once at start-up): a later gap is dropped with a
    warning that it cannot be filled."""
    running = await start_meter(SimulatedMeter(), link="mep")
    entry = make_entry(hass, running)
    await setup_entry(hass, entry)
    data: NesEchelonData = entry.runtime_data
    assert data.history.profile.problem is not None
    assert messages(caplog, "no history from the meter")
    assert data.history.last_read is not None
    data.history.last_read -= timedelta(hours=3)
    await data.coordinator.async_refresh()
    await hass.async_block_till_done(wait_background_tasks=True)
    assert data.history.jobs == []
    (warning,) = messages(caplog, "cannot fill the gaps")
    assert "no load profile" in warning
