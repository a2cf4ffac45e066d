"""Config flow for the NES/Echelon Smart Meter integration (placeholder: an empty form)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigFlow, ConfigFlowResult

from .const import DOMAIN

if TYPE_CHECKING:
    # HA >= 2026.10 runs `voluptuous` as probatio (install_as_voluptuous) and types its APIs
    # with probatio; older HA (we support 2026.5+) has the real voluptuous at runtime.
    import probatio as vol
else:
    import voluptuous as vol


class NesEchelonConfigFlow(ConfigFlow, domain=DOMAIN):
    """Handle a config flow for NES/Echelon Smart Meter."""

    VERSION = 1

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show the (still empty) form."""
        return self.async_show_form(step_id="user", data_schema=vol.Schema({}))
