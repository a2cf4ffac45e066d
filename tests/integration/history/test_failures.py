"""What goes wrong while filling a gap: read failures, a register reset, refused tables, a
profile whose counters have no statistics, and flagged hours Home Assistant recorded itself."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Any

from homeassistant.core import HomeAssistant
import pytest

from custom_components.nes_echelon.diagnostics import async_get_config_entry_diagnostics
from custom_components.nes_echelon.nes_client import IntegrityError, client
from custom_components.nes_echelon.nes_client.errors import DeviceBusy
from custom_components.nes_echelon.nes_client.history import LoadProfileReader
from custom_components.nes_echelon.nes_client.tables import BT61
from nes_echelon_dev.simulator import mep_port, optical_port, service
from nes_echelon_dev.simulator.load_profile import ProfileSetConfig

from .conftest import MakeTimeline, varying
from .test_action import import_history
from .test_gaps import LOGGER, TOLERANCE, assert_continuous, assert_true, deltas, hours, utc


@pytest.fixture(autouse=True)
def history_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)


def messages(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


@pytest.mark.freeze_time("2026-03-10 19:59:50+00:00", tick=True)
async def test_read_failures_are_retried_then_given_up(
    make_timeline: MakeTimeline,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    timeline = await make_timeline(history_hours=1)
    await timeline.run(1)
    await timeline.link_down()
    await timeline.run(2)

    async def broken(*_: Any, **__: Any) -> None:
        raise IntegrityError("a corrupted reply")
        yield  # an async generator

    monkeypatch.setattr(LoadProfileReader, "read", broken)
    await timeline.link_back()
    await timeline.run(0.5)  # the job's first try
    backfill = timeline.backfill
    assert len(backfill.jobs) == 1
    assert backfill.jobs[0].failures == 1
    await timeline.run(1)  # two more polls, two more tries
    assert backfill.jobs == []
    (warning,) = messages(caplog, "failed 3 times; giving up")
    assert "a corrupted reply" in warning


@pytest.mark.freeze_time("2026-03-10 19:59:50+00:00", tick=True)
async def test_a_register_reset_in_the_gap_leaves_it_as_recorded(
    make_timeline: MakeTimeline, caplog: pytest.LogCaptureFixture
) -> None:
    timeline = await make_timeline(history_hours=1)
    await timeline.run(1)  # to 21:00
    await timeline.link_down()
    await timeline.run(1)
    timeline.meter.reset_counters()  # a new meter cycle at 22:00
    await timeline.run(2)
    before = await timeline.rows()
    await timeline.link_back()
    await timeline.run(0.5)
    assert messages(caplog, "register went down")
    rows = await timeline.rows()
    for hour in hours(utc("2026-03-10T21:00"), utc("2026-03-10T23:00")):
        assert rows.get(hour) == before.get(hour)


@pytest.mark.freeze_time("2026-03-10 19:59:50+00:00", tick=True)
async def test_refused_profile_tables(
    hass: HomeAssistant,
    make_timeline: MakeTimeline,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A key without rights to BT61 (insufficient clearance): said once, no retries."""
    original = service.serve_read

    def serve_read(meter: Any, request: bytes, **kwargs: Any) -> bytes:
        if int.from_bytes(request[1:3], "big") == BT61:
            return b"\x03"
        return original(meter, request, **kwargs)

    monkeypatch.setattr(mep_port, "serve_read", serve_read)
    monkeypatch.setattr(optical_port, "serve_read", serve_read)
    timeline = await make_timeline(history_hours=1)
    await timeline.run(0.5)
    assert messages(caplog, "no history from the meter")
    assert timeline.entry is not None
    diagnostics = await async_get_config_entry_diagnostics(hass, timeline.entry)
    assert "insufficient security clearance" in diagnostics["load_profile"]["problem"]


@pytest.mark.freeze_time("2026-03-10 19:59:50+00:00", tick=True)
async def test_a_profile_whose_counters_have_no_statistics(
    make_timeline: MakeTimeline, caplog: pytest.LogCaptureFixture
) -> None:
    """Tier 1 only, on a meter without tariffs: no entity shows those counters."""
    timeline = await make_timeline(
        (ProfileSetConfig(sources=(29, 30)),), history_hours=1, meter={"tiers": 0}
    )
    await timeline.run(1)
    await timeline.link_down()
    await timeline.run(2)
    await timeline.link_back()
    await timeline.run(0.5)
    assert messages(caplog, "no energy entity with statistics to fill")


