"""The meter's side of a backfill: its load profile, read through the coordinator's port one
request at a time, and what is known about it (for the log, the action and diagnostics)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
import logging
from typing import TYPE_CHECKING

from ..nes_client.errors import DataNotReady, DeviceBusy
from ..nes_client.history import DataSet, LoadProfileReader, ProfileConfiguration, ProfileExtent
from ..nes_client.tables import EnergySource
from .hours import format_interval

if TYPE_CHECKING:
    from ..coordinator import NesEchelonCoordinator
    from ..nes_client import MeterClient

_LOGGER = logging.getLogger(__name__)

REQUEST_SPACING = 1.0  # seconds between history requests: the MEP guide's 1 read/s average
# The meter's "ask again later" (e.g. while the grid company reads it): never a reason to give
# up on the profile. The client already asked again twice, half a second apart.
TRY_LATER = (DeviceBusy, DataNotReady)


class Interrupted(Exception):
    """The coordinator's client changed or closed under a history read: retry later."""


def entity_key(energy: EnergySource) -> str:
    """The sensor description key of the entity showing this counter."""
    prefix = "" if energy.tier is None else f"tier_{energy.tier + 1}_"
    return f"{prefix}energy_{energy.direction}"


def describe_sets(config: ProfileConfiguration) -> str:
    """What each data set logs, e.g. "set 1: 15 min, import Wh, export Wh"."""
    return "; ".join(
        f"set {item.index + 1}: {format_interval(item.interval)}, "
        + ", ".join(channel.name for channel in item.channels)
        for item in config.sets
    )


class MeterProfile:
    """The load profile of the coordinator's meter."""

    def __init__(self, coordinator: NesEchelonCoordinator) -> None:
        self.coordinator = coordinator
        self.configuration: ProfileConfiguration | None = None
        self.extent: ProfileExtent | None = None
        self.problem: str | None = None  # why the profile cannot be used (permanent)
        self.probed = False
        self._reader: LoadProfileReader | None = None
        self._last_request = -REQUEST_SPACING  # loop time of the last history request
        self._warned_no_energy = False

    @property
    def title(self) -> str:
        return self.coordinator.config_entry.title

    def current_reader(self) -> LoadProfileReader | None:
        """A reader on the coordinator's open client (kept while the client is), if any."""
        client = self.coordinator.client
        if client is None or client.identity is None:
            return None
        if self._reader is None or self._reader.client is not client:
            self._reader = self.new_reader(client)
        return self._reader

    def new_reader(self, client: MeterClient) -> LoadProfileReader:
        """A reader of its own (it reads the configuration afresh)."""
        return LoadProfileReader(client, gate=partial(self._turn, client))

    @asynccontextmanager
    async def _turn(self, client: MeterClient) -> AsyncIterator[None]:
        """One history request: after a pause, alone on the port, with the client the reader
        was made for (a poll never waits for more than this one request)."""
        loop = self.coordinator.hass.loop
        wait = self._last_request + REQUEST_SPACING - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        async with self.coordinator.async_exclusive_client() as current:
            if current is not client:
                raise Interrupted
            try:
                yield
            finally:
                self._last_request = loop.time()

    async def probe(self, reader: LoadProfileReader) -> None:
        """Once: what the profile logs (diagnostics, and a warning if it logs no energy)."""
        data_set = await self.energy_set(reader)
        if data_set is not None:
            await self.read_extent(reader, data_set)
        self.probed = True

    def unusable(self, problem: str) -> None:
        """The meter refused the profile for good (until the entry is reloaded)."""
        self.problem = problem
        self.probed = True

    async def read_configuration(self, reader: LoadProfileReader) -> ProfileConfiguration:
        self.configuration = await reader.configuration()
        return self.configuration

    async def read_extent(
        self, reader: LoadProfileReader, data_set: DataSet
    ) -> ProfileExtent | None:
        self.extent = await reader.extent(data_set)
        return self.extent

    async def energy_set(self, reader: LoadProfileReader) -> DataSet | None:
        """The set to fill hours from; without one, a warning (once)."""
        config = await self.read_configuration(reader)
        data_set = config.energy_set()
        if data_set is None and not self._warned_no_energy:
            self._warned_no_energy = True
            _LOGGER.warning(
                "%s: the meter's load profile logs no import/export energy at an hourly-"
                "compatible interval (%s); gaps cannot be filled from it",
                self.title,
                describe_sets(config),
            )
        return data_set
