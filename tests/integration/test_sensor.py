"""Sensors: which exist for which meter, what they show, and what they never show."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from freezegun.api import TickingDateTimeFactory
from homeassistant.components.sensor import (
    ATTR_OPTIONS,
    ATTR_STATE_CLASS,
    SensorDeviceClass,
    SensorStateClass,
)
from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_UNIT_OF_MEASUREMENT,
    EVENT_STATE_CHANGED,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    EntityCategory,
)
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest

from custom_components.nes_echelon.const import DOMAIN
from custom_components.nes_echelon.guard import EnergyGuard
from custom_components.nes_echelon.nes_client.tables import FirmwareVersion
from nes_echelon_dev.simulator import PhaseLoad, SimulatedMeter

from .conftest import (
    SERIAL,
    RunningMeter,
    StartMeter,
    enable_all_entities,
    entity_id_of,
    entry_keys,
    make_entry,
    poll,
    setup_entry,
    state_of,
    tick,
)


@dataclass(frozen=True)
class Expect:
    device_class: str | None
    state_class: str | None
    unit: str | None
    enabled: bool = True
    category: EntityCategory | None = None


ENERGY = Expect(SensorDeviceClass.ENERGY, SensorStateClass.TOTAL_INCREASING, "kWh")
REACTIVE_ENERGY = Expect(
    SensorDeviceClass.REACTIVE_ENERGY, SensorStateClass.TOTAL_INCREASING, "kvarh", enabled=False
)
POWER = Expect(SensorDeviceClass.POWER, SensorStateClass.MEASUREMENT, "W")
MEASUREMENT = SensorStateClass.MEASUREMENT


def phase_sensors(phase: int) -> dict[str, Expect]:
    first = phase == 1
    return {
        f"voltage_l{phase}": Expect(SensorDeviceClass.VOLTAGE, MEASUREMENT, "V", enabled=first),
        f"current_l{phase}": Expect(SensorDeviceClass.CURRENT, MEASUREMENT, "A", enabled=first),
        f"power_factor_l{phase}": Expect(
            SensorDeviceClass.POWER_FACTOR, MEASUREMENT, None, enabled=False
        ),
    }


def per_phase_power(phase: int) -> dict[str, Expect]:
    disabled = Expect(SensorDeviceClass.POWER, MEASUREMENT, "W", enabled=False)
    return {f"power_import_l{phase}": disabled, f"power_export_l{phase}": disabled}


def tier_sensors(tiers: int, *, enabled: bool) -> dict[str, Expect]:
    tier_energy = Expect(
        SensorDeviceClass.ENERGY, SensorStateClass.TOTAL_INCREASING, "kWh", enabled=enabled
    )
    return {
        f"tier_{tier}_energy_{direction}": tier_energy
        for tier in range(1, tiers + 1)
        for direction in ("import", "export")
    }


COMMON: dict[str, Expect] = {
    "energy_import": ENERGY,
    "energy_export": ENERGY,
    "reactive_energy_import": REACTIVE_ENERGY,
    "reactive_energy_export": REACTIVE_ENERGY,
    "power_import": POWER,
    "power_export": POWER,
    "power": POWER,
    "frequency": Expect(SensorDeviceClass.FREQUENCY, MEASUREMENT, "Hz", enabled=False),
    "reactive_import": Expect(SensorDeviceClass.REACTIVE_POWER, MEASUREMENT, "var", enabled=False),
    "reactive_export": Expect(SensorDeviceClass.REACTIVE_POWER, MEASUREMENT, "var", enabled=False),
    "apparent_power": Expect(SensorDeviceClass.APPARENT_POWER, MEASUREMENT, "VA", enabled=False),
    "last_read": Expect(
        SensorDeviceClass.TIMESTAMP, None, None, category=EntityCategory.DIAGNOSTIC
    ),
    "clock_drift": Expect(
        SensorDeviceClass.DURATION,
        MEASUREMENT,
        "s",
        enabled=False,
        category=EntityCategory.DIAGNOSTIC,
    ),
}
TARIFF = {"tier": Expect(SensorDeviceClass.ENUM, None, None)}

THREE_PHASE = (
    COMMON
    | TARIFF
    | phase_sensors(1)
    | phase_sensors(2)
    | phase_sensors(3)
    | per_phase_power(1)
    | per_phase_power(2)
    | per_phase_power(3)
    | tier_sensors(4, enabled=True)
)
SINGLE_PHASE = (
    COMMON | TARIFF | phase_sensors(1) | per_phase_power(1) | tier_sensors(4, enabled=True)
)


def assert_entities(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    entry: Any,
    expected: dict[str, Expect],
) -> None:
    """Exactly these sensors exist, each with its device class, state class, unit and flags."""
    assert entry_keys(entity_registry, entry) == set(expected)
    for key, expect in expected.items():
        entity_id = entity_id_of(entity_registry, key)
        assert entity_id is not None
        reg = entity_registry.async_get(entity_id)
        assert reg is not None
        assert reg.original_device_class == expect.device_class, key
        assert reg.entity_category == expect.category, key
        assert reg.unit_of_measurement == expect.unit, key
        assert (reg.capabilities or {}).get(ATTR_STATE_CLASS) == expect.state_class, key
        if expect.enabled:
            assert reg.disabled_by is None, key
            state = hass.states.get(entity_id)
            assert state is not None, key
            assert state.attributes.get(ATTR_DEVICE_CLASS) == expect.device_class, key
            assert state.attributes.get(ATTR_UNIT_OF_MEASUREMENT) == expect.unit, key
            assert state.attributes.get(ATTR_STATE_CLASS) == expect.state_class, key
        else:
            assert reg.disabled_by is er.RegistryEntryDisabler.INTEGRATION, key
            assert hass.states.get(entity_id) is None, key


def expected_values(meter: SimulatedMeter) -> dict[str, float]:
    """What the sensors must show for the simulated meter now (kWh = Wh / 1000)."""
    slots = meter.present_slots()
    total = meter.registers(0)
    values: dict[str, float] = {
        "energy_import": total[0] / 1000,
        "energy_export": total[1] / 1000,
        "reactive_energy_import": total[2] / 1000,
        "reactive_energy_export": total[3] / 1000,
        "power_import": slots[0],
        "power_export": slots[1],
        "power": slots[0] - slots[1],
        "reactive_import": slots[2],
        "reactive_export": slots[3],
        "frequency": slots[11] / 1000,
        "apparent_power": slots[12],
    }
    for tier in range(1, meter.tiers + 1):
        registers = meter.registers(tier)
        if registers[0]:
            values[f"tier_{tier}_energy_import"] = registers[0] / 1000
        if registers[1]:
            values[f"tier_{tier}_energy_export"] = registers[1] / 1000
    pf_slots = {1: 10, 2: 13, 3: 14}
    for phase in range(1, meter.phases + 1):
        values[f"voltage_l{phase}"] = slots[6 + phase] / 1000
        values[f"current_l{phase}"] = slots[3 + phase] / 1000
        values[f"power_factor_l{phase}"] = slots[pf_slots[phase]] / 1000
        values[f"power_import_l{phase}"] = slots[25 + phase]
        values[f"power_export_l{phase}"] = slots[28 + phase]
    return values


def assert_values(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, meter: SimulatedMeter
) -> None:
    for key, value in expected_values(meter).items():
        entity_id = entity_id_of(entity_registry, key)
        if entity_id is None or (state := hass.states.get(entity_id)) is None:
            continue  # not created, or disabled
        assert float(state.state) == pytest.approx(value, abs=1e-9), key


@pytest.mark.parametrize(("link", "via"), [("optical", "tcp"), ("mep", "tcp"), ("optical", "pty")])
async def test_three_phase_meter(
    hass: HomeAssistant,
    start_meter: StartMeter,
    entity_registry: er.EntityRegistry,
    link: str,
    via: str,
) -> None:
    """Every sensor of a 3-phase, 4-tier meter, and the values it reads."""
    running = await start_meter(link=link, via=via)
    entry = make_entry(hass, running)
    await setup_entry(hass, entry)

    assert_entities(hass, entity_registry, entry, THREE_PHASE)
    assert_values(hass, entity_registry, running.meter)
    assert state_of(hass, entity_registry, "energy_import") == "33821.691"
    assert state_of(hass, entity_registry, "tier") == "tier_1"
    read_at = datetime.fromisoformat(state_of(hass, entity_registry, "last_read"))
    assert read_at == entry.runtime_data.coordinator.data.read_at.replace(microsecond=0)
    # Tiers 3 and 4 have never been in force: their registers truly read 0.
    assert state_of(hass, entity_registry, "tier_3_energy_import") == "0.0"


async def test_all_values_when_enabled(
    hass: HomeAssistant, meter: RunningMeter, entity_registry: er.EntityRegistry
) -> None:
    """The sensors disabled by default show the meter's values once enabled."""
    entry = make_entry(hass, meter)
    await setup_entry(hass, entry)
    await enable_all_entities(hass, entity_registry, entry)

    for key in THREE_PHASE:
        entity_id = entity_id_of(entity_registry, key)
        assert hass.states.get(entity_id) is not None, key
    assert_values(hass, entity_registry, meter.meter)
    assert state_of(hass, entity_registry, "voltage_l3") == "230.613"
    assert state_of(hass, entity_registry, "power_export_l3") == "310.0"
    assert state_of(hass, entity_registry, "reactive_energy_import") == "4210.339"
    assert state_of(hass, entity_registry, "frequency") == "50.012"
    assert abs(int(state_of(hass, entity_registry, "clock_drift"))) <= 1


