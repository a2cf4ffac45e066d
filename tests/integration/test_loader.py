"""Home Assistant's loader finds the custom integration and can import and set it up."""

from __future__ import annotations

from homeassistant import config_entries
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.loader import async_get_custom_components, async_get_integration
from homeassistant.setup import async_setup_component

from custom_components.nes_echelon.const import DOMAIN, NAME


async def test_loader_finds_custom_integration(hass: HomeAssistant) -> None:
    """The loader reads the manifest from custom_components/nes_echelon."""
    custom = await async_get_custom_components(hass)
    assert DOMAIN in custom

    integration = await async_get_integration(hass, DOMAIN)
    assert integration.domain == DOMAIN
    assert integration.name == NAME
    assert integration.config_flow is True
    assert not integration.is_built_in
    assert integration.pkg_path == f"custom_components.{DOMAIN}"
    assert integration.dependencies == ["usb"]
    assert integration.requirements == ["serialx>=1.7"]  # serialx 1.7.0: HA 2026.5.0
    assert str(integration.version) == integration.manifest["version"]


async def test_component_and_config_flow_import(hass: HomeAssistant) -> None:
    """The package and its config_flow platform import; the flow handler registers."""
    integration = await async_get_integration(hass, DOMAIN)
    component = await integration.async_get_component()
    assert callable(component.async_setup_entry)
    assert callable(component.async_unload_entry)

    flow_module = await integration.async_get_platform("config_flow")
    assert flow_module.__name__ == f"custom_components.{DOMAIN}.config_flow"
    handler = config_entries.HANDLERS[DOMAIN]
    assert handler.VERSION == 1


async def test_setup_component(hass: HomeAssistant) -> None:
    """async_setup_component loads the integration together with its usb dependency."""
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()
    assert DOMAIN in hass.config.components
    assert "usb" in hass.config.components


async def test_user_flow_shows_form(hass: HomeAssistant) -> None:
    """Starting the flow from the UI ('Add integration') gives the user step's form."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["handler"] == DOMAIN
