"""The hour arithmetic of a backfill: which hours a job covers, the row each hour gets, and
what happens to hours without a usable reading.

Pure: no Home Assistant here (tests/integration/test_history_hours.py runs it without one).
Every energy value is in the statistics' own unit (kWh, Wh, MWh, ...); `convert` turns the
meter's kWh into it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from ..nes_client.history import Cursor, IntervalReading

HOUR = timedelta(hours=1)
# Readings are whole Wh: a thousandth of one is rounding, not consumption (in kWh, then
# converted to the statistics' unit).
TOLERANCE_KWH = 1e-6

type Origin = Literal["gap", "action"]
type Convert = Callable[[float], float]


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def parse_moment(value: object) -> datetime | None:
    """A stored ISO time (always UTC-aware when we wrote it); None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def format_interval(interval: timedelta) -> str:
    """A profile interval as a person reads it: "15 min", "1 h", "24 h"."""
    minutes = int(interval.total_seconds() // 60)
    if minutes and minutes % 60 == 0:
        return f"{minutes // 60} h"
    return f"{minutes} min"


@dataclass
class HistoryJob:
    """Rewrite the hours whose end lies in (start, end]: for a gap, start = the last good read
    before it and end = the first one after it."""

    start: datetime
    end: datetime
    origin: Origin
    readings: dict[datetime, IntervalReading] = field(default_factory=dict)
    cursor: Cursor | None = None  # where an interrupted profile read resumes
    read_done: bool = False
    failures: int = 0

    @property
    def hours(self) -> list[datetime]:
        """The start of each hour to rewrite (an hour is rewritten only once it has ended)."""
        first, last = floor_hour(self.start), floor_hour(self.end) - HOUR
        count = int((last - first) / HOUR) + 1 if last >= first else 0
        return [first + i * HOUR for i in range(count)]

    def as_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "origin": self.origin}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> HistoryJob | None:
        start, end = parse_moment(data.get("start")), parse_moment(data.get("end"))
        origin = data.get("origin")
        if start is None or end is None or origin not in ("gap", "action"):
            return None
        return cls(start, end, "gap" if origin == "gap" else "action")


@dataclass(frozen=True, slots=True)
class HourRow:
    """One hourly statistics row of a total_increasing sensor: `state` is the register at the
    hour's end, `sum` the running total Home Assistant's Energy dashboard subtracts."""

    start: datetime
    state: float
    sum: float


@dataclass
class EntityResult:
    """What a job did to one entity's rows (for the log)."""

    entity_id: str
    written: int = 0
    left: list[tuple[datetime, str]] = field(default_factory=list)
    zeroed: list[datetime] = field(default_factory=list)


class RegisterWentDown(Exception):
    """A reading below the one before it: a new meter cycle, whose hours are left alone."""

    def __init__(self, at: datetime) -> None:
        super().__init__(f"the register went down at {at.isoformat()}")
        self.at = at


def unusable_reason(reading: IntervalReading | None, channel: int) -> str | None:
    """Why a reading cannot make an hour row; None when it can."""
    if reading is None:
        return "no reading"
    if reading.record.power_failure:
        return "power failure"
    if reading.value(channel) is None:
        return f"status {reading.record.channel_status[channel]}"
    return None


def new_rows(
    readings: Mapping[datetime, IntervalReading],
    channel: int,
    hours: list[datetime],
    base: HourRow,
    convert: Convert,
    left: list[tuple[datetime, str]],
) -> dict[datetime, HourRow | None]:
    """The meter's row for each hour (None where its reading is unusable; the reason goes to
    `left`). `base` is the recorder's row before the first hour, already in the statistics'
    unit: within one meter cycle `sum - state` is constant, so each new sum is that offset
    plus the reading. Raises RegisterWentDown where a reading falls below the previous one."""
    offset = base.sum - base.state
    tolerance = convert(TOLERANCE_KWH)
    last = base.state
    rows: dict[datetime, HourRow | None] = {}
    for hour in hours:
        reading = readings.get(hour + HOUR)
        if reading is None or (reason := unusable_reason(reading, channel)) is not None:
            left.append((hour, "no reading" if reading is None else str(reason)))
            rows[hour] = None
            continue
        value = reading.value(channel)
        assert value is not None  # unusable_reason said it is usable
        state = convert(value / 1000)
        if state < last - tolerance:
            raise RegisterWentDown(reading.end)
        last = state
        rows[hour] = HourRow(hour, state, offset + state)
    return rows


def settle_unusable(
    rows: Mapping[datetime, HourRow | None],
    recorded: Mapping[datetime, HourRow],
    base: HourRow,
    tolerance: float,
) -> tuple[list[HourRow], list[datetime]]:
    """The rows to write, and the hours set to "no consumption".

    An hour without a usable reading keeps the recorder's row, unless that row would make the
    sum run backwards or jump past the next known hour (the flat rows the recorder compiles
    while Home Assistant was down): then it gets the previous hour's values, so the next known
    hour carries that consumption and no hour shows a negative one.
    """
    upper: dict[datetime, float | None] = {}  # the sum of the next hour with a reading
    following: float | None = None
    for hour in reversed(list(rows)):
        upper[hour] = following
        if (row := rows[hour]) is not None:
            following = row.sum
    final: list[HourRow] = []
    zeroed: list[datetime] = []
    previous = base
    for hour, row in rows.items():
        if row is not None:
            final.append(row)
            previous = row
            continue
        old = recorded.get(hour)
        if old is None:
            continue  # no row: leave it so
        limit = upper[hour]
        if old.sum >= previous.sum - tolerance and (limit is None or old.sum <= limit + tolerance):
            previous = old
            continue
        final.append(HourRow(hour, previous.state, previous.sum))
        zeroed.append(hour)
    return final, zeroed
