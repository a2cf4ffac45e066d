"""history.py's pure parts: which hours a gap covers, what is stored, how hours without a usable
reading are settled (the recorder tests are in tests/integration/history)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from custom_components.nes_echelon.history import (
    EntityResult,
    HistoryBackfill,
    HistoryJob,
    entity_key,
)
from custom_components.nes_echelon.nes_client.history import IntervalReading
from custom_components.nes_echelon.nes_client.tables import (
    EnergySource,
    IntervalRecord,
    load_profile as lp,
)

T = datetime(2026, 3, 10, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (T + timedelta(minutes=20), T + timedelta(minutes=50), []),  # within one hour
        (T + timedelta(minutes=20), T + H, [T]),  # a read at 01:00 sees hour 00 end
        (T + timedelta(minutes=20), T + 3 * H + timedelta(minutes=5), [T, T + H, T + 2 * H]),
        (T, T + 2 * H, [T, T + H]),  # an action from 00:00 to 02:00
        (T + H, T, []),
    ],
)
def test_job_hours(start: datetime, end: datetime, expected: list[datetime]) -> None:
    assert HistoryJob(start, end, "gap").hours == expected


def test_job_storage() -> None:
    job = HistoryJob(T, T + 5 * H, "action")
    assert HistoryJob.from_dict(job.as_dict()) == HistoryJob(T, T + 5 * H, "action")
    gap = HistoryJob.from_dict({"start": T.isoformat(), "end": T.isoformat(), "origin": "gap"})
    assert gap is not None
    assert gap.origin == "gap"
    assert HistoryJob.from_dict({"start": "x", "end": T.isoformat(), "origin": "gap"}) is None
    assert HistoryJob.from_dict({"start": T.isoformat(), "end": T.isoformat()}) is None


def test_entity_keys() -> None:
    assert entity_key(EnergySource("import")) == "energy_import"
    assert entity_key(EnergySource("export", 0)) == "tier_1_energy_export"
    assert entity_key(EnergySource("import", 3)) == "tier_4_energy_import"


def _row(sum_: float, state: float) -> dict[str, Any]:
    return {"sum": sum_, "state": state}


def test_settle_hours_without_a_reading() -> None:
    """No row: left absent. A row that fits between its neighbours: left. A row that would run
    the sum backwards (or past the next known hour): set to the previous hour's values."""
    base = (10.0, 5.0)  # sum, state of the row before the gap: offset 5
    new = {
        T: {"start": T, "state": 6.0, "sum": 11.0},
        T + H: None,  # no row in the recorder
        T + 2 * H: None,  # a flat row from while Home Assistant was down
        T + 3 * H: None,  # a row Home Assistant recorded itself
        T + 4 * H: {"start": T + 4 * H, "state": 9.0, "sum": 14.0},
        T + 5 * H: None,  # beyond the next known hour: too high
        T + 6 * H: {"start": T + 6 * H, "state": 10.0, "sum": 15.0},
    }
    existing = {
        T + 2 * H: _row(10.0, 5.0),
        T + 3 * H: _row(12.5, 7.5),
        T + 5 * H: _row(20.0, 15.0),
    }
    result = EntityResult("sensor.x")
    final = HistoryBackfill._settle_unusable(new, existing, base, result)  # type: ignore[arg-type]
    assert final == [
        new[T],
        {"start": T + 2 * H, "state": 6.0, "sum": 11.0},
        new[T + 4 * H],
        {"start": T + 5 * H, "state": 9.0, "sum": 14.0},
        new[T + 6 * H],
    ]
    assert result.zeroed == [T + 2 * H, T + 5 * H]


def test_reasons() -> None:
    from custom_components.nes_echelon.history import _reason

    def reading(common: int = 0, status: int = 0) -> IntervalReading:
        record = IntervalRecord(common, (status,), (100,))
        return IntervalReading(T, record, 1, 0)

    assert _reason(None, 0) == "no reading"
    assert _reason(reading(), 0) is None
    assert _reason(reading(lp.DST_ACTIVE | lp.CLOCK_FORWARD, lp.CHANNEL_PARTIAL), 0) is None
    assert _reason(reading(lp.POWER_FAILURE), 0) == "power failure"
    assert _reason(reading(status=lp.CHANNEL_SKIPPED), 0) == "status 4"
    assert _reason(reading(status=lp.CHANNEL_OVERFLOW), 0) == "status 1"