@pytest.mark.parametrize("link", ["optical", "mep"])
async def test_single_phase_meter(
    hass: HomeAssistant,
    start_meter: StartMeter,
    entity_registry: er.EntityRegistry,
    link: str,
) -> None:
    """A 1-phase meter has no L2/L3 entities at all."""
    running = await start_meter(SimulatedMeter(phases=1, model="83331-1I"), link=link)
    entry = make_entry(hass, running)
    await setup_entry(hass, entry)

    assert entry.runtime_data.coordinator.identity.phases == 1
    assert_entities(hass, entity_registry, entry, SINGLE_PHASE)
    assert not any(key.endswith(("_l2", "_l3")) for key in entry_keys(entity_registry, entry))
    assert_values(hass, entity_registry, running.meter)
    assert state_of(hass, entity_registry, "power_import") == "650.0"
    assert state_of(hass, entity_registry, "power_export") == "0.0"


async def test_firmware_without_per_phase_power(
    hass: HomeAssistant, start_meter: StartMeter, entity_registry: er.EntityRegistry
) -> None:
    """Firmware before 3.50 has no per-phase power registers: no such entities."""
    running = await start_meter(SimulatedMeter(firmware=FirmwareVersion(3, 40, 2)))
    entry = make_entry(hass, running)
    await setup_entry(hass, entry)

    expected = COMMON | TARIFF | phase_sensors(1) | phase_sensors(2) | phase_sensors(3)
    expected |= tier_sensors(4, enabled=True)
    assert_entities(hass, entity_registry, entry, expected)
    assert_values(hass, entity_registry, running.meter)


