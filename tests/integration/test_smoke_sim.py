"""Temporary smoke test: set-up against the simulator over a real socket."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.nes_echelon.const import DOMAIN
from custom_components.nes_echelon.nes_client.simulator import MeterSimulator


async def test_setup(hass: HomeAssistant, socket_enabled: None) -> None:
    sim = MeterSimulator(link="optical")
    host, port = await sim.serve_tcp()
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=sim.meter.serial_number,
        data={"port": f"socket://{host}:{port}", "link": "optical", "key": sim.meter.key.decode()},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    states = {s.entity_id: s.state for s in hass.states.async_all()}
    print(states)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    await sim.close()
