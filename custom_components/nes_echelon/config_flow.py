"""Config flow: pick the port and link, give the key, and the meter is read before saving."""

from __future__ import annotations

from collections.abc import Mapping
import logging
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.core import callback
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    SerialPortSelector,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .const import (
    CONF_KEY,
    CONF_LINK,
    CONF_PORT,
    CONF_SCAN_INTERVAL,
    CONF_STATUS_INTERVAL,
    CONF_TIMEOUT,
    DEFAULT_SCAN_INTERVAL,
    DEFAULT_STATUS_INTERVAL,
    DOMAIN,
    LINK_MEP,
    LINK_OPTICAL,
    MAX_TIMEOUT,
    MIN_SCAN_INTERVAL,
    MIN_STATUS_INTERVAL,
    MIN_TIMEOUT,
)
from .nes_client import MeterIdentity, NesError, connect, error_key, parse_key
from .nes_client.connection import redact_port

if TYPE_CHECKING:
    # HA >= 2026.10 runs `voluptuous` as probatio (install_as_voluptuous) and types its APIs
    # with probatio; older HA (we support 2026.5+) has the real voluptuous at runtime.
    import probatio as vol
else:
    import voluptuous as vol

_LOGGER = logging.getLogger(__name__)

KEY_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
LINK_SELECTOR = SelectSelector(
    SelectSelectorConfig(
        options=[LINK_OPTICAL, LINK_MEP],
        mode=SelectSelectorMode.LIST,
        translation_key=CONF_LINK,
    )
)


async def read_meter(port: str, link: str, key_text: str) -> MeterIdentity:
    """Read the meter's identity and one snapshot, as set-up will. Raises NesError."""
    client = await connect(port.strip(), link, parse_key(key_text))
    try:
        await client.read()
    finally:
        await client.close()
    assert client.identity is not None
    return client.identity


def _connection_schema(defaults: Mapping[str, Any]) -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_PORT, default=defaults.get(CONF_PORT, vol.UNDEFINED)): (
                SerialPortSelector()
            ),
            vol.Required(CONF_LINK, default=defaults.get(CONF_LINK, LINK_OPTICAL)): LINK_SELECTOR,
            vol.Required(CONF_KEY): KEY_SELECTOR,
        }
    )


class NesEchelonConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up a meter from the UI; reconfigure its port or key; re-authenticate."""

    VERSION = 1

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> NesEchelonOptionsFlow:
        return NesEchelonOptionsFlow()

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            identity = await self._read(
                user_input[CONF_PORT], user_input[CONF_LINK], user_input[CONF_KEY], errors
            )
            if identity is not None:
                await self.async_set_unique_id(identity.serial_number)
                self._abort_if_unique_id_configured()
                return self.async_create_entry(
                    title=f"{identity.model} {identity.serial_number}".strip(),
                    data=_entry_data(user_input),
                )
        return self.async_show_form(
            step_id="user",
            data_schema=_connection_schema(user_input or {}),
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            identity = await self._read(
                user_input[CONF_PORT], user_input[CONF_LINK], user_input[CONF_KEY], errors
            )
            if identity is not None:
                return await self._update_entry(entry, identity, _entry_data(user_input))
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=_connection_schema(user_input or entry.data),
            errors=errors,
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            identity = await self._read(
                entry.data[CONF_PORT], entry.data[CONF_LINK], user_input[CONF_KEY], errors
            )
            if identity is not None:
                return await self._update_entry(
                    entry, identity, {CONF_KEY: user_input[CONF_KEY].strip()}
                )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema({vol.Required(CONF_KEY): KEY_SELECTOR}),
            errors=errors,
            description_placeholders={"title": entry.title},
        )

    async def _read(
        self, port: str, link: str, key: str, errors: dict[str, str]
    ) -> MeterIdentity | None:
        """Every step's check: read the meter as set-up will; on failure, the form's error."""
        try:
            return await read_meter(port, link, key)
        except NesError as err:
            errors["base"] = error_key(err)
            _LOGGER.debug("Reading the meter on %s failed: %s", redact_port(port), err)
        except Exception:
            _LOGGER.exception("Unexpected error while reading the meter")
            errors["base"] = "unknown"
        return None

    async def _update_entry(
        self, entry: ConfigEntry, identity: MeterIdentity, data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """Reconfigure and re-authenticate keep the entry only for the same meter."""
        await self.async_set_unique_id(identity.serial_number)
        self._abort_if_unique_id_mismatch(reason="wrong_meter")
        return self.async_update_reload_and_abort(entry, data_updates=data)


class NesEchelonOptionsFlow(OptionsFlowWithReload):
    """Poll interval, status interval and response timeout; the entry reloads on save."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        if user_input is not None:
            return self.async_create_entry(data=user_input)
        schema = vol.Schema(
            {
                vol.Required(CONF_SCAN_INTERVAL, default=DEFAULT_SCAN_INTERVAL): NumberSelector(
                    NumberSelectorConfig(
                        min=MIN_SCAN_INTERVAL,
                        max=3600,
                        step=1,
                        unit_of_measurement="s",
                        mode=NumberSelectorMode.BOX,
                    )
                ),
                vol.Required(CONF_STATUS_INTERVAL, default=DEFAULT_STATUS_INTERVAL): NumberSelector(
                    NumberSelectorConfig(
                        min=MIN_STATUS_INTERVAL,
                        max=86400,
                        step=1,
                        unit_of_measurement="s",
                        mode=NumberSelectorMode.BOX,
                    )
                ),
                vol.Optional(CONF_TIMEOUT): NumberSelector(
                    NumberSelectorConfig(
                        min=MIN_TIMEOUT,
                        max=MAX_TIMEOUT,
                        step=0.1,
                        unit_of_measurement="s",
                        mode=NumberSelectorMode.BOX,
                    )
                ),
            }
        )
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(schema, self.config_entry.options),
        )


def _entry_data(user_input: Mapping[str, Any]) -> dict[str, Any]:
    return {
        CONF_PORT: user_input[CONF_PORT].strip(),
        CONF_LINK: user_input[CONF_LINK],
        CONF_KEY: user_input[CONF_KEY].strip(),
    }