@pytest.mark.parametrize(
    ("firmware", "exists"), [(FirmwareVersion(4, 30), True), (FirmwareVersion(3, 80, 5), False)]
)
async def test_neutral_current(
    hass: HomeAssistant,
    start_meter: StartMeter,
    entity_registry: er.EntityRegistry,
    firmware: FirmwareVersion,
    exists: bool,
) -> None:
    """Firmware 4.00 on reports the neutral current (slot 71): an entity, disabled by default,
    that shows the meter's value once enabled (and is read only then); none before 4.00."""
    running = await start_meter(SimulatedMeter(firmware=firmware))
    entry = make_entry(hass, running)
    await setup_entry(hass, entry)
    entity_id = entity_id_of(entity_registry, "neutral_current")
    assert (entity_id is not None) == exists
    if entity_id is None:
        return
    registry_entry = entity_registry.async_get(entity_id)
    assert registry_entry is not None
    assert registry_entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    await poll(hass)
    assert entry.runtime_data.coordinator.data.snapshot.present.neutral_current is None

    await enable_all_entities(hass, entity_registry, entry)
    await poll(hass)
    state = hass.states.get(entity_id)
    assert state is not None
    assert float(state.state) == running.meter.present_slots()[71] / 1000
    assert state.attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.CURRENT
    assert state.attributes[ATTR_UNIT_OF_MEASUREMENT] == "A"


