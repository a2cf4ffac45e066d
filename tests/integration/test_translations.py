"""Translations, icons and the quality-scale checklist agree with each other and with the code.

en.json is the source of truth. Every other language must have exactly its key paths and the
same ``{placeholders}`` in every string; every translation key the code uses (entity names,
form errors, exceptions, repair issues) must exist; icons.json may only name translation keys
that exist; quality_scale.yaml must list every rule of the Integration Quality Scale.

Each check is a helper that returns a list of problems; the "checks can fail" tests feed the
helpers broken data to show that they do report problems.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
import copy
import json
from pathlib import Path
import re
from types import SimpleNamespace
from typing import Any, cast

from homeassistant.core import HomeAssistant
from homeassistant.helpers import icon as ha_icon, translation
import pytest
import yaml

from custom_components.nes_echelon.binary_sensor import ALARMS
from custom_components.nes_echelon.config_flow import _connection_schema
from custom_components.nes_echelon.const import (
    CONF_SCAN_INTERVAL,
    CONF_STATUS_INTERVAL,
    CONF_TIMEOUT,
    DOMAIN,
    LINK_MEP,
    LINK_OPTICAL,
)
from custom_components.nes_echelon.nes_client.errors import ERROR_KEYS
from custom_components.nes_echelon.sensor import SENSORS, TARIFF_SENSOR, tier_sensors
from tests.integration.files import load_json_object

REPO = Path(__file__).resolve().parents[2]
INTEGRATION_DIR = REPO / "custom_components" / DOMAIN
TRANSLATIONS_DIR = INTEGRATION_DIR / "translations"
LANGUAGES = ("da", "de")

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")

TIER_TRANSLATION_KEYS = {"tier_energy_import", "tier_energy_export"}

# Form errors the config flow can show (config_flow.read_meter).
# Every failure has one key (nes_client's ERROR_KEYS), shown by the flow's forms and by the
# entry's errors alike; the forms also have "unknown" for an unexpected exception.
FAILURE_KEYS = {key for _, key in ERROR_KEYS}
FLOW_ERRORS = FAILURE_KEYS | {"unknown"}
# Abort reasons: HA's own for unique id / reauth / reconfigure, and ours for a swapped meter.
FLOW_ABORTS = {"already_configured", "reauth_successful", "reconfigure_successful", "wrong_meter"}
# translation_key of the exceptions coordinator.py raises.
EXCEPTIONS = FAILURE_KEYS | {"wrong_meter"}
# translation_key of the repair issues coordinator.py creates.
ISSUES = {"port_missing", "clock_drift", "key_expiration"}

# Integration Quality Scale rules, Bronze to Platinum (developer docs tiers.json, Aug 2026, and
# hassfest ALL_RULES; restated in the project's research notes ha-2026.md §1).
QUALITY_SCALE_RULES = {
    "bronze": (
        "action-setup",
        "appropriate-polling",
        "brands",
        "common-modules",
        "config-flow",
        "config-flow-test-coverage",
        "dependency-transparency",
        "docs-actions",
        "docs-triggers",
        "docs-conditions",
        "docs-high-level-description",
        "docs-installation-instructions",
        "docs-removal-instructions",
        "entity-event-setup",
        "entity-unique-id",
        "has-entity-name",
        "runtime-data",
        "test-before-configure",
        "test-before-setup",
        "unique-config-entry",
    ),
    "silver": (
        "action-exceptions",
        "config-entry-unloading",
        "docs-configuration-parameters",
        "docs-installation-parameters",
        "entity-unavailable",
        "integration-owner",
        "log-when-unavailable",
        "parallel-updates",
        "reauthentication-flow",
        "test-coverage",
    ),
    "gold": (
        "devices",
        "diagnostics",
        "discovery",
        "discovery-update-info",
        "docs-data-update",
        "docs-examples",
        "docs-known-limitations",
        "docs-supported-devices",
        "docs-supported-functions",
        "docs-troubleshooting",
        "docs-use-cases",
        "dynamic-devices",
        "entity-category",
        "entity-device-class",
        "entity-disabled-by-default",
        "entity-translations",
        "exception-translations",
        "icon-translations",
        "reconfiguration-flow",
        "repair-issues",
        "stale-devices",
    ),
    "platinum": ("async-dependency", "inject-websession", "strict-typing"),
}
ALL_RULES = {rule for rules in QUALITY_SCALE_RULES.values() for rule in rules}
STATUSES = {"done", "todo", "exempt"}


# -- helpers --------------------------------------------------------------------------------


def _translations(language: str) -> dict[str, Any]:
    return load_json_object(TRANSLATIONS_DIR / f"{language}.json")


def _leaves(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Every leaf of a translation tree by its dotted key path."""
    leaves: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            leaves |= _leaves(value, f"{path}.")
        else:
            leaves[path] = value
    return leaves


