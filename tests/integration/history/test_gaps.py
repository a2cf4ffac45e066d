"""Gaps filled from the meter's load profile, checked against a real recorder.

Each test runs Home Assistant with a simulated meter, takes the meter away (link down, Home
Assistant not polling, or a restart) while the meter keeps counting, brings it back, and then
compares the hourly rows with the meter's true consumption, to the Wh.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from itertools import pairwise
import logging
from typing import Any

from homeassistant.components.recorder.statistics import get_metadata
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
import pytest

from custom_components.nes_echelon.const import DOMAIN
from nes_echelon_dev.simulator.load_profile import ProfileSetConfig

from ..conftest import SERIAL
from .conftest import HOUR, MakeTimeline, Timeline, varying

type Rows = dict[datetime, dict[str, Any]]

TOLERANCE = 1e-6  # kWh: every row matches to a fraction of a Wh
LOGGER = "custom_components.nes_echelon"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(f"{text}+00:00")


def hours(first: datetime, last: datetime) -> list[datetime]:
    return [first + i * HOUR for i in range(int((last - first) / HOUR) + 1)]


def deltas(rows: Rows) -> dict[datetime, float]:
    """Consumption per hour as the Energy dashboard computes it: sum minus the row before."""
    ordered = sorted(rows)
    return {hour: rows[hour]["sum"] - rows[before]["sum"] for before, hour in pairwise(ordered)}


def assert_true(timeline: Timeline, rows: Rows, checked: list[datetime], channel: int = 0) -> None:
    """Each hour's row holds the meter's reading at its end and that hour's consumption."""
    per_hour = deltas(rows)
    for hour in checked:
        start, end = timeline.truth(hour, channel), timeline.truth(hour + HOUR, channel)
        assert per_hour[hour] == pytest.approx((end - start) / 1000, abs=TOLERANCE), hour
        assert rows[hour]["state"] == pytest.approx(end / 1000, abs=TOLERANCE), hour


def assert_continuous(rows: Rows) -> None:
    """`sum` never runs backwards, and `sum - state` is the same in every row (one cycle)."""
    ordered = [rows[hour] for hour in sorted(rows)]
    assert all(b["sum"] >= a["sum"] - TOLERANCE for a, b in pairwise(ordered))
    offsets = [row["sum"] - row["state"] for row in ordered if row["state"] is not None]
    assert max(offsets) - min(offsets) < TOLERANCE


def assert_unchanged_before(before: Rows, after: Rows, first_gap_hour: datetime) -> None:
    for hour, row in before.items():
        if hour < first_gap_hour:
            assert after[hour] == row, hour


def history_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith(LOGGER) and "history from the meter" in record.getMessage()
    ]


@pytest.fixture(autouse=True)
def history_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)


@pytest.mark.freeze_time("2026-03-10 19:59:50+00:00", tick=True)
async def test_link_down_across_midnight(
    make_timeline: MakeTimeline, caplog: pytest.LogCaptureFixture
) -> None:
    """Link down 21:30-02:30: the hours in between get the meter's readings, the hour after
    the gap holds only its own consumption, nothing before the gap changes."""
    timeline = await make_timeline(loads=varying, history_hours=2)
    await timeline.run(1.5)  # 20:00-21:30, polled
    await timeline.link_down()
    await timeline.run(5)  # 21:30-02:30: the meter counts, Home Assistant gets nothing
    before = await timeline.rows()
    gap = hours(utc("2026-03-10T21:00"), utc("2026-03-11T01:00"))
    assert not set(gap[1:]) & set(before)  # no rows while the link was down
    await timeline.link_back()
    await timeline.run(1)  # 02:30-03:30, polled again
    rows = await timeline.rows()
    assert_unchanged_before(before, rows, gap[0])
    # Every whole hour is true: before, in and after the gap (02:00 is the hour after it).
    assert_true(timeline, rows, hours(utc("2026-03-10T20:00"), utc("2026-03-11T02:00")))
    assert_continuous(rows)
    (message,) = history_messages(caplog)
    assert "5, 5 hour row(s)" in message  # import and export, 21:00-02:00
    export = await timeline.rows("energy_export")
    assert set(gap) <= set(export)