@pytest.mark.parametrize(
    ("tiers", "tier_entities", "enabled"),
    [(0, 0, False), (1, 1, False), (4, 4, True), (8, 8, True)],
)
async def test_tier_entities(
    hass: HomeAssistant,
    start_meter: StartMeter,
    entity_registry: er.EntityRegistry,
    tiers: int,
    tier_entities: int,
    enabled: bool,
) -> None:
    """Tier registers exist per tier; shown by default only when more than one is in use."""
    running = await start_meter(SimulatedMeter(tiers=tiers))
    entry = make_entry(hass, running)
    await setup_entry(hass, entry)

    keys = entry_keys(entity_registry, entry)
    tier_keys = {key for key in keys if key.startswith("tier_")}
    assert tier_keys == set(tier_sensors(tier_entities, enabled=enabled))
    assert ("tier" in keys) is (tiers > 0)  # the tariff in force
    expected = {key: value for key, value in THREE_PHASE.items() if not key.startswith("tier")}
    expected |= tier_sensors(tier_entities, enabled=enabled)
    if tiers:
        expected |= TARIFF
    assert_entities(hass, entity_registry, entry, expected)
    assert_values(hass, entity_registry, running.meter)


@pytest.mark.freeze_time(tick=True)
async def test_tariff_follows_the_meter(
    hass: HomeAssistant,
    start_meter: StartMeter,
    entity_registry: er.EntityRegistry,
    freezer: TickingDateTimeFactory,
) -> None:
    """The tariff in force is read with the status, every status interval."""
    running = await start_meter(SimulatedMeter(tiers=8))
    entry = make_entry(hass, running, options={"status_interval": 60})
    await setup_entry(hass, entry)
    entity_id = entity_id_of(entity_registry, "tier")
    state = hass.states.get(entity_id)
    assert state.state == "tier_1"
    assert state.attributes[ATTR_OPTIONS] == [f"tier_{tier}" for tier in range(1, 9)]

    running.meter.current_tier = 1
    await tick(hass, freezer, 20)
    assert hass.states.get(entity_id).state == "tier_1"  # not read again yet
    await tick(hass, freezer, 41)
    assert hass.states.get(entity_id).state == "tier_2"

    running.meter.current_tier = 7
    await tick(hass, freezer, 61)
    assert hass.states.get(entity_id).state == "tier_8"


async def test_energy_follows_the_meter(
    hass: HomeAssistant, meter: RunningMeter, entity_registry: er.EntityRegistry
) -> None:
    """Energy grows with the meter's registers, in kWh = Wh / 1000, tiers included."""
    entry = make_entry(hass, meter)
    await setup_entry(hass, entry)
    before = float(state_of(hass, entity_registry, "energy_import"))

    meter.meter.current_tier = 2  # the tier whose registers count now
    meter.meter.advance(3600)  # one hour at 1070 W import, 310 W export
    await poll(hass)

    assert float(state_of(hass, entity_registry, "energy_import")) == pytest.approx(before + 1.07)
    assert_values(hass, entity_registry, meter.meter)
    assert state_of(hass, entity_registry, "tier_3_energy_import") == "1.07"


