"""What the load-profile reader (``history``) returns: the profile's configuration, a set's
state, the intervals read and the cursor to resume from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, TypeAlias

from . import tables
from .errors import UnsupportedMeter
from .tables import (
    ActualLoadProfile,
    EnergySource,
    IntervalRecord,
    LoadProfileSet,
    LoadProfileStatus,
    ProfileLayout,
)
from .tables.load_profile import SOURCE_IMPORT_WH

LayoutSource: TypeAlias = Literal["et21", "computed"]


class NoLoadProfile(UnsupportedMeter):
    """The meter keeps no load profile this reader can use (none configured, or not INT32)."""


@dataclass(frozen=True, slots=True)
class ProfileChannel:
    channel: int
    source: int
    energy: EnergySource | None  # the import/export counter it logs, if it logs one

    @property
    def name(self) -> str:
        return tables.source_name(self.source)


@dataclass(frozen=True, slots=True)
class DataSet:
    """One data set of the profile: its dimensions and what its channels log."""

    index: int  # 0 = the guide's "Data Set 1" (BT64)
    dimensions: LoadProfileSet
    channels: tuple[ProfileChannel, ...]

    @property
    def interval(self) -> timedelta:
        return self.dimensions.interval

    @property
    def energy_channels(self) -> tuple[ProfileChannel, ...]:
        return tuple(channel for channel in self.channels if channel.energy is not None)

    @property
    def hourly(self) -> bool:
        """Whether every whole hour is an interval end (intervals of 1-60 minutes dividing 60)."""
        minutes = self.dimensions.interval_time
        return 1 <= minutes <= 60 and 60 % minutes == 0

    @property
    def depth(self) -> timedelta:
        return self.dimensions.depth


@dataclass(frozen=True, slots=True)
class ProfileConfiguration:
    """BT61 + BT62: read once per connection."""

    actual: ActualLoadProfile
    sets: tuple[DataSet, ...]

    def energy_set(self) -> DataSet | None:
        """The set to build hourly energy from: hourly-compatible, logging the most energy
        counters (import before export before tiers), then the longest interval (fewest bytes
        per hour) and the deepest list."""
        candidates = [item for item in self.sets if item.hourly and item.energy_channels]
        if not candidates:
            return None

        def rank(item: DataSet) -> tuple[int, int, int, timedelta]:
            sources = {channel.source for channel in item.energy_channels}
            return (
                int(SOURCE_IMPORT_WH in sources),
                len(sources),
                item.dimensions.interval_time,
                item.depth,
            )

        return max(candidates, key=rank)


@dataclass(frozen=True, slots=True)
class ProfileState:
    """BT63 + ET21 (or the computed layout) for one set, read before each history read."""

    data_set: int
    status: LoadProfileStatus
    layout: ProfileLayout
    layout_source: LayoutSource
    last_interval: int | None  # ET21 bytes 20-21; None when computed


@dataclass(frozen=True, slots=True)
class Cursor:
    """Everything newer than interval ``index`` of block ``sequence`` has been delivered."""

    sequence: int
    index: int


@dataclass(frozen=True, slots=True)
class IntervalReading:
    """One interval of one block: its end (UTC) and its record (status and snapshots)."""

    end: datetime
    record: IntervalRecord
    sequence: int
    index: int

    def value(self, channel: int) -> int | None:
        """The channel's register snapshot, or None when the meter marks it unusable."""
        if not self.record.value_usable(channel):
            return None
        return self.record.values[channel]


@dataclass(frozen=True, slots=True)
class HistoryPiece:
    """What one request gave: intervals newest first (none for a header read)."""

    readings: tuple[IntervalReading, ...]
    cursor: Cursor | None


@dataclass(frozen=True, slots=True)
class ProfileExtent:
    """The oldest and newest interval ends the set holds now."""

    oldest: datetime
    newest: datetime
