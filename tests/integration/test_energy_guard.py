"""The energy guard across reloads and restarts: the last published values are kept, so a
lower first reading after Home Assistant comes back is a drop like any other (unknown until
confirmed), not a new start that the Energy dashboard would book as a huge spike."""

from __future__ import annotations

from typing import Any

from homeassistant.const import STATE_UNKNOWN
from homeassistant.core import HomeAssistant

from custom_components.nes_echelon.coordinator import ENERGY_SAVE_DELAY

from .conftest import RunningMeter, make_entry, poll, setup_entry

ENERGY_IMPORT = "sensor.nes_83331_3i_energy_import"


def state(hass: HomeAssistant) -> str:
    current = hass.states.get(ENERGY_IMPORT)
    assert current is not None
    return current.state


def kwh(running: RunningMeter) -> str:
    return str(running.meter.registers(0)[0] / 1000)


async def test_a_lower_reading_after_a_reload_is_not_published(
    hass: HomeAssistant, meter: RunningMeter, hass_storage: dict[str, Any]
) -> None:
    entry = make_entry(hass, meter)
    await setup_entry(hass, entry)
    assert state(hass) == kwh(meter)
    published = float(kwh(meter))

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    stored = hass_storage[f"nes_echelon.energy.{entry.entry_id}"]["data"]
    assert stored["energy_import"] == published

    saved = [block[:] for block in meter.meter.energy]
    meter.meter.energy[0][0] -= 7_000  # the first reading after the restart is 7 kWh low
    await setup_entry(hass, entry)
    assert state(hass) == STATE_UNKNOWN  # not 33814.691, a drop the statistics would book

    meter.meter.energy = saved
    await poll(hass)
    assert state(hass) == kwh(meter)


async def test_a_reset_while_home_assistant_was_down_is_published(
    hass: HomeAssistant, meter: RunningMeter
) -> None:
    """Registers cleared during the downtime and counting up since: the third such reading
    is published (a new cycle), as it would have been without the restart."""
    entry = make_entry(hass, meter)
    await setup_entry(hass, entry)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert state(hass) == kwh(meter)

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    meter.meter.reset_counters()
    meter.meter.advance(60)
    await setup_entry(hass, entry)
    assert state(hass) == STATE_UNKNOWN
    for expected in (STATE_UNKNOWN, None):
        meter.meter.advance(10)
        await poll(hass)
        assert state(hass) == (expected or kwh(meter))


async def test_the_values_are_saved_while_polling_and_forgotten_with_the_entry(
    hass: HomeAssistant, meter: RunningMeter, hass_storage: dict[str, Any]
) -> None:
    entry = make_entry(hass, meter)
    await setup_entry(hass, entry)
    key = f"nes_echelon.energy.{entry.entry_id}"
    meter.meter.advance(3600)
    await poll(hass, ENERGY_SAVE_DELAY + 1)  # the delayed save falls due with the next poll
    await poll(hass, ENERGY_SAVE_DELAY + 12)
    assert hass_storage[key]["data"]["energy_import"] == float(kwh(meter))

    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert key not in hass_storage