async def test_power_signs(
    hass: HomeAssistant, meter: RunningMeter, entity_registry: er.EntityRegistry
) -> None:
    """Import and export are magnitudes (never negative); net power = import - export."""
    entry = make_entry(hass, meter)
    await setup_entry(hass, entry)
    assert state_of(hass, entity_registry, "power") == "760.0"

    meter.meter.loads = [PhaseLoad(import_w=0.0, export_w=1500.0) for _ in range(3)]
    await poll(hass)

    assert state_of(hass, entity_registry, "power_import") == "0.0"
    assert state_of(hass, entity_registry, "power_export") == "4500.0"
    assert state_of(hass, entity_registry, "power") == "-4500.0"

    meter.meter.loads = [PhaseLoad(import_w=0.0) for _ in range(3)]
    await poll(hass)
    for key in ("power_import", "power_export", "power"):
        assert state_of(hass, entity_registry, key) == "0.0"


async def test_unavailable_while_the_meter_is_gone(
    hass: HomeAssistant, start_meter: StartMeter, entity_registry: er.EntityRegistry
) -> None:
    """The meter (or its bridge) goes away: unavailable; it comes back: values again."""
    meter = SimulatedMeter()
    first = await start_meter(meter)
    entry = make_entry(hass, first)
    await setup_entry(hass, entry)
    energy = entity_id_of(entity_registry, "energy_import")
    alarm = entity_id_of(entity_registry, "power_failure", "binary_sensor")

    await first.sim.close()
    await poll(hass)
    assert hass.states.get(energy).state == STATE_UNAVAILABLE
    assert hass.states.get(alarm).state == STATE_UNAVAILABLE
    await poll(hass)  # reconnecting fails too
    assert hass.states.get(energy).state == STATE_UNAVAILABLE

    meter.advance(600)
    await start_meter(meter, tcp_port=first.tcp_port)
    await poll(hass)
    assert hass.states.get(alarm).state == "off"
    assert_values(hass, entity_registry, meter)


@pytest.mark.parametrize(("link", "fault"), [("optical", "bad_crc"), ("mep", "bad_digest")])
async def test_corrupt_answers_are_never_published(
    hass: HomeAssistant,
    start_meter: StartMeter,
    entity_registry: er.EntityRegistry,
    link: str,
    fault: str,
) -> None:
    """An answer that fails its check is asked for again or the poll fails; never shown."""
    running = await start_meter(link=link)
    entry = make_entry(hass, running)
    await setup_entry(hass, entry)
    published = record_states(hass)

    setattr(running.sim.faults, fault, 1)  # one corrupt answer: retried, poll succeeds
    await poll(hass)
    assert getattr(running.sim.faults, fault) == 0  # it did fire
    assert entry.runtime_data.coordinator.last_update_success
    assert_values(hass, entity_registry, running.meter)

    setattr(running.sim.faults, fault, 99)  # nothing but corrupt answers: the poll fails
    await poll(hass)
    assert not entry.runtime_data.coordinator.last_update_success
    assert state_of(hass, entity_registry, "energy_import") == STATE_UNAVAILABLE

    running.sim.faults.clear()
    await poll(hass)
    assert_values(hass, entity_registry, running.meter)

    expected = expected_values(running.meter)
    for key, states in published.items():
        if key in expected:
            assert set(states) <= {STATE_UNAVAILABLE, str(float(expected[key]))}, (key, states)