@pytest.mark.freeze_time("2026-03-12 05:59:50+00:00", tick=True)
async def test_gap_across_block_boundaries_on_the_optical_port(
    make_timeline: MakeTimeline,
) -> None:
    """2-hour blocks: a 5-hour gap spans three block boundaries and several piece reads; the
    profile also logs tier 1's registers, whose entities are filled too."""
    config = ProfileSetConfig(sources=(0, 1, 29, 30), blocks=12, intervals_per_block=8)
    timeline = await make_timeline((config,), link="optical", loads=varying, history_hours=3)
    await timeline.run(1)
    await timeline.link_down()
    await timeline.run(5.5)  # 07:00-12:30
    await timeline.link_back()
    await timeline.run(1)
    checked = hours(utc("2026-03-12T06:00"), utc("2026-03-12T12:00"))
    for channel, key in enumerate(("energy_import", "energy_export", "tier_1_energy_import")):
        rows = await timeline.rows(key)
        assert_true(timeline, rows, checked, channel)
        assert_continuous(rows)


@pytest.mark.freeze_time("2026-03-28 22:59:50+00:00", tick=True)
async def test_gap_across_the_dst_change(hass: HomeAssistant, make_timeline: MakeTimeline) -> None:
    """Copenhagen springs forward at 01:00 UTC on 29 March: the local day has 23 hours, the
    rows are UTC hours, and the meter flags the DST intervals (which stay usable)."""
    await hass.config.async_set_time_zone("Europe/Copenhagen")
    timeline = await make_timeline(loads=varying, history_hours=2, dst_zone="Europe/Copenhagen")
    await timeline.run(0.5)
    await timeline.link_down()
    await timeline.run(4)  # 23:30-03:30 UTC = 00:30-05:30 local, across 02:00 -> 03:00
    await timeline.link_back()
    await timeline.run(1)
    rows = await timeline.rows()
    reading = timeline.profile.reading(utc("2026-03-29T02:00"))
    assert reading is not None
    assert reading.dst_active
    assert_true(timeline, rows, hours(utc("2026-03-28T23:00"), utc("2026-03-29T03:00")))
    assert_continuous(rows)


@pytest.mark.freeze_time("2026-03-10 19:59:50+00:00", tick=True)
async def test_power_failure_and_skipped_hours_are_left_as_recorded(
    make_timeline: MakeTimeline, caplog: pytest.LogCaptureFixture
) -> None:
    """An hour whose end reading is flagged (power failure, skipped) is not written: with the
    link down the recorder had no row for it, so there is still none, and the next hour's row
    carries both hours' consumption (no energy is lost or invented)."""
    timeline = await make_timeline(loads=varying, history_hours=2)
    await timeline.run(1)  # to 21:00
    await timeline.link_down()
    await timeline.run(2)  # to 23:00
    await timeline.step(timedelta(minutes=5))  # 23:05
    timeline.profile.power_failure(timeline.meter, 45 * 60)  # 23:05-23:50: 00:00 flagged too
    timeline.meter_time += timedelta(minutes=45)
    await timeline.step(timedelta(minutes=10))  # 00:00
    await timeline.run(2)  # to 02:00
    timeline.profile.mark_skipped(utc("2026-03-11T01:00"))  # hour 00:00-01:00: skipped
    await timeline.link_back()
    await timeline.run(1.5)  # to 03:30
    rows = await timeline.rows()
    assert utc("2026-03-10T23:00") not in rows
    assert utc("2026-03-11T00:00") not in rows
    true_hours = [*hours(utc("2026-03-10T20:00"), utc("2026-03-10T22:00")), utc("2026-03-11T02:00")]
    assert_true(timeline, rows, true_hours)
    # 01:00 follows 22:00 directly: it carries 23:00-02:00.
    per_hour = deltas(rows)
    assert per_hour[utc("2026-03-11T01:00")] == pytest.approx(
        (timeline.truth(utc("2026-03-11T02:00")) - timeline.truth(utc("2026-03-10T23:00"))) / 1000,
        abs=TOLERANCE,
    )
    assert_continuous(rows)
    (message,) = history_messages(caplog)
    # Hours in local time (the tests' US/Pacific: UTC-7 in March 2026).
    assert "2026-03-10 16:00 (power failure)" in message
    assert "2026-03-10 17:00 (status 4)" in message


