"""What a poll costs: each present value and the tier registers read only while an entity that
needs them is enabled; states that rarely change written only when they do."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er

from custom_components.nes_echelon.nes_client import PollOptions
from nes_echelon_dev.simulator import SimulatedMeter

from .conftest import StartMeter, enable_all_entities, entity_id_of, make_entry, poll, setup_entry

# The present values of the entities enabled by default (power, net power, L1 voltage and
# current), and of every sensor entity of the default meter (3 phases, firmware 3.80).
DEFAULT_PRESENT = frozenset({"power_import", "power_export", "voltage_l1", "current_l1"})
ALL_PRESENT = DEFAULT_PRESENT | {
    "frequency",
    "reactive_import",
    "reactive_export",
    "apparent_power",
    *(
        f"{value}_l{phase}"
        for value in ("voltage", "current", "power_factor")
        for phase in (1, 2, 3)
    ),
    *(f"power_{way}_l{phase}" for way in ("import", "export") for phase in (1, 2, 3)),
}


def options_in_use(entry: object) -> PollOptions:
    client = entry.runtime_data.coordinator.client  # type: ignore[attr-defined]
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
    assert options_in_use(entry) == PollOptions(present=DEFAULT_PRESENT, tiers=True)
    present = entry.runtime_data.coordinator.data.snapshot.present
    assert present.power_import_l1 is None
    assert present.frequency is None  # disabled by default: not read
    assert present.power_import == 1070.0


async def test_every_entity_enabled(
    hass: HomeAssistant, start_meter: StartMeter, entity_registry: er.EntityRegistry
) -> None:
    running = await start_meter()
    entry = make_entry(hass, running)
    await setup_entry(hass, entry)
    await enable_all_entities(hass, entity_registry, entry)
    await poll(hass)
    assert options_in_use(entry) == PollOptions(present=ALL_PRESENT, tiers=True)
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
    assert options_in_use(entry) == PollOptions(present=DEFAULT_PRESENT, tiers=False)
    assert entry.runtime_data.coordinator.data.snapshot.tiers == ()


async def test_rarely_changing_states_are_written_on_change(
    hass: HomeAssistant, start_meter: StartMeter
) -> None:
    """Energy registers, alarms and the tariff are written when they change; power at every
    poll (a Riemann sum helper counts on it); all of them when availability changes."""
    running = await start_meter()
    entry = make_entry(hass, running)
    await setup_entry(hass, entry)
    energy, power = "sensor.nes_83331_3i_energy_import", "sensor.nes_83331_3i_power_import"
    alarm, tariff = (
        "binary_sensor.nes_83331_3i_power_failure",
        "sensor.nes_83331_3i_tariff_in_force",
    )
    await poll(hass)

    def reported() -> dict[str, object]:
        states = {
            entity_id: hass.states.get(entity_id) for entity_id in (energy, power, alarm, tariff)
        }
        return {entity_id: state.last_reported for entity_id, state in states.items() if state}

    before = reported()
    await poll(hass)  # nothing moved
    after = reported()
    assert [entity_id for entity_id in before if after[entity_id] != before[entity_id]] == [power]

    running.meter.advance(3600)
    await poll(hass)
    assert hass.states.get(energy).state == "33822.761"  # type: ignore[union-attr]

    await running.sim.close()  # the meter goes away: everything unavailable
    await poll(hass)
    assert {hass.states.get(entity_id).state for entity_id in before} == {"unavailable"}  # type: ignore[union-attr]
