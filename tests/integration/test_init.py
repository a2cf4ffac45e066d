"""Set-up, unload and reload of an entry against the simulated meter, and what goes wrong."""

from __future__ import annotations

from datetime import timedelta
import os
from pathlib import Path

from freezegun.api import TickingDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.update_coordinator import UpdateFailed
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.nes_echelon import first_refresh
from custom_components.nes_echelon.const import DOMAIN
from custom_components.nes_echelon.nes_client import MeterClient
from nes_echelon_dev.simulator import Faults, SimulatedMeter

from .conftest import RunningMeter, StartMeter, make_entry, poll, setup_entry, tick

ENERGY_IMPORT = "sensor.nes_83331_3i_energy_import"
WRONG_KEY = "ZYXWVUTSRQPONMLKJIHG"


async def test_setup_and_unload(hass: HomeAssistant, meter: RunningMeter) -> None:
    """The entry loads, creates its entities from one connection, and unloads cleanly."""
    entry = make_entry(hass, meter)
    await setup_entry(hass, entry)

    assert entry.state is ConfigEntryState.LOADED
    coordinator = entry.runtime_data.coordinator
    assert coordinator.identity is not None
    assert coordinator.identity.serial_number == meter.meter.serial_number
    assert hass.states.get(ENERGY_IMPORT).state == "33821.691"

    # Polls reuse the open port: still one connection after a few of them.
    for _ in range(3):
        await poll(hass)
    assert coordinator.last_update_success
    assert meter.sim.connections == 1

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert hass.states.get(ENERGY_IMPORT).state == STATE_UNAVAILABLE
    # No polls once unloaded.
    await poll(hass, 60)
    assert meter.sim.connections == 1


async def test_reload(hass: HomeAssistant, meter: RunningMeter) -> None:
    """A reload closes the port and opens it again."""
    entry = make_entry(hass, meter)
    await setup_entry(hass, entry)
    first = entry.runtime_data.coordinator

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)

    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.coordinator is not first
    assert meter.sim.connections == 2
    assert hass.states.get(ENERGY_IMPORT).state == "33821.691"


@pytest.mark.parametrize("link", ["optical", "mep"])
async def test_unload_during_a_poll(
    hass: HomeAssistant, start_meter: StartMeter, link: str
) -> None:
    """Unloading while a poll waits for the meter closes the port after it, without errors.

    A close that talked to the meter while the poll's read was pending used to fail with
    "read() called while another coroutine is already waiting" and left the port open.
    """
    running = await start_meter(link=link)
    entry = make_entry(hass, running)
    await setup_entry(hass, entry)

    # Start a poll; its first request is now on the wire, the answer not yet read.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=11))
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)

    assert entry.state is ConfigEntryState.NOT_LOADED
    # The port was really closed: set-up opens it again and works.
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    assert hass.states.get(ENERGY_IMPORT).state == "33821.691"


async def test_setup_retry_when_meter_is_down(
    hass: HomeAssistant, start_meter: StartMeter, meter: RunningMeter
) -> None:
    """Nothing listens on the port: set-up is retried, and succeeds once the meter is back."""
    entry = make_entry(hass, meter)
    await meter.sim.close()

    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.error_reason_translation_key == "cannot_connect"

    await start_meter(meter.meter, tcp_port=meter.tcp_port)
    await poll(hass, 60)  # the retry
    assert entry.state is ConfigEntryState.LOADED
    assert hass.states.get(ENERGY_IMPORT).state == "33821.691"


async def test_setup_retry_on_timeout(hass: HomeAssistant, start_meter: StartMeter) -> None:
    """A meter that does not answer (probe off the meter): set-up is retried."""
    running = await start_meter(faults=Faults(silence=99))
    entry = make_entry(hass, running, options={"timeout": 0.1})

    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.error_reason_translation_key == "timeout"

    running.sim.faults.clear()
    await poll(hass, 60)  # the retry
    assert entry.state is ConfigEntryState.LOADED


@pytest.mark.freeze_time(tick=True)
@pytest.mark.parametrize("link", ["optical", "mep"])
async def test_wrong_key_at_setup(
    hass: HomeAssistant,
    start_meter: StartMeter,
    freezer: TickingDateTimeFactory,
    link: str,
) -> None:
    """A rejected key: set-up fails for good, reauth starts, and the key is tried only once."""
    running = await start_meter(link=link)
    entry = make_entry(hass, running, key=WRONG_KEY)

    await setup_entry(hass, entry)

    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.error_reason_translation_key == "invalid_key"
    flows = hass.config_entries.flow.async_progress()
    assert len(flows) == 1
    assert flows[0]["handler"] == DOMAIN
    assert flows[0]["context"]["source"] == SOURCE_REAUTH
    assert flows[0]["context"]["entry_id"] == entry.entry_id
    assert flows[0]["step_id"] == "reauth_confirm"
    assert running.failed_logons == 1

    # The meter logs every failed logon and may lock its port: no retry, however long.
    for _ in range(3):
        await tick(hass, freezer, 600)
    assert running.failed_logons == 1
    assert entry.state is ConfigEntryState.SETUP_ERROR


