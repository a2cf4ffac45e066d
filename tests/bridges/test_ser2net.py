"""Home Assistant reads the meter through ser2net: raw TCP (socket://) and RFC 2217 (rfc2217://).

The README promises both; here they run against the real ser2net in front of the simulator's
pty, through the integration as a user sets it up. Each test checks the sensors against the
simulator, breaks one side of the bridge, and checks that the next poll after the repair
shows the meter's values again while the entry stays loaded throughout.
"""

from __future__ import annotations

import logging
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.helpers.update_coordinator import UpdateFailed
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.nes_echelon.const import CONF_KEY, CONF_LINK, CONF_PORT, CONF_TIMEOUT, DOMAIN
from nes_echelon_dev.simulator import Faults, SimulatedMeter
from tests.integration.conftest import Link, RunningMeter, StartMeter, poll, setup_entry, state_of
from tests.integration.test_sensor import assert_values
from tests.nes_client.test_security import assert_no_key, logged

from .conftest import Scheme, Ser2Net

pytestmark = pytest.mark.usefixtures("enable_custom_integrations")  # finds nes_echelon

# 0xFF is telnet's IAC: in RFC 2217 data both ends double it, and a missed one turns what
# follows (here DONT, DO, WILL, SB, SE) into a command. CR before NUL or LF is what a telnet in
# text mode rewrites. A key made of them puts them on the wire in the optical Security frame
# (MEP only signs with its key; its digests and sequence numbers carry 0xFF now and then).
IAC_KEY = bytes.fromhex("ff ff 0d 00 ff 0d 0a ff fe ff fd ff fb ff fa ff f0 41 42 ff")
ENERGY_IMPORT = "energy_import"
FIRST_IMPORT = 33_821.691  # kWh, the simulated meter's register
HOUR_IMPORT = 1.07  # kWh: its 1070 W imported for an hour


def add_entry(
    hass: HomeAssistant, running: RunningMeter, port: str, **options: Any
) -> MockConfigEntry:
    """A config entry reaching the meter through the bridge; the key as its 40 hex digits."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=f"{running.meter.model} {running.meter.serial_number}",
        unique_id=running.meter.serial_number,
        data={CONF_PORT: port, CONF_LINK: running.link, CONF_KEY: running.meter.key.hex()},
        options=options,
    )
    entry.add_to_hass(hass)
    return entry


async def bridged_meter(
    start_meter: StartMeter,
    bridge: Ser2Net,
    link: Link,
    meter: SimulatedMeter | None = None,
    faults: Faults | None = None,
) -> RunningMeter:
    """A simulator on a pty, plugged into the bridge (started if it is not running)."""
    meter = meter or SimulatedMeter(key=IAC_KEY)
    running = await start_meter(meter, link=link, via="pty", faults=faults)
    bridge.plug(running.port)
    if not bridge.alive:
        await bridge.start()
    return running


def failure_key(entry: MockConfigEntry) -> str | None:
    """The translation key of the error the last poll failed with."""
    error = entry.runtime_data.coordinator.last_exception
    assert isinstance(error, UpdateFailed), error
    return error.translation_key


def our_issues(issue_registry: ir.IssueRegistry) -> list[str]:
    return [issue_id for domain, issue_id in issue_registry.issues if domain == DOMAIN]


def assert_unavailable(hass: HomeAssistant, entity_registry: er.EntityRegistry) -> None:
    assert state_of(hass, entity_registry, ENERGY_IMPORT) == STATE_UNAVAILABLE
    assert state_of(hass, entity_registry, "power") == STATE_UNAVAILABLE


def assert_meter_values(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, running: RunningMeter, kwh: float
) -> None:
    """The sensors show the simulator's values now, energy import at `kwh`."""
    assert float(state_of(hass, entity_registry, ENERGY_IMPORT)) == pytest.approx(kwh)
    assert_values(hass, entity_registry, running.meter)
    assert running.failed_logons == 0  # the key crossed the bridge intact


@pytest.mark.parametrize("link", ["optical", "mep"])
@pytest.mark.parametrize("scheme", ["socket", "rfc2217"])
async def test_sensors_through_the_bridge(
    hass: HomeAssistant,
    bridge: Ser2Net,
    start_meter: StartMeter,
    entity_registry: er.EntityRegistry,
    scheme: Scheme,
    link: Link,
) -> None:
    """Set up on the bridge's URL: every sensor shows the meter's value, poll after poll."""
    running = await bridged_meter(start_meter, bridge, link)
    entry = add_entry(hass, running, bridge.url(scheme))
    await setup_entry(hass, entry)

    assert entry.state is ConfigEntryState.LOADED
    assert_meter_values(hass, entity_registry, running, FIRST_IMPORT)

    running.meter.advance(3600)
    await poll(hass)
    assert_meter_values(hass, entity_registry, running, FIRST_IMPORT + HOUR_IMPORT)