@pytest.mark.freeze_time("2026-03-10 19:59:50+00:00", tick=True)
async def test_home_assistant_not_polling_flat_rows_are_rewritten(
    make_timeline: MakeTimeline, caplog: pytest.LogCaptureFixture
) -> None:
    """Home Assistant does not poll for 4 hours (as when it is stopped): the recorder compiles
    flat rows for those hours from the last state; they are updated in place. An hour with a
    power failure becomes "no consumption" rather than a sum that runs backwards."""
    timeline = await make_timeline(loads=varying, history_hours=2)
    await timeline.run(1)  # to 21:00
    timeline.sleep()
    await timeline.run(1.5)  # to 22:30
    timeline.profile.power_failure(timeline.meter, 40 * 60)  # 22:30-23:10: 23:00 flagged
    timeline.meter_time += timedelta(minutes=40)
    await timeline.step(timedelta(minutes=20))  # 23:30
    await timeline.run(2)  # to 01:30
    flat = await timeline.rows()
    gap = hours(utc("2026-03-10T21:00"), utc("2026-03-11T00:00"))
    assert set(gap) <= set(flat)
    assert len({flat[hour]["sum"] for hour in gap}) == 1  # flat while nobody polled
    await timeline.wake()  # the first poll after the gap (01:29:50)
    await timeline.run(1)
    rows = await timeline.rows()
    assert_unchanged_before(flat, rows, gap[0])
    true_hours = ("2026-03-10T20:00", "2026-03-10T21:00", "2026-03-11T00:00", "2026-03-11T01:00")
    assert_true(timeline, rows, [utc(hour) for hour in true_hours])
    # 22:00 ends at the flagged 23:00 reading: no consumption there, 23:00 carries two hours.
    per_hour = deltas(rows)
    assert per_hour[utc("2026-03-10T22:00")] == 0
    assert per_hour[utc("2026-03-10T23:00")] == pytest.approx(
        (timeline.truth(utc("2026-03-11T00:00")) - timeline.truth(utc("2026-03-10T22:00"))) / 1000,
        abs=TOLERANCE,
    )
    assert_continuous(rows)
    (message,) = history_messages(caplog)
    assert "set to no consumption" in message


