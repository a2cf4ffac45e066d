"""The `nes_echelon.import_history` action: it fills a period on request, twice changes
nothing, and refuses what it cannot do with a translated error. Also the diagnostics."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.nes_echelon.const import DOMAIN
from custom_components.nes_echelon.diagnostics import async_get_config_entry_diagnostics
from custom_components.nes_echelon.history import backfill as backfill_module
from custom_components.nes_echelon.nes_client import IntegrityError
from custom_components.nes_echelon.nes_client.history import LoadProfileReader, NoLoadProfile
from nes_echelon_dev.simulator import SimulatedMeter
from nes_echelon_dev.simulator.load_profile import ProfileSetConfig

from ..conftest import StartMeter, make_entry, setup_entry
from .conftest import MakeTimeline, Timeline, varying
from .test_gaps import LOGGER, assert_continuous, assert_true, hours, utc


async def import_history(hass: HomeAssistant, timeline: Timeline, **data: Any) -> None:
    assert timeline.entry is not None
    await hass.services.async_call(
        DOMAIN,
        "import_history",
        {"config_entry_id": timeline.entry.entry_id, **data},
        blocking=True,
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    await async_wait_recording_done(hass)


@pytest.mark.freeze_time("2026-03-10 19:59:50+00:00", tick=True)
async def test_import_fills_the_period_and_twice_changes_nothing(
    hass: HomeAssistant, make_timeline: MakeTimeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backfill_module, "GAP_MIN", timedelta(days=1))  # no automatic filling here
    timeline = await make_timeline(loads=varying, history_hours=2)
    await timeline.run(1)  # to 21:00
    await timeline.link_down()
    await timeline.run(3)  # to 00:00
    await timeline.link_back()
    await timeline.run(1.5)  # to 01:30
    gap = hours(utc("2026-03-10T21:00"), utc("2026-03-10T23:00"))
    assert not set(gap[1:]) & set(await timeline.rows())
    await import_history(
        hass, timeline, start="2026-03-10T21:00:00+00:00", end="2026-03-11T00:00:00+00:00"
    )
    rows = await timeline.rows()
    assert_true(timeline, rows, hours(utc("2026-03-10T20:00"), utc("2026-03-11T00:00")))
    assert_continuous(rows)
    await import_history(
        hass, timeline, start="2026-03-10T21:00:00+00:00", end="2026-03-11T00:00:00+00:00"
    )
    assert await timeline.rows() == rows


async def expect_refusal(
    hass: HomeAssistant,
    timeline: Timeline,
    key: str,
    error: type[HomeAssistantError] = ServiceValidationError,
    **data: Any,
) -> HomeAssistantError:
    with pytest.raises(error) as caught:
        await import_history(hass, timeline, **data)
    assert caught.value.translation_domain == DOMAIN
    assert caught.value.translation_key == key
    return caught.value


@pytest.mark.freeze_time("2026-03-10 19:59:50+00:00", tick=True)
async def test_import_validation(hass: HomeAssistant, make_timeline: MakeTimeline) -> None:
    timeline = await make_timeline(history_hours=2)
    await timeline.run(1)  # to 21:00; the profile holds 18:00-21:00
    start, end = "2026-03-10T20:00:00+00:00", "2026-03-10T20:30:00+00:00"
    await expect_refusal(hass, timeline, "history_invalid_range", start=end, end=start)
    await expect_refusal(hass, timeline, "history_invalid_range", start=start, end=start)
    await expect_refusal(
        hass, timeline, "history_in_future", start=start, end="2026-03-10T22:00:00+00:00"
    )
    refusal = await expect_refusal(
        hass, timeline, "history_before_profile", start="2026-03-10T12:00:00+00:00", end=end
    )
    assert refusal.translation_placeholders == {"oldest": "2026-03-10 11:15"}  # US/Pacific
    assert timeline.entry is not None
    with pytest.raises(ServiceValidationError) as caught:
        await hass.services.async_call(
            DOMAIN,
            "import_history",
            {"config_entry_id": "nope", "start": start, "end": end},
            blocking=True,
        )
    assert caught.value.translation_key == "entry_not_found"
    await timeline.link_down()
    await timeline.step(timedelta(minutes=5))  # a failed poll: the port is closed
    await expect_refusal(
        hass, timeline, "history_unavailable", HomeAssistantError, start=start, end=end
    )
    await hass.config_entries.async_unload(timeline.entry.entry_id)
    await expect_refusal(hass, timeline, "entry_not_loaded", start=start, end=end)


@pytest.mark.freeze_time("2026-03-10 19:59:50+00:00", tick=True)
async def test_import_without_an_energy_channel(
    hass: HomeAssistant, make_timeline: MakeTimeline
) -> None:
    timeline = await make_timeline((ProfileSetConfig(sources=(2, 3, 8)),), history_hours=1)
    refusal = await expect_refusal(
        hass,
        timeline,
        "history_no_energy_channel",
        start="2026-03-10T19:00:00+00:00",
        end="2026-03-10T19:30:00+00:00",
    )
    assert refusal.translation_placeholders == {
        "sources": "set 1: 15 min, import varh, export varh, source 8"
    }


async def test_import_from_a_meter_without_a_profile(
    hass: HomeAssistant, start_meter: StartMeter
) -> None:
    running = await start_meter(SimulatedMeter(), link="mep")
    entry = make_entry(hass, running)
    await setup_entry(hass, entry)
    with pytest.raises(ServiceValidationError) as caught:
        await hass.services.async_call(
            DOMAIN,
            "import_history",
            {
                "config_entry_id": entry.entry_id,
                "start": "2020-01-01T00:00:00+00:00",
                "end": "2020-01-02T00:00:00+00:00",
            },
            blocking=True,
        )
    assert caught.value.translation_key == "history_no_profile"
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert "no load profile" in diagnostics["load_profile"]["problem"]


@pytest.mark.freeze_time("2026-03-10 19:59:50+00:00", tick=True)
async def test_diagnostics_show_the_profile(
    hass: HomeAssistant, make_timeline: MakeTimeline
) -> None:
    sets = (
        ProfileSetConfig(interval_time=5, sources=(8,), blocks=2, intervals_per_block=288),
        ProfileSetConfig(interval_time=60, sources=(0, 1, 29), blocks=40, intervals_per_block=24),
    )
    timeline = await make_timeline(sets, history_hours=1)
    assert timeline.entry is not None
    diagnostics = await async_get_config_entry_diagnostics(hass, timeline.entry)
    profile = diagnostics["load_profile"]
    assert profile["problem"] is None
    assert profile["pending"] == []
    assert profile["extent"]["newest"] == "2026-03-10T20:00:00+00:00"
    first, second = profile["sets"]
    assert first == {
        "set": 1,
        "used_for_history": False,
        "interval_minutes": 5,
        "blocks": 2,
        "intervals_per_block": 288,
        "depth_days": 2.0,
        "channels": [{"channel": 0, "source": 8, "name": "source 8", "entity": None}],
    }
    assert second["used_for_history"] is True
    assert second["depth_days"] == 40.0
    assert [channel["entity"] for channel in second["channels"]] == [
        "energy_import",
        "energy_export",
        "tier_1_energy_import",
    ]


@pytest.mark.freeze_time("2026-03-10 19:59:50+00:00", tick=True)
async def test_a_daily_profile_is_named_in_hours(
    hass: HomeAssistant, make_timeline: MakeTimeline, caplog: pytest.LogCaptureFixture
) -> None:
    """A profile of daily readings (BT61's interval 84) cannot fill hours; the warning and the
    action's error say "24 h" (they used to say "84 min")."""
    caplog.set_level(logging.WARNING, logger=LOGGER)
    daily = ProfileSetConfig(interval_time=84, blocks=30, intervals_per_block=1)
    timeline = await make_timeline((daily,), history_hours=1)
    (warning,) = [r.getMessage() for r in caplog.records if "logs no import" in r.getMessage()]
    assert "(set 1: 24 h, import Wh, export Wh)" in warning
    refusal = await expect_refusal(
        hass,
        timeline,
        "history_no_energy_channel",
        start="2026-03-10T19:00:00+00:00",
        end="2026-03-10T19:30:00+00:00",
    )
    assert refusal.translation_placeholders == {"sources": "set 1: 24 h, import Wh, export Wh"}
    assert "84 min" not in str(refusal)
    assert timeline.entry is not None
    diagnostics = await async_get_config_entry_diagnostics(hass, timeline.entry)
    assert diagnostics["load_profile"]["sets"][0]["interval_minutes"] == 24 * 60


@pytest.mark.freeze_time("2026-03-10 19:59:50+00:00", tick=True)
async def test_imports_with_nothing_to_write(
    hass: HomeAssistant, make_timeline: MakeTimeline, caplog: pytest.LogCaptureFixture
) -> None:
    """A period within one hour (no hour ends in it), and one before the entities had
    statistics (nothing to continue from): accepted, and nothing changes."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    timeline = await make_timeline(loads=varying, history_hours=3)
    await timeline.run(1.5)  # to 21:30; statistics from 20:00
    before = await timeline.rows()
    await import_history(
        hass, timeline, start="2026-03-10T20:10:00+00:00", end="2026-03-10T20:40:00+00:00"
    )
    await import_history(
        hass, timeline, start="2026-03-10T17:00:00+00:00", end="2026-03-10T19:00:00+00:00"
    )
    assert timeline.backfill.jobs == []
    assert await timeline.rows() == before
    (message,) = [r.getMessage() for r in caplog.records if "no energy entity" in r.getMessage()]
    assert "history from 2026-03-10 10:00 to 2026-03-10 12:00" in message  # US/Pacific


@pytest.mark.freeze_time("2026-03-10 19:59:50+00:00", tick=True)
async def test_import_when_the_meter_refuses_its_profile(
    hass: HomeAssistant, make_timeline: MakeTimeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The profile was there at start-up; now the meter says it keeps none (the grid company
    reconfigured it), or its answer is corrupted: a refusal, and "not now"."""
    timeline = await make_timeline(history_hours=2)
    start, end = "2026-03-10T18:00:00+00:00", "2026-03-10T19:00:00+00:00"

    async def gone(_: LoadProfileReader) -> None:
        raise NoLoadProfile("no load profile configured")

    monkeypatch.setattr(LoadProfileReader, "configuration", gone)
    refusal = await expect_refusal(hass, timeline, "history_no_profile", start=start, end=end)
    assert refusal.translation_placeholders == {"error": "no load profile configured"}

    async def corrupted(_: LoadProfileReader) -> None:
        raise IntegrityError("a corrupted reply")

    monkeypatch.setattr(LoadProfileReader, "configuration", corrupted)
    refusal = await expect_refusal(
        hass, timeline, "history_unavailable", HomeAssistantError, start=start, end=end
    )
    assert refusal.translation_placeholders == {"error": "a corrupted reply"}
    assert not isinstance(refusal, ServiceValidationError)