@pytest.mark.freeze_time(tick=True)
async def test_key_rejected_while_running(
    hass: HomeAssistant, meter: RunningMeter, freezer: TickingDateTimeFactory
) -> None:
    """The meter stops accepting the key (new key issued): reauth, and polling stops."""
    entry = make_entry(hass, meter)
    await setup_entry(hass, entry)
    meter.meter.key = b"NEW KEY FROM GRIDCO!"

    await tick(hass, freezer)  # the optical session is reopened and the password refused

    assert meter.failed_logons == 1
    assert hass.states.get(ENERGY_IMPORT).state == STATE_UNAVAILABLE
    flows = hass.config_entries.flow.async_progress()
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
    for _ in range(3):
        await tick(hass, freezer, 60)
    assert meter.failed_logons == 1


async def test_wrong_meter_at_setup(hass: HomeAssistant, meter: RunningMeter) -> None:
    """Another meter answers on the entry's port: set-up fails for good (no retry)."""
    entry = make_entry(hass, meter, unique_id="0710999999")

    await setup_entry(hass, entry)

    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.error_reason_translation_key == "wrong_meter"
    assert "0710123456" in (entry.reason or "")
    assert "0710999999" in (entry.reason or "")
    await poll(hass, 600)
    assert meter.sim.connections == 1


async def test_wrong_meter_after_setup(hass: HomeAssistant, meter: RunningMeter) -> None:
    """Another meter answers once the entry has been set up (the port reconnected to another
    meter): the entry is set up again and fails there, for good, saying why."""
    entry = make_entry(hass, meter)
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    await entry.runtime_data.coordinator.async_close()  # the next poll connects again
    meter.meter.serial_number = "0710999999"

    await poll(hass)

    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.error_reason_translation_key == "wrong_meter"
    assert "0710999999" in (entry.reason or "")


async def test_port_missing_repair(
    hass: HomeAssistant,
    start_meter: StartMeter,
    issue_registry: ir.IssueRegistry,
    tmp_path: Path,
) -> None:
    """The port's path vanished (probe unplugged): a repair issue until it is back."""
    running = await start_meter(via="pty")
    path = tmp_path / "ttyUSB-nes"  # like a /dev/serial/by-id/… link, not there yet
    entry = make_entry(hass, running, port=str(path))

    await setup_entry(hass, entry)

    assert entry.state is ConfigEntryState.SETUP_RETRY
    issue_id = f"port_missing_{entry.entry_id}"
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "port_missing"
    assert issue.severity is ir.IssueSeverity.ERROR
    assert not issue.is_fixable
    assert issue.translation_placeholders == {"port": str(path), "title": entry.title}

    os.symlink(running.port, path)  # plugged back in
    await poll(hass, 60)  # the set-up retry

    assert entry.state is ConfigEntryState.LOADED
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    assert hass.states.get(ENERGY_IMPORT).state == "33821.691"


async def test_port_missing_while_running(
    hass: HomeAssistant,
    start_meter: StartMeter,
    issue_registry: ir.IssueRegistry,
    tmp_path: Path,
) -> None:
    """The probe is unplugged while polling: unavailable plus a repair; back when replugged."""
    meter = SimulatedMeter()
    first = await start_meter(meter, via="pty")
    path = tmp_path / "ttyUSB-nes"
    os.symlink(first.port, path)
    entry = make_entry(hass, first, port=str(path))
    await setup_entry(hass, entry)
    issue_id = f"port_missing_{entry.entry_id}"

    path.unlink()
    await first.sim.close()  # the device goes away with the link to it
    await poll(hass)  # fails on the open port, which is closed

    assert hass.states.get(ENERGY_IMPORT).state == STATE_UNAVAILABLE
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None

    await poll(hass)  # reopening it finds no such path
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None

    second = await start_meter(meter, via="pty")
    os.symlink(second.port, path)
    await poll(hass)

    assert hass.states.get(ENERGY_IMPORT).state == "33821.691"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_other_port_errors_raise_no_repair(
    hass: HomeAssistant,
    meter: RunningMeter,
    issue_registry: ir.IssueRegistry,
    tmp_path: Path,
) -> None:
    """Only a missing path is a repair; a path that cannot be a port is just a failed set-up."""
    entry = make_entry(hass, meter, port=str(tmp_path))  # a directory

    await setup_entry(hass, entry)

    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.error_reason_translation_key == "cannot_connect"
    assert issue_registry.async_get_issue(DOMAIN, f"port_missing_{entry.entry_id}") is None