@pytest.mark.freeze_time("2026-03-10 19:59:50+00:00", tick=True)
async def test_restart_remembers_the_last_read(
    hass: HomeAssistant, make_timeline: MakeTimeline
) -> None:
    """Home Assistant stopped (the entry unloaded) for 4 hours: the last good read is stored,
    so the gap is found when it starts again."""
    timeline = await make_timeline(loads=varying, history_hours=2)
    await timeline.run(1.5)  # to 21:30
    assert timeline.entry is not None
    await hass.config_entries.async_unload(timeline.entry.entry_id)
    await hass.async_block_till_done()
    timeline.sleeping = True
    await timeline.run(4)  # to 01:30: the meter counts, Home Assistant is "down"
    timeline.sleeping = False
    await hass.config_entries.async_setup(timeline.entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await timeline.run(1)
    rows = await timeline.rows()
    assert_true(timeline, rows, hours(utc("2026-03-10T20:00"), utc("2026-03-11T01:00")))
    assert_continuous(rows)


@pytest.mark.freeze_time("2026-03-10 19:59:50+00:00", tick=True)
async def test_profile_that_does_not_reach_back(
    hass: HomeAssistant,
    make_timeline: MakeTimeline,
    issue_registry: ir.IssueRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A profile of 2 blocks x 2 hours: of a 6-hour gap only the last hours can be filled; the
    log says so (not a repair: there is nothing the user could do), and the rest stays as
    recorded (the sum still never runs back)."""
    config = ProfileSetConfig(blocks=2, intervals_per_block=8)
    timeline = await make_timeline((config,), loads=varying, history_hours=1)
    await timeline.run(1)  # to 21:00
    await timeline.link_down()
    await timeline.run(6)  # to 03:00
    await timeline.link_back()
    await timeline.run(1)
    assert [issue for (domain, _), issue in issue_registry.issues.items() if domain == DOMAIN] == []
    (warning,) = [r for r in caplog.records if "reaches back to" in r.getMessage()]
    assert warning.levelno == logging.WARNING
    # Local times (US/Pacific): the gap's first hour is 20:00 UTC, the profile's oldest
    # reading 00:15 UTC.
    assert warning.getMessage().endswith(
        "reaches back to 2026-03-10 17:15 only; the hours from 2026-03-10 13:00 to "
        "2026-03-10 17:15 stay as recorded"
    )
    rows = await timeline.rows()
    oldest = timeline.profile.oldest_end()
    assert oldest is not None
    gap = hours(utc("2026-03-10T21:00"), utc("2026-03-11T02:00"))
    filled = [hour for hour in gap if hour + HOUR >= oldest]
    assert filled == hours(utc("2026-03-11T00:00"), utc("2026-03-11T02:00"))
    assert_true(timeline, rows, filled[1:])  # the first one also carries the unfilled hours
    assert utc("2026-03-10T22:00") not in rows  # older than the profile: still no row
    assert_continuous(rows)


@pytest.mark.freeze_time("2026-03-10 19:59:50+00:00", tick=True)
async def test_a_profile_without_energy_channels(
    hass: HomeAssistant, make_timeline: MakeTimeline, caplog: pytest.LogCaptureFixture
) -> None:
    """A profile that logs only reactive energy cannot fill a gap: said once, nothing written."""
    config = ProfileSetConfig(sources=(2, 3))
    timeline = await make_timeline((config,), history_hours=1)
    await timeline.run(1)
    await timeline.link_down()
    await timeline.run(3)
    await timeline.link_back()
    await timeline.run(0.5)
    warnings = [r.getMessage() for r in caplog.records if "logs no import/export" in r.getMessage()]
    assert len(warnings) == 1
    assert "import varh, export varh" in warnings[0]
    rows = await timeline.rows()
    assert utc("2026-03-10T23:00") not in rows


@pytest.mark.freeze_time("2026-03-10 19:59:50+00:00", tick=True)
@pytest.mark.parametrize(("unit", "wh_per_unit"), [("Wh", 1.0), ("MWh", 1e6)])
async def test_an_entity_shown_in_another_unit(
    hass: HomeAssistant,
    make_timeline: MakeTimeline,
    caplog: pytest.LogCaptureFixture,
    unit: str,
    wh_per_unit: float,
) -> None:
    """The user shows the import energy in Wh (or MWh) from the start: its statistics are kept
    in that unit, and the gap is filled in it (it used to be refused as "register went down"
    in Wh; in MWh no reset could be seen)."""
    registry = er.async_get(hass)
    entry = registry.async_get_or_create("sensor", DOMAIN, f"{SERIAL}_energy_import")
    registry.async_update_entity_options(entry.entity_id, "sensor", {"unit_of_measurement": unit})
    timeline = await make_timeline(loads=varying, history_hours=2)
    entity_id = timeline.entity_id()
    assert entity_id == entry.entity_id
    state = hass.states.get(entity_id)
    assert state is not None
    assert state.attributes["unit_of_measurement"] == unit
    await timeline.run(1.5)  # 20:00-21:30, polled: the statistics start, in that unit
    metadata = await hass.async_add_executor_job(
        partial(get_metadata, hass, statistic_ids={entity_id})
    )
    assert metadata[entity_id][1]["unit_of_measurement"] == unit
    await timeline.link_down()
    await timeline.run(3)  # 21:30-00:30
    await timeline.link_back()
    await timeline.run(1)
    assert not [r for r in caplog.records if "register went down" in r.getMessage()]
    (message,) = history_messages(caplog)
    assert "3, 3 hour row(s)" in message  # import and export, 21:00-00:00
    rows = await timeline.rows()
    per_hour = deltas(rows)
    for hour in hours(utc("2026-03-10T21:00"), utc("2026-03-10T23:00")):
        start, end = timeline.truth(hour), timeline.truth(hour + HOUR)
        assert per_hour[hour] * wh_per_unit == pytest.approx(end - start, abs=1e-3), hour
        assert rows[hour]["state"] * wh_per_unit == pytest.approx(end, abs=1e-3), hour
    assert_continuous(rows)


@pytest.mark.freeze_time("2026-03-10 19:59:50+00:00", tick=True)
async def test_an_entity_without_statistics_is_left_alone(
    hass: HomeAssistant, make_timeline: MakeTimeline, caplog: pytest.LogCaptureFixture
) -> None:
    """The export entity was disabled before the recorder ever compiled it: it has no
    statistics to continue, so only the import entity's rows are written."""
    timeline = await make_timeline(loads=varying, history_hours=2)
    assert timeline.entry is not None
    registry = er.async_get(hass)
    registry.async_update_entity(
        timeline.entity_id("energy_export"), disabled_by=er.RegistryEntryDisabler.USER
    )
    await hass.config_entries.async_reload(timeline.entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await timeline.run(1)  # to 21:00
    await timeline.link_down()
    await timeline.run(2)  # to 23:00
    await timeline.link_back()
    await timeline.run(1)
    (message,) = history_messages(caplog)
    assert message.endswith(f"written to {timeline.entity_id()} (3 hour row(s))")
    rows = await timeline.rows()
    assert_true(timeline, rows, hours(utc("2026-03-10T20:00"), utc("2026-03-10T22:00")))