def record_states(hass: HomeAssistant) -> dict[str, list[str]]:
    """Every state the integration's sensors publish from now on, by description key."""
    entity_registry = er.async_get(hass)
    published: dict[str, list[str]] = {}

    @callback
    def changed(event: Event[Any]) -> None:
        reg = entity_registry.async_get(event.data["entity_id"])
        if reg is None or reg.platform != DOMAIN or event.data["new_state"] is None:
            return
        key = reg.unique_id.removeprefix(f"{SERIAL}_")
        published.setdefault(key, []).append(event.data["new_state"].state)

    hass.bus.async_listen(EVENT_STATE_CHANGED, changed)
    return published


ENERGY_KEYS = (
    "energy_import",
    "energy_export",
    "tier_1_energy_import",
    "tier_1_energy_export",
    "tier_2_energy_import",
    "tier_2_energy_export",
)


async def test_register_glitch_is_not_published(
    hass: HomeAssistant, meter: RunningMeter, entity_registry: er.EntityRegistry
) -> None:
    """Registers that read 0 for a moment: unknown, never 0, then the real values again."""
    entry = make_entry(hass, meter)
    await setup_entry(hass, entry)
    published = record_states(hass)
    saved = [block[:] for block in meter.meter.energy]

    meter.meter.reset_counters()
    await poll(hass)
    for key in ENERGY_KEYS:
        assert state_of(hass, entity_registry, key) == STATE_UNKNOWN, key

    meter.meter.energy = saved
    await poll(hass)
    assert_values(hass, entity_registry, meter.meter)

    for key in ENERGY_KEYS:
        assert "0.0" not in published[key], key
        assert published[key] == [STATE_UNKNOWN, str(expected_values(meter.meter)[key])]


async def test_register_reset_is_confirmed_before_it_is_published(
    hass: HomeAssistant, meter: RunningMeter, entity_registry: er.EntityRegistry
) -> None:
    """A real reset (registers cleared for good) shows after three identical readings.

    Until then the registers are unknown: a drop to 0 is a spike in every energy statistic.
    """
    entry = make_entry(hass, meter, options={"scan_interval": 10})
    await setup_entry(hass, entry)
    published = record_states(hass)

    meter.meter.reset_counters()
    await poll(hass)
    await poll(hass)
    for key in ENERGY_KEYS:
        assert state_of(hass, entity_registry, key) == STATE_UNKNOWN, key
        assert "0.0" not in published[key]

    await poll(hass)  # the third identical reading
    for key in ENERGY_KEYS:
        assert state_of(hass, entity_registry, key) == "0.0", key

    meter.meter.advance(3600)
    await poll(hass)
    assert state_of(hass, entity_registry, "energy_import") == "1.07"