@pytest.mark.freeze_time(tick=True)
async def test_poll_errors_are_translated(
    hass: HomeAssistant,
    meter: RunningMeter,
    freezer: TickingDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each kind of failed poll names its cause; the next good poll recovers."""
    entry = make_entry(hass, meter, options={"timeout": 0.1})
    await setup_entry(hass, entry)
    coordinator = entry.runtime_data.coordinator

    async def failed_with(translation_key: str) -> None:
        await tick(hass, freezer)
        assert not coordinator.last_update_success
        assert coordinator.last_exception.translation_key == translation_key
        assert hass.states.get(ENERGY_IMPORT).state == STATE_UNAVAILABLE
        meter.sim.faults.clear()
        await tick(hass, freezer)
        assert coordinator.last_update_success
        assert hass.states.get(ENERGY_IMPORT).state == "33821.691"

    meter.sim.faults.silence = 99
    await failed_with("timeout")

    meter.sim.faults.bad_crc = 99
    await failed_with("integrity")

    real_table = meter.meter.table
    # A meter that refuses its present-values table (BT28): a PSEM error, not a link error.
    monkeypatch.setattr(meter.meter, "table", lambda t: None if t == 28 else real_table(t))
    await tick(hass, freezer)
    assert not coordinator.last_update_success
    assert coordinator.last_exception.translation_key == "meter_error"
    monkeypatch.setattr(meter.meter, "table", real_table)
    await tick(hass, freezer)
    assert coordinator.last_update_success

    await meter.sim.close()
    await tick(hass, freezer)
    assert coordinator.last_exception.translation_key == "cannot_connect"


@pytest.mark.freeze_time(tick=True)
async def test_failed_status_read_keeps_the_poll(
    hass: HomeAssistant,
    meter: RunningMeter,
    freezer: TickingDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Alarms/tier/clock failing their checks do not fail the poll; the last ones are kept."""
    real_read_status = MeterClient.read_status
    failing = True

    async def read_status(self: MeterClient):  # type: ignore[no-untyped-def]
        if failing:
            meter.sim.faults.bad_crc = 99  # every answer of the status read is corrupt
        try:
            return await real_read_status(self)
        finally:
            meter.sim.faults.clear()

    monkeypatch.setattr(MeterClient, "read_status", read_status)
    entry = make_entry(hass, meter, options={"status_interval": 60})

    await setup_entry(hass, entry)  # the first status read fails: nothing known yet

    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.coordinator.data.status is None
    assert hass.states.get(ENERGY_IMPORT).state == "33821.691"
    assert hass.states.get("sensor.nes_83331_3i_tariff_in_force").state == "unknown"
    assert hass.states.get("binary_sensor.nes_83331_3i_power_failure").state == "unknown"

    failing = False
    await tick(hass, freezer)  # read again at the next poll, as none succeeded yet
    status = entry.runtime_data.coordinator.data.status
    assert status is not None
    assert hass.states.get("sensor.nes_83331_3i_tariff_in_force").state == "tier_1"
    assert hass.states.get("binary_sensor.nes_83331_3i_power_failure").state == "off"

    failing = True
    meter.meter.current_tier = 2
    await tick(hass, freezer, 61)  # due again, and failing: the last status stays
    assert entry.runtime_data.coordinator.last_update_success
    assert entry.runtime_data.coordinator.data.status == status
    assert hass.states.get("sensor.nes_83331_3i_tariff_in_force").state == "tier_1"

    failing = False
    await tick(hass, freezer)  # still due
    assert hass.states.get("sensor.nes_83331_3i_tariff_in_force").state == "tier_3"


async def test_first_refresh_keeps_the_translated_reason() -> None:
    """Home Assistant 2026.5's coordinator drops the failed update's translation when it raises
    ConfigEntryNotReady (later releases keep it): the entry still shows why it retries."""

    class CoordinatorOf2026_5:  # noqa: N801
        async def async_config_entry_first_refresh(self) -> None:
            cause = UpdateFailed(translation_domain=DOMAIN, translation_key="timeout")
            raise ConfigEntryNotReady from cause

    with pytest.raises(ConfigEntryNotReady) as raised:
        await first_refresh(CoordinatorOf2026_5())  # type: ignore[arg-type]
    assert raised.value.translation_domain == DOMAIN
    assert raised.value.translation_key == "timeout"