@pytest.mark.freeze_time("2026-03-10 19:59:50+00:00", tick=True)
async def test_import_keeps_recorded_hours_where_the_profile_is_flagged(
    hass: HomeAssistant, make_timeline: MakeTimeline, caplog: pytest.LogCaptureFixture
) -> None:
    """Home Assistant polled throughout; the meter had a short power failure. Importing that
    period rewrites the good hours with the meter's readings (the same values here) and leaves
    the flagged hour's row as the recorder had it: it fits between its neighbours."""
    timeline = await make_timeline(loads=varying, history_hours=1)
    await timeline.run(1)  # to 21:00
    await timeline.step(timedelta(minutes=30))
    await timeline.step(timedelta(minutes=20))  # 21:50
    timeline.profile.power_failure(timeline.meter, 5 * 60)  # 21:50-21:55
    timeline.meter_time += timedelta(minutes=5)
    await timeline.step(timedelta(minutes=5))  # 22:00: its reading is flagged
    await timeline.run(2)  # to 00:00
    before = await timeline.rows()
    await import_history(
        hass, timeline, start="2026-03-10T20:00:00+00:00", end="2026-03-10T23:00:00+00:00"
    )
    rows = await timeline.rows()
    assert rows.keys() == before.keys()
    for hour, row in rows.items():
        assert row["sum"] == pytest.approx(before[hour]["sum"], abs=TOLERANCE), hour
        assert row["state"] == pytest.approx(before[hour]["state"], abs=TOLERANCE), hour
    assert rows[utc("2026-03-10T21:00")] == before[utc("2026-03-10T21:00")]  # untouched
    assert_true(timeline, rows, hours(utc("2026-03-10T20:00"), utc("2026-03-10T22:00")))
    assert_continuous(rows)
    assert deltas(rows)[utc("2026-03-10T21:00")] > 0
    (message,) = messages(caplog, "history from the meter")
    assert "(power failure)" in message
    assert "2, 2 hour row(s)" in message


@pytest.mark.freeze_time("2026-03-10 19:59:50+00:00", tick=True)
@pytest.mark.parametrize("answer", [b"\x06", b"\x07"], ids=["busy", "data not ready"])
async def test_a_busy_meter_at_start_up_is_asked_again(
    make_timeline: MakeTimeline,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    answer: bytes,
) -> None:
    """The grid company reads the meter while Home Assistant starts: the first profile read is
    answered "busy" (or "data not ready") even after the client asked again. That is "later",
    not "never": the next poll asks again, and gaps are filled as usual."""
    monkeypatch.setattr(client, "BUSY_PAUSE", 0.0)
    original = service.serve_read
    busy = True

    def serve_read(meter: Any, request: bytes, **kwargs: Any) -> bytes:
        if busy and int.from_bytes(request[1:3], "big") == BT61:
            return answer
        return original(meter, request, **kwargs)

    monkeypatch.setattr(mep_port, "serve_read", serve_read)
    monkeypatch.setattr(optical_port, "serve_read", serve_read)
    timeline = await make_timeline(loads=varying, history_hours=1)
    profile = timeline.backfill.profile
    assert profile.probed is False
    assert profile.problem is None
    await timeline.run(0.5)  # still busy at the next poll
    assert profile.probed is False
    assert profile.problem is None
    busy = False
    await timeline.run(0.5)  # to 21:00
    assert profile.probed is True
    assert profile.problem is None
    assert profile.configuration is not None
    assert not messages(caplog, "no history from the meter")
    await timeline.link_down()
    await timeline.run(2)  # to 23:00
    await timeline.link_back()
    await timeline.run(1)
    rows = await timeline.rows()
    assert_true(timeline, rows, hours(utc("2026-03-10T20:00"), utc("2026-03-10T22:00")))
    assert_continuous(rows)


@pytest.mark.freeze_time("2026-03-10 19:59:50+00:00", tick=True)
async def test_a_busy_meter_does_not_use_up_a_jobs_tries(
    make_timeline: MakeTimeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Busy for longer than three polls (a long read by the grid company): the job waits, it
    is not given up as a failing one."""
    timeline = await make_timeline(history_hours=1)
    await timeline.run(1)
    await timeline.link_down()
    await timeline.run(2)
    read = LoadProfileReader.read

    async def busy(*_: Any, **__: Any) -> None:
        raise DeviceBusy
        yield  # an async generator

    monkeypatch.setattr(LoadProfileReader, "read", busy)
    await timeline.link_back()
    await timeline.run(2)  # four polls, four tries
    backfill = timeline.backfill
    assert len(backfill.jobs) == 1
    assert backfill.jobs[0].failures == 0
    monkeypatch.setattr(LoadProfileReader, "read", read)
    await timeline.run(0.5)
    assert backfill.jobs == []
    rows = await timeline.rows()
    assert_true(timeline, rows, hours(utc("2026-03-10T21:00"), utc("2026-03-10T22:00")))
