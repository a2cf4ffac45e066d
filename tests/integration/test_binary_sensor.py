"""The meter's alarms as binary sensors, and the repairs its status raises."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from freezegun.api import TickingDateTimeFactory
from homeassistant.components.binary_sensor import BinarySensorDeviceClass
from homeassistant.const import ATTR_DEVICE_CLASS, STATE_OFF, STATE_ON, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
import pytest

from custom_components.nes_echelon.const import DOMAIN
from nes_echelon_dev.simulator import SimulatedMeter

from .conftest import (
    SERIAL,
    RunningMeter,
    StartMeter,
    entity_id_of,
    entry_keys,
    make_entry,
    setup_entry,
    state_of,
    tick,
)

pytestmark = pytest.mark.freeze_time(tick=True)

PROBLEM = BinarySensorDeviceClass.PROBLEM
TAMPER = BinarySensorDeviceClass.TAMPER
SAFETY = BinarySensorDeviceClass.SAFETY
DIAGNOSTIC = EntityCategory.DIAGNOSTIC

# key: (device class, enabled by default, entity category)
ALARMS: dict[str, tuple[BinarySensorDeviceClass, bool, EntityCategory | None]] = {
    "power_failure": (PROBLEM, True, None),
    "cover_removed": (TAMPER, True, None),
    "magnetic_tamper": (TAMPER, True, None),
    "reverse_energy": (PROBLEM, False, None),
    "phase_loss": (PROBLEM, True, None),
    "phase_inversion": (PROBLEM, False, None),
    "clock_error": (PROBLEM, False, DIAGNOSTIC),
    "measurement_error": (PROBLEM, True, DIAGNOSTIC),
    "key_expiration_pending": (PROBLEM, True, DIAGNOSTIC),
    "invalid_password": (SAFETY, False, DIAGNOSTIC),
}
THREE_PHASE_ONLY = {"phase_loss", "phase_inversion"}
STATUS_INTERVAL = 60


def set_alarm(running: RunningMeter, key: str, value: bool) -> None:
    running.meter.alarms = replace(running.meter.alarms, **{key: value})


@pytest.mark.parametrize(
    ("phases", "expected"),
    [(3, set(ALARMS)), (1, set(ALARMS) - THREE_PHASE_ONLY)],
)
async def test_alarm_entities(
    hass: HomeAssistant,
    start_meter: StartMeter,
    entity_registry: er.EntityRegistry,
    phases: int,
    expected: set[str],
) -> None:
    """One binary sensor per alarm (phase alarms only on 3 phases), with class and flags."""
    running = await start_meter(SimulatedMeter(phases=phases))
    entry = make_entry(hass, running)
    await setup_entry(hass, entry)

    assert entry_keys(entity_registry, entry, "binary_sensor") == expected
    for key in expected:
        device_class, enabled, category = ALARMS[key]
        entity_id = entity_id_of(entity_registry, key, "binary_sensor")
        reg = entity_registry.async_get(entity_id)
        assert reg.original_device_class == device_class, key
        assert reg.entity_category == category, key
        if enabled:
            assert reg.disabled_by is None, key
            state = hass.states.get(entity_id)
            assert state.state == STATE_OFF, key
            assert state.attributes[ATTR_DEVICE_CLASS] == device_class, key
        else:
            assert reg.disabled_by is er.RegistryEntryDisabler.INTEGRATION, key


@pytest.mark.parametrize("key", list(ALARMS))
async def test_alarm_turns_on_and_off(
    hass: HomeAssistant,
    meter: RunningMeter,
    entity_registry: er.EntityRegistry,
    freezer: TickingDateTimeFactory,
    key: str,
) -> None:
    """An alarm set on the meter shows at the next status read, and clears the same way."""
    # Enabled beforehand, as a user would for the ones disabled by default.
    entity_registry.async_get_or_create("binary_sensor", DOMAIN, f"{SERIAL}_{key}")
    entry = make_entry(hass, meter, options={"status_interval": STATUS_INTERVAL})
    await setup_entry(hass, entry)
    entity_id = entity_id_of(entity_registry, key, "binary_sensor")
    assert hass.states.get(entity_id).state == STATE_OFF

    set_alarm(meter, key, True)
    await tick(hass, freezer, 11)  # a poll, but the status is not due yet
    assert hass.states.get(entity_id).state == STATE_OFF
    await tick(hass, freezer, STATUS_INTERVAL - 10)
    state = hass.states.get(entity_id)
    assert state.state == STATE_ON
    assert state.attributes[ATTR_DEVICE_CLASS] == ALARMS[key][0]
    # Only that one.
    for other in ALARMS:
        other_id = entity_id_of(entity_registry, other, "binary_sensor")
        if other != key and (other_state := hass.states.get(other_id)) is not None:
            assert other_state.state == STATE_OFF, other

    set_alarm(meter, key, False)
    await tick(hass, freezer, STATUS_INTERVAL + 1)
    assert hass.states.get(entity_id).state == STATE_OFF


async def test_wrong_key_elsewhere_shows_as_invalid_password(
    hass: HomeAssistant,
    meter: RunningMeter,
    entity_registry: er.EntityRegistry,
    freezer: TickingDateTimeFactory,
) -> None:
    """Someone tried a wrong optical password: the meter's own flag is shown."""
    entity_registry.async_get_or_create("binary_sensor", DOMAIN, f"{SERIAL}_invalid_password")
    entry = make_entry(hass, meter, options={"status_interval": STATUS_INTERVAL})
    await setup_entry(hass, entry)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": "user"})
    await hass.config_entries.flow.async_configure(
        result["flow_id"], meter.data | {"key": "ZYXWVUTSRQPONMLKJIHG"}
    )
    assert meter.failed_logons == 1

    await tick(hass, freezer, STATUS_INTERVAL + 1)

    assert state_of_alarm(hass, entity_registry, "invalid_password") == STATE_ON