def _placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def key_problems(source: Mapping[str, Any], other: Mapping[str, Any]) -> list[str]:
    """Key paths missing from, or extra in, a translation; leaves that are not text."""
    source_paths, other_paths = set(_leaves(source)), set(_leaves(other))
    problems = [f"missing: {path}" for path in sorted(source_paths - other_paths)]
    problems += [f"extra: {path}" for path in sorted(other_paths - source_paths)]
    problems += [
        f"not a non-empty string: {path}"
        for path, value in _leaves(other).items()
        if not isinstance(value, str) or not value.strip()
    ]
    return problems


def placeholder_problems(source: Mapping[str, Any], other: Mapping[str, Any]) -> list[str]:
    """Strings whose {placeholders} differ between the source and a translation."""
    other_leaves = _leaves(other)
    problems = []
    for path, text in _leaves(source).items():
        translated = other_leaves.get(path)
        if not isinstance(text, str) or not isinstance(translated, str):
            continue
        if (expected := _placeholders(text)) != (found := _placeholders(translated)):
            problems.append(f"{path}: expected {sorted(expected)}, found {sorted(found)}")
    return problems


def missing_keys(section: Mapping[str, Any], keys: Iterable[str], where: str) -> list[str]:
    return [f"{where}.{key}" for key in sorted(keys) if key not in section]


def icon_problems(icons: Mapping[str, Any], en: Mapping[str, Any]) -> list[str]:
    """icons.json entries whose translation key (or state) does not exist, or no mdi icon."""
    problems = [f"unexpected section: {key}" for key in icons if key not in ("entity", "services")]
    for service, icon in icons.get("services", {}).items():
        if service not in en.get("services", {}):
            problems.append(f"services.{service}: no such action")
        if not str(icon.get("service", "")).startswith("mdi:"):
            problems.append(f"services.{service}: no mdi icon")
    for platform, entries in icons.get("entity", {}).items():
        names = en.get("entity", {}).get(platform, {})
        for key, icon in entries.items():
            where = f"entity.{platform}.{key}"
            if key not in names:
                problems.append(f"{where}: no such translation key")
                continue
            if not set(icon) <= {"default", "state", "range"}:
                problems.append(f"{where}: unexpected keys {sorted(set(icon))}")
            if not str(icon.get("default", "")).startswith("mdi:"):
                problems.append(f"{where}: no mdi default icon")
            states = icon.get("state", {})
            valid = set(names[key].get("state", {}))
            if platform == "binary_sensor":
                valid = {"on", "off"}
            problems += [f"{where}.state.{state}: no such state" for state in set(states) - valid]
            problems += [
                f"{where}.state.{state}: not an mdi icon"
                for state, name in states.items()
                if not str(name).startswith("mdi:")
            ]
    return problems


def _icon_names(icons: Mapping[str, Any]) -> set[str]:
    names = {icon["service"] for icon in icons.get("services", {}).values()}
    for entries in icons.get("entity", {}).values():
        for icon in entries.values():
            names.add(icon["default"])
            names.update(icon.get("state", {}).values())
            names.update(icon.get("range", {}).values())
    return names


def quality_scale_problems(data: Any) -> list[str]:
    """Rules missing, unknown, or with an invalid status; exemptions without a reason."""
    if not isinstance(data, dict) or not isinstance(data.get("rules"), dict):
        return ["no `rules:` mapping"]
    rules: dict[str, Any] = data["rules"]
    problems = [f"missing rule: {rule}" for rule in sorted(ALL_RULES - set(rules))]
    problems += [f"unknown rule: {rule}" for rule in sorted(set(rules) - ALL_RULES)]
    for rule, value in rules.items():
        if isinstance(value, str):
            status, comment = value, None
        elif isinstance(value, dict) and set(value) <= {"status", "comment"}:
            status, comment = value.get("status"), value.get("comment")
        else:
            problems.append(f"{rule}: neither a status nor {{status, comment}}: {value!r}")
            continue
        if status not in STATUSES:
            problems.append(f"{rule}: invalid status {status!r}")
        if comment is not None and (not isinstance(comment, str) or not comment.strip()):
            problems.append(f"{rule}: empty comment")
        if status == "exempt" and comment is None:
            problems.append(f"{rule}: exempt without a comment")
    return problems