async def test_device_registry_entry(
    hass: HomeAssistant,
    meter: RunningMeter,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    """One device per meter, named by make and model, with serial number and firmware."""
    entry = make_entry(hass, meter)
    await setup_entry(hass, entry)

    devices = dr.async_entries_for_config_entry(device_registry, entry.entry_id)
    assert len(devices) == 1
    device = devices[0]
    assert device.identifiers == {(DOMAIN, SERIAL)}
    assert device.manufacturer == "NES"
    assert device.model == "83331-3I"
    assert device.serial_number == SERIAL
    assert device.sw_version == "3.80.05"
    assert device.name == "NES 83331-3I"
    for reg in er.async_entries_for_config_entry(entity_registry, entry.entry_id):
        assert reg.device_id == device.id
        assert reg.has_entity_name


async def test_device_without_manufacturer_or_model(
    hass: HomeAssistant, start_meter: StartMeter, device_registry: dr.DeviceRegistry
) -> None:
    """A meter that reports neither make nor model still gets a named device."""
    running = await start_meter(SimulatedMeter(manufacturer="", model=""))
    entry = make_entry(hass, running)
    await setup_entry(hass, entry)

    (device,) = dr.async_entries_for_config_entry(device_registry, entry.entry_id)
    assert device.manufacturer == "NES/Echelon"
    assert device.name == "NES/Echelon meter"
    assert device.model is None or device.model == ""


async def test_last_read_moves_with_each_poll(
    hass: HomeAssistant, meter: RunningMeter, entity_registry: er.EntityRegistry
) -> None:
    entry = make_entry(hass, meter)
    await setup_entry(hass, entry)
    first = entry.runtime_data.coordinator.data.read_at

    await poll(hass)

    assert entry.runtime_data.coordinator.data.read_at > first
    assert entry.runtime_data.coordinator.data.read_at - first < timedelta(seconds=5)  # real time


@pytest.mark.freeze_time(tick=True)
async def test_firmware_upgrade_adds_entities(
    hass: HomeAssistant,
    start_meter: StartMeter,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
    freezer: TickingDateTimeFactory,
) -> None:
    """The meter flags changed dimensions (new firmware): the entry reloads and follows."""
    meter = SimulatedMeter(firmware=FirmwareVersion(3, 40, 2))
    running = await start_meter(meter)
    entry = make_entry(hass, running, options={"status_interval": 60})
    await setup_entry(hass, entry)
    assert "power_import_l1" not in entry_keys(entity_registry, entry)
    coordinator = entry.runtime_data.coordinator

    meter.firmware = FirmwareVersion(3, 80, 5)
    meter.alarms = replace(meter.alarms, dimension_change=True)
    await tick(hass, freezer, 61)  # the status read sees the flag and identifies again
    await hass.async_block_till_done(wait_background_tasks=True)

    assert entry.runtime_data.coordinator is not coordinator  # reloaded
    assert entry.runtime_data.coordinator.identity.firmware == FirmwareVersion(3, 80, 5)
    assert {"power_import_l1", "power_export_l3"} <= entry_keys(entity_registry, entry)
    (device,) = dr.async_entries_for_config_entry(device_registry, entry.entry_id)
    assert device.sw_version == "3.80.05"

    # The flag stays up on this meter; with nothing changed, no reload loop.
    coordinator = entry.runtime_data.coordinator
    await tick(hass, freezer, 61)
    assert entry.runtime_data.coordinator is coordinator
    assert coordinator.last_update_success


async def test_dropped_connection_recovers(
    hass: HomeAssistant, meter: RunningMeter, entity_registry: er.EntityRegistry
) -> None:
    """The meter hangs up mid-poll: unavailable for that poll, back at the next one."""
    entry = make_entry(hass, meter)
    await setup_entry(hass, entry)

    meter.sim.faults.disconnect = 1
    await poll(hass)
    assert state_of(hass, entity_registry, "energy_import") == STATE_UNAVAILABLE

    await poll(hass)
    assert meter.sim.connections == 2  # the port was opened again
    assert_values(hass, entity_registry, meter.meter)


def test_guard_passes_missing_registers_and_restarts_confirmation() -> None:
    """EnergyGuard on its own: None stays None; a low value that goes down again restarts
    the count, one that counts up from its new base (a reset while power flows) does not."""
    guard = EnergyGuard()
    assert guard.accept("reactive_energy_import", None) is None
    assert guard.accept("energy_import", 0.0) is None  # a first 0 is not trusted
    assert guard.accept("energy_import", 100.0) == 100.0
    assert guard.accept("energy_import", 5.0) is None
    assert guard.accept("energy_import", 4.0) is None  # down again: the count restarts
    assert guard.accept("energy_import", 5.5) is None
    assert guard.accept("energy_import", 6.0) == 6.0  # third low reading counting up
    assert guard.accept("energy_import", 6.5) == 6.5
    assert guard.accept("energy_import", 1.0) is None
    assert guard.accept("energy_import", 7.0) == 7.0  # the glitch is forgotten
    assert guard.accept("tier_3_energy_import", 0.0, zero_ok=True) == 0.0  # tier never in force
    assert guard.accept("energy_import", 1.0) is None
    assert guard.accept("energy_import", 1.0) is None