def state_of_alarm(hass: HomeAssistant, entity_registry: er.EntityRegistry, key: str) -> str:
    entity_id = entity_id_of(entity_registry, key, "binary_sensor")
    return hass.states.get(entity_id).state


@pytest.mark.parametrize("drift", [timedelta(minutes=7), timedelta(minutes=-12)])
async def test_clock_drift_repair(
    hass: HomeAssistant,
    meter: RunningMeter,
    entity_registry: er.EntityRegistry,
    issue_registry: ir.IssueRegistry,
    freezer: TickingDateTimeFactory,
    drift: timedelta,
) -> None:
    """A meter clock more than 5 minutes off: a repair issue, gone once the clock is right."""
    entity_registry.async_get_or_create("sensor", DOMAIN, f"{SERIAL}_clock_drift")
    meter.meter.clock_drift = timedelta(minutes=4)  # within the limit
    entry = make_entry(hass, meter, options={"status_interval": STATUS_INTERVAL})
    await setup_entry(hass, entry)
    issue_id = f"clock_drift_{entry.entry_id}"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    assert abs(int(state_of(hass, entity_registry, "clock_drift")) - 240) <= 1

    meter.meter.clock_drift = drift
    await tick(hass, freezer, STATUS_INTERVAL + 1)

    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "clock_drift"
    assert issue.severity is ir.IssueSeverity.WARNING
    assert not issue.is_fixable
    minutes = round(abs(drift.total_seconds()) / 60)
    assert issue.translation_placeholders == {"title": entry.title, "minutes": str(minutes)}
    drift_seconds = int(state_of(hass, entity_registry, "clock_drift"))
    assert abs(drift_seconds - drift.total_seconds()) <= 1

    meter.meter.clock_drift = timedelta(0)  # set by the grid company
    await tick(hass, freezer, STATUS_INTERVAL + 1)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    assert abs(int(state_of(hass, entity_registry, "clock_drift"))) <= 1


async def test_key_expiration_repair(
    hass: HomeAssistant,
    meter: RunningMeter,
    entity_registry: er.EntityRegistry,
    issue_registry: ir.IssueRegistry,
    freezer: TickingDateTimeFactory,
) -> None:
    """The meter says its key expires soon: a repair issue until the flag is gone."""
    set_alarm(meter, "key_expiration_pending", True)
    entry = make_entry(hass, meter, options={"status_interval": STATUS_INTERVAL})
    await setup_entry(hass, entry)
    issue_id = f"key_expiration_{entry.entry_id}"

    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "key_expiration"
    assert issue.severity is ir.IssueSeverity.WARNING
    assert issue.translation_placeholders == {"title": entry.title}
    assert state_of_alarm(hass, entity_registry, "key_expiration_pending") == STATE_ON

    set_alarm(meter, "key_expiration_pending", False)  # the new key is in place
    await tick(hass, freezer, STATUS_INTERVAL + 1)

    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    assert state_of_alarm(hass, entity_registry, "key_expiration_pending") == STATE_OFF


async def test_no_repairs_for_a_healthy_meter(
    hass: HomeAssistant, meter: RunningMeter, issue_registry: ir.IssueRegistry
) -> None:
    entry = make_entry(hass, meter)
    await setup_entry(hass, entry)
    assert [issue_id for (domain, issue_id) in issue_registry.issues if domain == DOMAIN] == []


async def test_unreadable_meter_clock(
    hass: HomeAssistant,
    meter: RunningMeter,
    entity_registry: er.EntityRegistry,
    issue_registry: ir.IssueRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A meter clock that holds no valid date: no drift value and no repair, alarms still read."""
    entity_registry.async_get_or_create("sensor", DOMAIN, f"{SERIAL}_clock_drift")
    real_table = meter.meter.table
    unset_clock = bytes([26, 13, 0, 0, 0, 0, 0x10])  # month 13

    monkeypatch.setattr(
        meter.meter, "table", lambda table: unset_clock if table == 52 else real_table(table)
    )
    entry = make_entry(hass, meter)
    await setup_entry(hass, entry)

    assert entry.runtime_data.coordinator.data.status.clock is None
    assert state_of(hass, entity_registry, "clock_drift") == "unknown"
    assert issue_registry.async_get_issue(DOMAIN, f"clock_drift_{entry.entry_id}") is None
    assert state_of_alarm(hass, entity_registry, "power_failure") == STATE_OFF