def _source_tree(module: str) -> ast.Module:
    return ast.parse((INTEGRATION_DIR / f"{module}.py").read_text(encoding="utf-8"))


def _coordinator_keys_in_source() -> tuple[set[str], set[str]]:
    """(exception keys, issue keys) that coordinator.py uses as translation_key."""
    exceptions: set[str] = set()
    issues: set[str] = set()
    for node in ast.walk(_source_tree("coordinator")):
        if not isinstance(node, ast.Call):
            continue
        for keyword in node.keywords:
            if keyword.arg == "translation_key" and isinstance(keyword.value, ast.Constant):
                is_issue = isinstance(node.func, ast.Attribute) and (
                    node.func.attr == "async_create_issue"
                )
                (issues if is_issue else exceptions).add(keyword.value.value)
    return exceptions, issues


def _sensor_translation_keys() -> dict[str, set[str]]:
    """translation_key -> the placeholders its entities pass (tier sensors pass {tier})."""
    two_tiers = SimpleNamespace(
        snapshot=SimpleNamespace(tiers=(SimpleNamespace(import_wh=1, export_wh=0),) * 2)
    )
    identity = SimpleNamespace(tiers=2)
    descriptions = [
        *SENSORS,
        TARIFF_SENSOR,
        *tier_sensors(cast(Any, identity), cast(Any, two_tiers)),
    ]
    keys: dict[str, set[str]] = {}
    for description in descriptions:
        assert description.translation_key, f"{description.key} has no translation_key"
        keys[description.translation_key] = set(description.translation_placeholders or {})
    return keys


# -- translations ---------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_translation_has_exactly_the_english_keys(language: str) -> None:
    assert key_problems(_translations("en"), _translations(language)) == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_translation_keeps_every_placeholder(language: str) -> None:
    assert placeholder_problems(_translations("en"), _translations(language)) == []


def test_english_strings_are_text() -> None:
    en = _translations("en")
    assert key_problems(en, en) == []


def test_every_entity_has_a_translated_name() -> None:
    en = _translations("en")
    sensor_names = en["entity"]["sensor"]
    sensor_keys = _sensor_translation_keys()
    assert set(sensor_keys) >= TIER_TRANSLATION_KEYS
    assert missing_keys(sensor_names, sensor_keys, "entity.sensor") == []
    # No orphans: every name in en.json belongs to an entity the code creates.
    assert set(sensor_names) == set(sensor_keys)
    for key, placeholders in sensor_keys.items():
        assert _placeholders(sensor_names[key]["name"]) == placeholders, key

    alarm_names = en["entity"]["binary_sensor"]
    alarm_keys = {alarm.translation_key for alarm in ALARMS}
    assert None not in alarm_keys
    assert missing_keys(alarm_names, cast(set[str], alarm_keys), "entity.binary_sensor") == []
    assert set(alarm_names) == alarm_keys


def test_every_tariff_state_is_translated() -> None:
    states = _translations("en")["entity"]["sensor"][TARIFF_SENSOR.translation_key]["state"]
    assert TARIFF_SENSOR.options
    assert set(states) == set(TARIFF_SENSOR.options)


def test_config_flow_strings_exist() -> None:
    config = _translations("en")["config"]
    assert missing_keys(config["error"], FLOW_ERRORS, "config.error") == []
    assert missing_keys(config["abort"], FLOW_ABORTS, "config.abort") == []

    connection_fields = {str(key) for key in _connection_schema({}).schema}
    for step in ("user", "reconfigure"):
        for part in ("data", "data_description"):
            section = config["step"][step][part]
            assert set(section) == connection_fields, f"config.step.{step}.{part}"
    for part in ("data", "data_description"):
        assert set(config["step"]["reauth_confirm"][part]) == {"key"}

    options = _translations("en")["options"]["step"]["init"]
    option_fields = {CONF_SCAN_INTERVAL, CONF_STATUS_INTERVAL, CONF_TIMEOUT}
    assert set(options["data"]) == option_fields
    assert set(options["data_description"]) == option_fields

    links = _translations("en")["selector"]["link"]["options"]
    assert set(links) == {LINK_OPTICAL, LINK_MEP}


def test_exception_and_issue_strings_exist() -> None:
    en = _translations("en")
    exceptions_in_source, issues_in_source = _coordinator_keys_in_source()
    assert exceptions_in_source <= EXCEPTIONS, "coordinator.py raises a key this test misses"
    assert issues_in_source == ISSUES, "coordinator.py's repair issues changed"
    assert missing_keys(en["exceptions"], EXCEPTIONS, "exceptions") == []
    for key in EXCEPTIONS:
        assert en["exceptions"][key]["message"].strip(), key
    assert missing_keys(en["issues"], ISSUES, "issues") == []
    for key in ISSUES:
        assert {"title", "description"} <= set(en["issues"][key]), key


