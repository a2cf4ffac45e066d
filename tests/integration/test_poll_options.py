"""A poll reads per-phase power and tier registers only while one of their entities is enabled."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er

from custom_components.nes_echelon.nes_client import PollOptions
from custom_components.nes_echelon.nes_client.simulator import SimulatedMeter

from .conftest import StartMeter, enable_all_entities, entity_id_of, make_entry, poll, setup_entry


def options_in_use(entry: object) -> PollOptions:
    client = entry.runtime_data.client  # type: ignore[attr-defined]
    assert client is not None
    options: PollOptions = client.options
    return options


async def test_default_entities(hass: HomeAssistant, start_meter: StartMeter) -> None:
    """The default meter uses two tiers (their energy is enabled); per-phase power is not."""
    running = await start_meter()
    entry = make_entry(hass, running)
    await setup_entry(hass, entry)
    assert options_in_use(entry) == PollOptions()  # the first poll reads everything
    await poll(hass)
    assert options_in_use(entry) == PollOptions(tiers=True, per_phase=False)
    assert entry.runtime_data.data.snapshot.present.power_import_l1 is None
    assert entry.runtime_data.data.snapshot.present.power_import == 1070.0


async def test_every_entity_enabled(
    hass: HomeAssistant, start_meter: StartMeter, entity_registry: er.EntityRegistry
) -> None:
    running = await start_meter()
    entry = make_entry(hass, running)
    await setup_entry(hass, entry)
    await enable_all_entities(hass, entity_registry, entry)
    await poll(hass)
    assert options_in_use(entry) == PollOptions(tiers=True, per_phase=True)
    entity_id = entity_id_of(entity_registry, "power_import_l1")
    assert entity_id is not None
    state = hass.states.get(entity_id)
    assert state is not None
    assert state.state == "650.0"


async def test_one_tier_in_use(hass: HomeAssistant, start_meter: StartMeter) -> None:
    """Tier energy is disabled by default where only one tier counts: no tier reads."""
    meter = SimulatedMeter()
    meter.energy[1] = meter.energy[0][:]
    meter.energy[2] = [0.0] * 4
    running = await start_meter(meter)
    entry = make_entry(hass, running)
    await setup_entry(hass, entry)
    await poll(hass)
    assert options_in_use(entry) == PollOptions(tiers=False, per_phase=False)
    assert entry.runtime_data.data.snapshot.tiers == ()
