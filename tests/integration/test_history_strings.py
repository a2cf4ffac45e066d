"""The history feature's strings: every translation key history/ and services.py use exists,
services.yaml and the translations describe the same fields, and without a recorder the action
says so (this folder runs without one; tests/integration/history has the recorder tests)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import translation
import pytest
import yaml

from custom_components.nes_echelon.const import DOMAIN

from .conftest import StartMeter, make_entry, setup_entry

INTEGRATION_DIR = Path(__file__).resolve().parents[2] / "custom_components" / DOMAIN


def _en() -> dict:
    return json.loads((INTEGRATION_DIR / "translations" / "en.json").read_text(encoding="utf-8"))


def _keys_in(module: str) -> tuple[set[str], set[str]]:
    """(exception keys, issue keys) a module or package uses: translation_key=... and
    validation_error("...")."""
    path = INTEGRATION_DIR / module
    files = sorted(path.glob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
    assert files, module
    exceptions: set[str] = set()
    issues: set[str] = set()
    for node in (n for file in files for n in ast.walk(ast.parse(file.read_text("utf-8")))):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Name) and node.func.id == "validation_error" and node.args:
            assert isinstance(node.args[0], ast.Constant)
            exceptions.add(node.args[0].value)
        for keyword in node.keywords:
            if keyword.arg == "translation_key" and isinstance(keyword.value, ast.Constant):
                is_issue = isinstance(node.func, ast.Attribute) and (
                    node.func.attr == "async_create_issue"
                )
                (issues if is_issue else exceptions).add(keyword.value.value)
    return exceptions, issues


def test_history_keys_are_translated() -> None:
    en = _en()
    exceptions, issues = _keys_in("history")
    more, none = _keys_in("services")
    assert not none
    exceptions |= more
    assert exceptions == {
        "entry_not_found",
        "entry_not_loaded",
        "history_invalid_range",
        "history_in_future",
        "history_no_recorder",
        "history_no_profile",
        "history_no_energy_channel",
        "history_before_profile",
        "history_unavailable",
    }
    # No repair issues: a gap the profile cannot fill is logged; there is nothing to repair.
    assert issues == set()
    assert exceptions <= set(en["exceptions"])
    assert not {key for key in en["issues"] if key.startswith("history")}


def test_services_yaml_matches_the_translations() -> None:
    services = yaml.safe_load((INTEGRATION_DIR / "services.yaml").read_text(encoding="utf-8"))
    translated = _en()["services"]
    assert set(services) == set(translated) == {"import_history"}
    for name, service in services.items():
        assert set(service["fields"]) == set(translated[name]["fields"])
        assert translated[name]["name"].strip()
        assert translated[name]["description"].strip()


async def test_home_assistant_loads_the_service_strings(hass: HomeAssistant) -> None:
    for language in ("en", "da", "de"):
        strings = await translation.async_get_translations(hass, language, "services", {DOMAIN})
        assert strings[f"component.{DOMAIN}.services.import_history.name"]


async def test_import_without_a_recorder(hass: HomeAssistant, start_meter: StartMeter) -> None:
    running = await start_meter(link="mep")
    entry = make_entry(hass, running)
    await setup_entry(hass, entry)
    assert hass.services.has_service(DOMAIN, "import_history")
    with pytest.raises(ServiceValidationError) as caught:
        await hass.services.async_call(
            DOMAIN,
            "import_history",
            {
                "config_entry_id": entry.entry_id,
                "start": "2020-01-01T00:00:00+00:00",
                "end": "2020-01-02T00:00:00+00:00",
            },
            blocking=True,
        )
    assert caught.value.translation_key == "history_no_recorder"
    assert "recorder" in str(caught.value)
