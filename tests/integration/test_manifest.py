"""The packaging files satisfy hassfest (custom-integration schema) and HACS.

The rules are restated from hassfest's ``script/hassfest/manifest.py`` and HACS'
``custom_components/hacs/utils/validate.py`` (neither ships with the homeassistant wheel), so a
mistake in manifest.json, hacs.json or the brand images fails here rather than in CI actions.
"""

from __future__ import annotations

import ast
from importlib import metadata
from pathlib import Path
import struct
import tomllib
from typing import Any, get_args, get_type_hints
from urllib.parse import urlparse

from awesomeversion import AwesomeVersion, AwesomeVersionStrategy
import homeassistant
from homeassistant import const as ha_const
from homeassistant.generated.countries import COUNTRIES
from homeassistant.loader import Manifest
from packaging.requirements import Requirement
import pytest

from custom_components.nes_echelon.const import DOMAIN, NAME
from tests.integration.files import load_json_object

REPO = Path(__file__).resolve().parents[2]
INTEGRATION_DIR = REPO / "custom_components" / DOMAIN
BRAND_DIR = INTEGRATION_DIR / "brand"

# hassfest CUSTOM_INTEGRATION_MANIFEST_SCHEMA: every key it accepts (it rejects any other key).
HASSFEST_CUSTOM_KEYS = {
    "domain",
    "name",
    "integration_type",
    "config_flow",
    "mqtt",
    "zeroconf",
    "ssdp",
    "bluetooth",
    "homekit",
    "dhcp",
    "usb",
    "documentation",
    "quality_scale",
    "requirements",
    "dependencies",
    "after_dependencies",
    "codeowners",
    "loggers",
    "disabled",
    "iot_class",
    "single_config_entry",
    "preview_features",
    "version",
    "issue_tracker",
    "import_executor",
}
# hassfest SUPPORTED_IOT_CLASSES
IOT_CLASSES = {
    "assumed_state",
    "calculated",
    "cloud_polling",
    "cloud_push",
    "local_polling",
    "local_push",
}
# hassfest verify_version
VERSION_STRATEGIES = [
    AwesomeVersionStrategy.CALVER,
    AwesomeVersionStrategy.SEMVER,
    AwesomeVersionStrategy.SIMPLEVER,
    AwesomeVersionStrategy.BUILDVER,
    AwesomeVersionStrategy.PEP440,
]
# HACS_MANIFEST_JSON_SCHEMA (extra keys are rejected; only "name" is required)
HACS_KEYS = {
    "content_in_root",
    "country",
    "filename",
    "hacs",
    "hide_default_branch",
    "homeassistant",
    "persistent_directory",
    "render_readme",
    "zip_release",
    "name",
}
# Home Assistant brand images a custom integration may ship in brand/ (HA 2026.3+).
BRAND_FILES = {
    f"{variant}{name}{suffix}.png"
    for variant in ("", "dark_")
    for name in ("icon", "logo")
    for suffix in ("", "@2x")
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(name="manifest")
def manifest_fixture() -> dict[str, Any]:
    """The integration's manifest.json."""
    manifest: dict[str, Any] = load_json_object(INTEGRATION_DIR / "manifest.json")
    return manifest


@pytest.fixture(name="hacs")
def hacs_fixture() -> dict[str, Any]:
    """The repository's hacs.json."""
    hacs: dict[str, Any] = load_json_object(REPO / "hacs.json")
    return hacs


def _png_header(path: Path) -> tuple[int, int, int, int]:
    """Return (width, height, bit depth, colour type) from a PNG's IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    length, chunk_type = struct.unpack(">I4s", data[8:16])
    assert (length, chunk_type) == (13, b"IHDR"), f"{path.name}: first chunk is not IHDR"
    width, height, bit_depth, colour_type = struct.unpack(">IIBB", data[16:26])
    return width, height, bit_depth, colour_type


def test_manifest_identity(manifest: dict[str, Any]) -> None:
    """Domain matches the folder and const.py; name matches const.py."""
    assert manifest["domain"] == DOMAIN == INTEGRATION_DIR.name
    assert manifest["name"] == NAME


def test_manifest_keys_sorted(manifest: dict[str, Any]) -> None:
    """hassfest: 'Manifest keys ... domain, name, then alphabetical order'."""
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])


def test_manifest_keys_known_to_hassfest(manifest: dict[str, Any]) -> None:
    """hassfest's custom-integration schema rejects unknown keys."""
    assert set(manifest) <= HASSFEST_CUSTOM_KEYS, set(manifest) - HASSFEST_CUSTOM_KEYS


def test_manifest_required_keys(manifest: dict[str, Any]) -> None:
    """Keys hassfest and HACS require, with valid values."""
    for key in ("domain", "name", "codeowners", "documentation", "issue_tracker", "version"):
        assert manifest.get(key), f"{key} missing or empty"

    assert manifest["codeowners"]
    assert all(owner.startswith("@") for owner in manifest["codeowners"])

    documentation = urlparse(manifest["documentation"])
    assert documentation.scheme == "https"
    assert documentation.netloc
    assert not documentation.netloc.endswith("home-assistant.io")

    issue_tracker = urlparse(manifest["issue_tracker"])
    assert issue_tracker.scheme == "https"
    assert issue_tracker.netloc

    version = AwesomeVersion(manifest["version"], ensure_strategy=VERSION_STRATEGIES)
    assert version.valid

    assert manifest["iot_class"] in IOT_CLASSES
    integration_types = set(get_args(get_type_hints(Manifest)["integration_type"])) - {"virtual"}
    assert manifest["integration_type"] in integration_types


def test_manifest_for_a_serial_meter(manifest: dict[str, Any]) -> None:
    """UI set-up, one meter per entry, polled locally, serial ports via the usb integration."""
    assert manifest["config_flow"] is True
    assert manifest["integration_type"] == "device"
    assert manifest["iot_class"] == "local_polling"
    assert manifest["dependencies"] == ["usb"]
    assert manifest["loggers"] == [f"custom_components.{DOMAIN}.nes_client"]


def test_requirements_lower_bounds_only(manifest: dict[str, Any]) -> None:
    """Exact pins break when they differ from Home Assistant's package constraints."""
    requirements = [Requirement(text) for text in manifest["requirements"]]
    assert [req.name for req in requirements] == ["serialx"]
    for req in requirements:
        operators = {spec.operator for spec in req.specifier}
        assert operators, f"{req} has no lower bound"
        assert operators <= {">=", ">"}, f"{req} must only have lower bounds"


def test_requirements_fit_home_assistant_constraints(manifest: dict[str, Any]) -> None:
    """HA installs custom requirements under its package_constraints.txt: they must agree."""
    constraints_file = Path(homeassistant.__file__).parent / "package_constraints.txt"
    pins: dict[str, str] = {}
    for raw_line in constraints_file.read_text(encoding="utf-8").splitlines():
        line = raw_line.split("#", 1)[0].strip()
        if "==" in line and not line.startswith("-"):
            constraint = Requirement(line)
            (spec,) = constraint.specifier
            pins[constraint.name.lower()] = spec.version
    assert "serialx" in pins  # HA itself needs serialx (usb integration)
    for text in manifest["requirements"]:
        req = Requirement(text)
        if (pinned := pins.get(req.name.lower())) is not None:
            assert req.specifier.contains(pinned), f"{req} excludes HA's pinned {pinned}"
        installed = metadata.version(req.name)
        assert req.specifier.contains(installed), f"{req} excludes installed {installed}"


def test_pyproject_matches_manifest(manifest: dict[str, Any]) -> None:
    """pyproject.toml carries the same version and runtime requirements."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["version"] == manifest["version"]
    assert project["dependencies"] == manifest["requirements"]


def test_hacs_json(hacs: dict[str, Any], manifest: dict[str, Any]) -> None:
    """hacs.json has only keys HACS accepts, a name, valid countries and a sane minimum HA."""
    assert set(hacs) <= HACS_KEYS, set(hacs) - HACS_KEYS
    assert isinstance(hacs["name"], str)
    assert hacs["name"] == manifest["name"]

    countries = hacs["country"]
    assert isinstance(countries, list)
    assert countries == ["DK", "AT"]
    assert all(code in COUNTRIES for code in countries)

    minimum = AwesomeVersion(hacs["homeassistant"])
    assert minimum.valid
    assert minimum >= AwesomeVersion("2026.5.0")  # SerialPortSelector
    assert AwesomeVersion(ha_const.__version__) >= minimum  # the tests run on a supported version


def tested_versions() -> dict[str, str]:
    """scripts/ha-versions.txt: role → Home Assistant version."""
    rows = (
        line.split()
        for line in (REPO / "scripts" / "ha-versions.txt").read_text(encoding="utf-8").splitlines()
    )
    return {row[0]: row[1] for row in rows if row and not row[0].startswith("#")}


def test_claims_are_the_tested_versions(hacs: dict[str, Any]) -> None:
    """HACS offers the integration from the oldest release CI tests (scripts/matrix), and the
    README names that range."""
    versions = tested_versions()
    assert hacs["homeassistant"] == versions["oldest"]
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    assert f"Home Assistant {versions['oldest']} to {versions['newest']}" in readme


def test_brand_icon() -> None:
    """brand/icon.png is what HACS' brands check looks for: a 256x256 PNG."""
    width, height, bit_depth, colour_type = _png_header(BRAND_DIR / "icon.png")
    assert (width, height) == (256, 256)
    assert bit_depth == 8
    assert colour_type == 6  # RGBA: transparent background


def test_brand_images() -> None:
    """Only known brand file names; sizes follow the Home Assistant brand guidelines."""
    names = {path.name for path in BRAND_DIR.iterdir()}
    assert "icon.png" in names
    assert names <= BRAND_FILES, names - BRAND_FILES
    for name in names:
        width, height, _, _ = _png_header(BRAND_DIR / name)
        scale = 2 if "@2x" in name else 1
        if "icon" in name:
            assert (width, height) == (256 * scale, 256 * scale), name
        else:
            assert 128 * scale <= min(width, height) <= 256 * scale, name


def test_translations_en(manifest: dict[str, Any]) -> None:
    """translations/en.json is valid JSON with the user step of the config flow."""
    translations = load_json_object(INTEGRATION_DIR / "translations" / "en.json")
    assert isinstance(translations, dict)
    if manifest["config_flow"]:
        assert "user" in translations["config"]["step"]
    assert not (INTEGRATION_DIR / "strings.json").exists()  # custom integrations ship en.json


def test_license_is_mit() -> None:
    """HACS' license check needs an OSI licence GitHub can detect."""
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    assert "Copyright (c) 2026 The nes_echelon authors" in text


def test_the_installed_folder_holds_only_what_users_run() -> None:
    """The simulator and the development commands live in nes_echelon_dev/, beside the folder
    HACS installs; nothing in that folder may need them (or the tests)."""
    integration = REPO / "custom_components" / "nes_echelon"
    assert not (integration / "nes_client" / "simulator").exists()
    for path in integration.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                assert not name.startswith(("nes_echelon_dev", "tests")), (path, name)
                assert "simulator" not in name.split("."), (path, name)