@pytest.mark.parametrize(("scheme", "link"), [("socket", "optical"), ("rfc2217", "mep")])
async def test_bridge_restart(
    hass: HomeAssistant,
    bridge: Ser2Net,
    start_meter: StartMeter,
    entity_registry: er.EntityRegistry,
    issue_registry: ir.IssueRegistry,
    scheme: Scheme,
    link: Link,
) -> None:
    """ser2net dies: unavailable, the entry stays loaded; it is back on its ports: values."""
    running = await bridged_meter(start_meter, bridge, link)
    entry = add_entry(hass, running, bridge.url(scheme))
    await setup_entry(hass, entry)
    assert_meter_values(hass, entity_registry, running, FIRST_IMPORT)

    await bridge.stop()
    await poll(hass)  # the open connection is gone
    assert_unavailable(hass, entity_registry)
    assert failure_key(entry) == "cannot_connect"
    await poll(hass)  # and a new one is refused
    assert_unavailable(hass, entity_registry)
    assert failure_key(entry) == "cannot_connect"
    assert entry.state is ConfigEntryState.LOADED
    assert not our_issues(issue_registry)  # a bridge being down is no repair for the user

    running.meter.advance(3600)
    await bridge.start()  # the same ports, the same config
    await poll(hass)
    assert_meter_values(hass, entity_registry, running, FIRST_IMPORT + HOUR_IMPORT)


@pytest.mark.parametrize(("scheme", "link"), [("socket", "mep"), ("rfc2217", "optical")])
async def test_line_unplugged(
    hass: HomeAssistant,
    bridge: Ser2Net,
    start_meter: StartMeter,
    entity_registry: er.EntityRegistry,
    issue_registry: ir.IssueRegistry,
    scheme: Scheme,
    link: Link,
) -> None:
    """The serial side goes (the adapter is unplugged from the bridge), ser2net runs on:
    unavailable; plugged in again: values, through the same ser2net."""
    meter = SimulatedMeter(key=IAC_KEY)
    first = await bridged_meter(start_meter, bridge, link, meter)
    entry = add_entry(hass, first, bridge.url(scheme))
    await setup_entry(hass, entry)
    assert_meter_values(hass, entity_registry, first, FIRST_IMPORT)

    bridge.unplug()
    await first.sim.close()  # the pty ser2net has open hangs up
    await poll(hass)  # ser2net drops the connection
    assert_unavailable(hass, entity_registry)
    await poll(hass)  # ser2net accepts, cannot open the device, and hangs up
    assert_unavailable(hass, entity_registry)
    assert failure_key(entry) == "cannot_connect"
    assert entry.state is ConfigEntryState.LOADED
    assert bridge.listening()  # the bridge itself never went away
    assert not our_issues(issue_registry)

    meter.advance(3600)
    second = await bridged_meter(start_meter, bridge, link, meter)
    await poll(hass)
    assert_meter_values(hass, entity_registry, second, FIRST_IMPORT + HOUR_IMPORT)


@pytest.mark.parametrize(("scheme", "link"), [("socket", "optical"), ("rfc2217", "mep")])
async def test_meter_falls_silent(
    hass: HomeAssistant,
    bridge: Ser2Net,
    start_meter: StartMeter,
    entity_registry: er.EntityRegistry,
    scheme: Scheme,
    link: Link,
) -> None:
    """The line stays up but the meter stops answering (a probe slid off its eye):
    unavailable, as a timeout; it answers again: values."""
    running = await bridged_meter(start_meter, bridge, link)
    # 1 s per attempt instead of the optical default 2 s: the silent poll takes 3 s, not 6 s.
    entry = add_entry(hass, running, bridge.url(scheme), **{CONF_TIMEOUT: 1.0})
    await setup_entry(hass, entry)
    assert_meter_values(hass, entity_registry, running, FIRST_IMPORT)

    running.sim.faults.silence = 1_000_000  # every request from now on goes unanswered
    await poll(hass)
    assert_unavailable(hass, entity_registry)
    assert failure_key(entry) == "timeout"
    assert entry.state is ConfigEntryState.LOADED
    assert bridge.listening()

    running.sim.faults.clear()
    running.meter.advance(3600)
    await poll(hass)
    assert_meter_values(hass, entity_registry, running, FIRST_IMPORT + HOUR_IMPORT)


@pytest.mark.parametrize("scheme", ["socket", "rfc2217"])
async def test_key_never_logged_through_the_bridge(
    hass: HomeAssistant,
    bridge: Ser2Net,
    start_meter: StartMeter,
    entity_registry: er.EntityRegistry,
    caplog: pytest.LogCaptureFixture,
    scheme: Scheme,
) -> None:
    """An echoing IR head sends the Security frame back, key and all, over the bridge. At
    debug level neither our log nor the serial library's shows the key: not as it was sent,
    nor as RFC 2217 carries it (0xFF doubled), which serialx logs as it arrives."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="custom_components.nes_echelon")
    running = await bridged_meter(start_meter, bridge, "optical", faults=Faults(echo=True))
    entry = add_entry(hass, running, bridge.url(scheme))
    await setup_entry(hass, entry)
    assert_meter_values(hass, entity_registry, running, FIRST_IMPORT)  # the echo was dropped

    text = logged(caplog)
    if scheme == "rfc2217":
        assert "RX raw" in text  # serialx logged what came off the wire
    assert_no_key(text, IAC_KEY)
    assert_no_key(text, IAC_KEY.replace(b"\xff", b"\xff\xff"))