# -- icons ----------------------------------------------------------------------------------


def test_icons_refer_to_existing_translation_keys() -> None:
    icons = load_json_object(INTEGRATION_DIR / "icons.json")
    assert icon_problems(icons, _translations("en")) == []


def test_icons_exist_in_material_design_icons() -> None:
    """Checked against the icon list the installed Home Assistant frontend ships."""
    hass_frontend = pytest.importorskip("hass_frontend")
    icon_list = Path(hass_frontend.where()) / "static" / "mdi" / "iconList.json"
    if not icon_list.is_file():
        pytest.skip("this frontend build ships no mdi/iconList.json")
    known = {f"mdi:{icon['name']}" for icon in json.loads(icon_list.read_text(encoding="utf-8"))}
    icons = load_json_object(INTEGRATION_DIR / "icons.json")
    assert sorted(_icon_names(icons) - known) == []


# -- quality scale --------------------------------------------------------------------------


def test_quality_scale_lists_every_rule() -> None:
    data = yaml.safe_load((INTEGRATION_DIR / "quality_scale.yaml").read_text(encoding="utf-8"))
    assert quality_scale_problems(data) == []


def test_quality_scale_rule_list_is_complete() -> None:
    assert len(ALL_RULES) == sum(len(rules) for rules in QUALITY_SCALE_RULES.values()) == 54


# -- the checks can fail --------------------------------------------------------------------


def test_checks_report_broken_translations() -> None:
    en = _translations("en")
    broken = copy.deepcopy(_translations("da"))
    del broken["config"]["error"]["timeout"]
    broken["entity"]["sensor"]["extra_key"] = {"name": "x"}
    broken["issues"]["port_missing"]["description"] = "Porten {porten} er væk."
    broken["exceptions"]["timeout"]["message"] = ""
    assert key_problems(en, broken) == [
        "missing: config.error.timeout",
        "extra: entity.sensor.extra_key.name",
        "not a non-empty string: exceptions.timeout.message",
    ]
    assert placeholder_problems(en, broken) == [
        "exceptions.timeout.message: expected ['error'], found []",
        "issues.port_missing.description: expected ['port'], found ['porten']",
    ]
    assert missing_keys(en["config"]["error"], {"timeout", "no_such_error"}, "config.error") == [
        "config.error.no_such_error"
    ]


def test_checks_report_broken_icons() -> None:
    en = _translations("en")
    icons = copy.deepcopy(load_json_object(INTEGRATION_DIR / "icons.json"))
    icons["entity"]["sensor"]["no_such_sensor"] = {"default": "mdi:flash"}
    icons["entity"]["binary_sensor"]["cover_removed"]["state"]["open"] = "mdi:lock-open"
    icons["entity"]["sensor"]["tier"]["default"] = "cash-clock"
    assert sorted(icon_problems(icons, en)) == [
        "entity.binary_sensor.cover_removed.state.open: no such state",
        "entity.sensor.no_such_sensor: no such translation key",
        "entity.sensor.tier: no mdi default icon",
    ]


def test_checks_report_broken_quality_scale() -> None:
    data = yaml.safe_load((INTEGRATION_DIR / "quality_scale.yaml").read_text(encoding="utf-8"))
    rules = data["rules"]
    del rules["brands"]
    rules["made-up-rule"] = "done"
    rules["discovery"] = {"status": "exempt"}
    rules["devices"] = "finished"
    assert sorted(quality_scale_problems(data)) == [
        "devices: invalid status 'finished'",
        "discovery: exempt without a comment",
        "missing rule: brands",
        "unknown rule: made-up-rule",
    ]
    assert quality_scale_problems({"rules": []}) == ["no `rules:` mapping"]


# -- Home Assistant reads them --------------------------------------------------------------


async def test_home_assistant_loads_translations_and_icons(hass: HomeAssistant) -> None:
    """HA's own loaders find the files where it looks for them."""
    expected = {"en": "Tier 1", "da": "Tarif 1", "de": "Tarif 1"}
    for language, tier_1 in expected.items():
        strings = await translation.async_get_translations(hass, language, "entity", {DOMAIN})
        assert strings[f"component.{DOMAIN}.entity.sensor.tier.state.tier_1"] == tier_1
    icons = await ha_icon.async_get_icons(hass, "entity", {DOMAIN})
    assert icons[DOMAIN]["sensor"]["tier"]["default"] == "mdi:cash-clock"
