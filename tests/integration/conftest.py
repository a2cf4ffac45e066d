"""Fixtures for the tests that run inside Home Assistant (tests/integration only).

The pure protocol-client tests in tests/nes_client never start Home Assistant; everything
here is scoped to this folder.

The meter is the bundled simulator, reached the way a user's port is: over a real TCP socket
(`socket://127.0.0.1:<port>`, the form of a network serial bridge) or over a pty (a device
path, the form of a USB probe). Nothing in the integration or its client is mocked unless a
test says so.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from freezegun.api import TickingDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.nes_echelon.const import CONF_KEY, CONF_LINK, CONF_PORT, DOMAIN
from nes_echelon_dev.simulator import Faults, MeterSimulator, SimulatedMeter

SERIAL = "0710123456"  # the simulated meter's default serial number

type Link = Literal["optical", "mep"]
type Via = Literal["tcp", "pty"]


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant's loader find custom_components/nes_echelon in every test here."""


@dataclass
class RunningMeter:
    """A simulator that is serving, and the port string a config entry uses to reach it."""

    sim: MeterSimulator
    port: str
    link: Link

    @property
    def meter(self) -> SimulatedMeter:
        return self.sim.meter

    @property
    def key(self) -> str:
        return self.sim.meter.key.decode()

    @property
    def data(self) -> dict[str, str]:
        """Config entry data (and user-step input) that reaches this meter."""
        return {CONF_PORT: self.port, CONF_LINK: self.link, CONF_KEY: self.key}

    @property
    def tcp_port(self) -> int:
        return int(self.port.rsplit(":", 1)[1])

    @property
    def failed_logons(self) -> int:
        """Key rejections the meter logged: optical Security refusals or MEP bad digests."""
        port = self.sim.port
        if self.link == "optical":
            return int(port.failed_logons)  # type: ignore[union-attr]
        return int(port.rejected_digests)  # type: ignore[union-attr]


type StartMeter = Callable[..., Awaitable[RunningMeter]]


@pytest.fixture
async def start_meter(hass: HomeAssistant, socket_enabled: None) -> AsyncGenerator[StartMeter]:
    """Start simulated meters; every one is closed after the test.

    Depends on `hass` so that it is torn down first: the entries are unloaded (closing the
    client side) before the simulators go, and neither leaves tasks behind.
    """
    sims: list[MeterSimulator] = []

    async def start(
        meter: SimulatedMeter | None = None,
        *,
        link: Link = "optical",
        via: Via = "tcp",
        faults: Faults | None = None,
        tcp_port: int = 0,
    ) -> RunningMeter:
        sim = MeterSimulator(meter=meter, link=link, faults=faults)
        sims.append(sim)
        if via == "tcp":
            host, port = await sim.serve_tcp(port=tcp_port)
            address = f"socket://{host}:{port}"
        else:
            address = await sim.open_pty()
        return RunningMeter(sim=sim, port=address, link=link)

    yield start

    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state is ConfigEntryState.LOADED:
            await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    for sim in sims:
        await sim.close()


@pytest.fixture
async def meter(start_meter: StartMeter) -> RunningMeter:
    """The default meter: 3 phases, 4 tiers, firmware 3.80.5, optical port over TCP."""
    return await start_meter()


def make_entry(
    hass: HomeAssistant,
    running: RunningMeter,
    *,
    options: dict[str, Any] | None = None,
    unique_id: str | None = None,
    **data: str,
) -> MockConfigEntry:
    """A config entry for the running meter, added to hass (not set up)."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=f"{running.meter.model} {running.meter.serial_number}",
        unique_id=unique_id or running.meter.serial_number,
        data=running.data | data,
        options=options or {},
    )
    entry.add_to_hass(hass)
    return entry


async def setup_entry(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Set the entry up and let everything it started settle."""
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)


async def tick(hass: HomeAssistant, freezer: TickingDateTimeFactory, seconds: float = 11) -> None:
    """Move both clocks (wall and loop) forward, run what fell due, and settle.

    Needs `@pytest.mark.freeze_time(tick=True)`: the freezer then starts before Home
    Assistant and time keeps flowing, so the links' own timeouts still work.
    """
    # Not freezer.tick(): on a ticking clock it counts from the last move, dropping the
    # time that has flowed since (freezegun 1.5), so it can even step backwards.
    freezer.move_to(freezer() + timedelta(seconds=seconds))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def poll(hass: HomeAssistant, seconds: float = 11) -> None:
    """Let `seconds` pass for the scheduled timers (the coordinator's polls) and settle.

    Home Assistant's wall clock and the loop clock stay where they are; use `tick` where
    the coordinator compares loop times (the status interval).
    """
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=seconds))
    # The coordinator polls in a background task: wait for it too.
    await hass.async_block_till_done(wait_background_tasks=True)


def entity_id_of(
    entity_registry: er.EntityRegistry, key: str, platform: str = "sensor"
) -> str | None:
    """The entity id of the default meter's entity with this description key, if any."""
    return entity_registry.async_get_entity_id(platform, DOMAIN, f"{SERIAL}_{key}")


def entry_keys(
    entity_registry: er.EntityRegistry, entry: MockConfigEntry, platform: str = "sensor"
) -> set[str]:
    """The description keys of the entry's entities on one platform."""
    return {
        reg.unique_id.removeprefix(f"{entry.unique_id}_")
        for reg in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
        if reg.domain == platform
    }


async def enable_all_entities(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, entry: MockConfigEntry
) -> None:
    """Enable every entity the integration disabled by default, and reload to add them."""
    for reg in er.async_entries_for_config_entry(entity_registry, entry.entry_id):
        if reg.disabled_by is not None:
            entity_registry.async_update_entity(reg.entity_id, disabled_by=None)
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)


def state_of(hass: HomeAssistant, entity_registry: er.EntityRegistry, key: str) -> str:
    """The state of the default meter's sensor with this description key."""
    entity_id = entity_id_of(entity_registry, key)
    assert entity_id is not None, key
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state
