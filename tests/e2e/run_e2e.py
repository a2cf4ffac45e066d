"""End-to-end test: Home Assistant and the meter simulator, driven through HA's real UI.

Run by `scripts/e2e` (not by pytest, which collects only test_*.py), which starts Home Assistant
and the simulator exactly as `scripts/develop` does and stops them afterwards. This script runs
on the host's own Python (3.9 or newer) with Playwright driving Debian's Chromium, and:

1. onboards the fresh Home Assistant through the onboarding API;
2. in the browser: Settings > Devices & services > Add integration, searches for the
   integration, fills in the simulator's URL and a wrong key, sees the translated "invalid key"
   error, corrects the key and finishes the flow;
3. checks through the REST and websocket APIs that the energy and power sensors show the
   simulator's values with the right units, device and state classes;
4. configures grid import, export and power in the Energy dashboard and checks that
   `energy/validate` reports no issue for them;
5. unplugs the simulator's line (SIGUSR1), sees the entities become unavailable, plugs it back
   in (SIGUSR2) and sees them recover within two poll intervals;
6. takes screenshots (the config flow form, the device page, the energy settings) into the
   artifacts folder, and copies them to the README's images (docs/images) once all passed.

On failure it saves a screenshot of the page to the artifacts folder (.dev/e2e/failure.png).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from pathlib import Path
import re
import shutil
import signal
import sys
import time
from typing import Any
import urllib.error
import urllib.parse
import urllib.request

from playwright.sync_api import Page, expect, sync_playwright
from websockets.sync.client import connect as websocket_connect

REPO = Path(__file__).resolve().parents[2]
TRANSLATIONS = REPO / "custom_components/nes_echelon/translations/en.json"
DOMAIN = "nes_echelon"
WRONG_KEY = "WRONG-KEY-0123456789"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The sensors the test checks: unique-id suffix -> (unit, device class, state class).
SENSORS = {
    "energy_import": ("kWh", "energy", "total_increasing"),
    "energy_export": ("kWh", "energy", "total_increasing"),
    "power_import": ("W", "power", "measurement"),
    "power_export": ("W", "power", "measurement"),
    "power": ("W", "power", "measurement"),
}
DEFAULT_POLL = 10  # seconds, the integration's default poll interval
STARTED = time.monotonic()


class E2EError(Exception):
    """A check failed."""


def log(message: str) -> None:
    print(f"[e2e {time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


def wait_for(what: str, check: Any, timeout: float, interval: float = 0.5) -> Any:
    """Call `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = check()
        except (OSError, E2EError, ValueError, KeyError) as err:
            result, last_error = None, err
        if result:
            return result
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            raise E2EError(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(interval)


# -- Home Assistant's APIs ----------------------------------------------------------------------


class HomeAssistant:
    """REST and websocket access to the Home Assistant under test."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.client_id = self.url + "/"
        self.tokens: dict[str, Any] = {}
        self._ws: Any = None
        self._ws_id = 0
        self._stack = contextlib.ExitStack()

    def request(
        self, method: str, path: str, data: Any = None, *, form: bool = False, auth: bool = True
    ) -> Any:
        body = None
        headers = {}
        if data is not None:
            if form:
                body = urllib.parse.urlencode(data).encode()
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            else:
                body = json.dumps(data).encode()
                headers["Content-Type"] = "application/json"
        if auth and self.tokens:
            headers["Authorization"] = "Bearer " + self.tokens["access_token"]
        request = urllib.request.Request(self.url + path, body, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as err:
            raise E2EError(f"{method} {path}: HTTP {err.code} {err.read().decode()[:300]}") from err
        return json.loads(text) if text else None

    def onboard(self) -> None:
        """Create the owner and finish every onboarding step, as the onboarding UI does."""
        code = self.request(
            "POST",
            "/api/onboarding/users",
            {
                "name": "E2E Tester",
                "username": "e2e",
                "password": "e2e-password-not-secret",
                "client_id": self.client_id,
                "language": "en",
            },
            auth=False,
        )["auth_code"]
        self.tokens = self.request(
            "POST",
            "/auth/token",
            {"grant_type": "authorization_code", "code": code, "client_id": self.client_id},
            form=True,
            auth=False,
        )
        self.request("POST", "/api/onboarding/core_config", {})
        self.request("POST", "/api/onboarding/analytics", {})
        self.request(
            "POST",
            "/api/onboarding/integration",
            {"client_id": self.client_id, "redirect_uri": self.url + "/?auth_callback=1"},
        )
        steps = self.request("GET", "/api/onboarding", auth=False)
        if not all(step["done"] for step in steps):
            raise E2EError(f"onboarding not finished: {steps}")
        # Onboarding adds a few demo integrations. This slim development instance lacks the
        # packages of some (Google Translate fails to set up): remove them so that the
        # screenshots show only what matters here.
        for entry in self.request("GET", "/api/config/config_entries/entry"):
            if entry["domain"] in ("google_translate", "shopping_list"):
                self.request("DELETE", f"/api/config/config_entries/entry/{entry['entry_id']}")

    def browser_tokens(self) -> dict[str, Any]:
        """What the frontend keeps in localStorage["hassTokens"] once logged in."""
        return {
            "access_token": self.tokens["access_token"],
            "refresh_token": self.tokens["refresh_token"],
            "token_type": "Bearer",
            "expires_in": self.tokens["expires_in"],
            "expires": int(time.time() * 1000) + self.tokens["expires_in"] * 1000,
            "hassUrl": self.url,
            "clientId": self.client_id,
        }

    def ws(self, message: dict[str, Any]) -> Any:
        """One websocket command; returns its result or raises E2EError."""
        if self._ws is None:
            self._ws = self._stack.enter_context(
                websocket_connect(self.url.replace("http", "ws", 1) + "/api/websocket")
            )
            json.loads(self._ws.recv())  # auth_required
            self._ws.send(json.dumps({"type": "auth", "access_token": self.tokens["access_token"]}))
            reply = json.loads(self._ws.recv())
            if reply["type"] != "auth_ok":
                raise E2EError(f"websocket authentication failed: {reply}")
        self._ws_id += 1
        self._ws.send(json.dumps({**message, "id": self._ws_id}))
        while True:
            reply = json.loads(self._ws.recv(timeout=60))
            if reply.get("id") == self._ws_id and reply["type"] == "result":
                break
        if not reply["success"]:
            raise E2EError(f"{message['type']} failed: {reply['error']}")
        return reply["result"]

    def close(self) -> None:
        self._stack.close()

    def state(self, entity_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/states/{entity_id}")


# -- The simulator -------------------------------------------------------------------------------


class Simulator:
    """The simulator started by scripts/develop: its key, its readings, its line."""

    def __init__(self, port: int, pidfile: Path, state_file: Path, develop_log: Path) -> None:
        self.url = f"socket://127.0.0.1:{port}"
        self.pidfile = pidfile
        self.state_file = state_file
        self.develop_log = develop_log

    def key(self) -> str:
        """The key the simulator printed at start (in scripts/develop's output)."""
        match = re.search(r"^key: (\S+)$", self.develop_log.read_text(errors="replace"), re.M)
        if not match:
            raise E2EError("the simulator has not printed its key yet")
        return match.group(1)

    def readings(self) -> dict[str, Any]:
        return json.loads(self.state_file.read_text())

    def signal(self, signum: int) -> None:
        os.kill(int(self.pidfile.read_text().strip()), signum)

    def unplug(self) -> None:
        self.signal(signal.SIGUSR1)
        wait_for("the simulator to unplug", lambda: not self.readings()["online"], 10)

    def plug_in(self) -> None:
        self.signal(signal.SIGUSR2)
        wait_for("the simulator to plug in", lambda: self.readings()["online"], 10)


# -- The browser ---------------------------------------------------------------------------------


def settle(page: Page) -> None:
    """Let transitions end (floating labels, ripples) before a screenshot."""
    page.mouse.move(0, 0)
    page.wait_for_timeout(800)


def add_integration(page: Page, ha: HomeAssistant, sim: Simulator, images: Path) -> None:
    """Settings > Devices & services > Add integration > NES/Echelon Smart Meter."""
    errors = json.loads(TRANSLATIONS.read_text())["config"]["error"]
    page.goto(ha.url + "/config/integrations/dashboard")
    add = page.get_by_role("button", name="Add integration")
    add.wait_for(timeout=60_000)
    add.click()
    page.get_by_placeholder("Search for a brand name").fill("NES/Echelon")
    page.get_by_text("NES/Echelon Smart Meter", exact=True).click()
    page.get_by_text("Connect to the meter").wait_for(timeout=30_000)
    log("config flow form shown")

    # The port is a serial-port picker; a network URL goes in through "Enter manually", which
    # swaps the picker for a text field.
    page.locator("ha-selector-serial_port ha-picker-field").click()
    page.get_by_text("Enter manually").click()
    port_input = page.locator("ha-selector-serial_port ha-input input")
    port_input.fill(sim.url)
    key_input = page.locator("ha-selector-text ha-input input")
    key_input.fill(WRONG_KEY)
    expect(port_input).to_have_value(sim.url)
    expect(key_input).to_have_value(WRONG_KEY)
    expect(page.get_by_role("radio", name="Optical (IR) port, USB IR probe")).to_be_checked()
    settle(page)
    page.screenshot(path=str(images / "config-flow.png"))
    page.get_by_role("button", name="Submit").click()

    # The meter refuses the key: the translated error is shown, nothing is saved.
    invalid_key = errors["invalid_key"]
    page.get_by_text(invalid_key).wait_for(timeout=60_000)
    log(f"wrong key refused: {invalid_key[:40]!r}…")
    settle(page)
    page.screenshot(path=str(images / "config-flow-invalid-key.png"))
    entries = ha.request("GET", f"/api/config/config_entries/entry?domain={DOMAIN}")
    if entries:
        raise E2EError(f"an entry was created with the wrong key: {entries}")

    key_input.fill(sim.key())
    expect(key_input).to_have_value(sim.key())
    page.get_by_role("button", name="Submit").click()
    finish = page.get_by_role("button", name=re.compile("finish", re.IGNORECASE))
    finish.wait_for(timeout=60_000)
    log("entry created; finishing the flow")
    finish.click()
    page.locator("dialog-data-entry-flow").wait_for(state="hidden", timeout=30_000)


def screenshot_device(page: Page, ha: HomeAssistant, device_id: str, images: Path) -> None:
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.goto(f"{ha.url}/config/devices/device/{device_id}")
    page.get_by_text("Energy import").first.wait_for(timeout=30_000)
    page.get_by_text("NES 83331-3I").first.wait_for()
    settle(page)
    page.screenshot(path=str(images / "device.png"))


def screenshot_energy(page: Page, ha: HomeAssistant, images: Path) -> None:
    """The Energy settings with our grid connection, and its dialog at the grid power."""
    page.set_viewport_size({"width": 1280, "height": 860})
    page.goto(f"{ha.url}/config/energy")
    page.get_by_text("Energy import").first.wait_for(timeout=30_000)
    settle(page)
    page.screenshot(path=str(images / "energy-settings.png"))
    page.get_by_role("button", name="Edit").first.click()
    page.get_by_text("Configure grid connection").wait_for()
    page.get_by_text("Power measurement", exact=True).scroll_into_view_if_needed()
    page.get_by_text("Net power").first.wait_for()
    settle(page)
    page.screenshot(path=str(images / "energy-grid-power.png"))
    page.get_by_role("button", name="Cancel").click()


# -- The checks ----------------------------------------------------------------------------------


def our_entities(ha: HomeAssistant) -> tuple[str, dict[str, str]]:
    """The meter's device id and the checked sensors' entity ids (by unique-id suffix)."""
    entries = ha.request("GET", f"/api/config/config_entries/entry?domain={DOMAIN}")
    if len(entries) != 1 or entries[0]["state"] != "loaded":
        raise E2EError(f"expected one loaded {DOMAIN} entry, found {entries}")
    registry = ha.ws({"type": "config/entity_registry/list"})
    registry = [entry for entry in registry if entry["platform"] == DOMAIN]
    found: dict[str, str] = {}
    device_id = ""
    for entry in registry:
        _serial, _, key = entry["unique_id"].partition("_")
        if key in SENSORS:
            found[key] = entry["entity_id"]
            device_id = entry["device_id"]
    missing = set(SENSORS) - set(found)
    if missing:
        raise E2EError(f"no entity for {sorted(missing)}; registry: {registry}")
    return device_id, found


def check_sensors(
    ha: HomeAssistant, sim: Simulator, entities: dict[str, str], since: float = 0.0
) -> None:
    """Units, classes, and values the simulator reported (at the time of a poll after `since`,
    a wall-clock time)."""
    for key, entity_id in entities.items():
        unit, device_class, state_class = SENSORS[key]
        attributes = ha.state(entity_id)["attributes"]
        got = (
            attributes.get("unit_of_measurement"),
            attributes.get("device_class"),
            attributes.get("state_class"),
        )
        if got != (unit, device_class, state_class):
            raise E2EError(f"{entity_id}: unit/device/state class {got}, expected {SENSORS[key]}")

    def values_match() -> bool:
        states = {key: ha.state(entity_id)["state"] for key, entity_id in entities.items()}
        history = [entry for entry in sim.readings()["history"] if entry["time"] >= since]
        shown = {key: float(value) for key, value in states.items()}
        for reading in history:
            expected = {
                "energy_import": reading["energy_import_wh"] / 1000,
                "energy_export": reading["energy_export_wh"] / 1000,
                "power_import": reading["power_import_w"],
                "power_export": reading["power_export_w"],
                "power": reading["power_import_w"] - reading["power_export_w"],
            }
            if all(abs(shown[key] - expected[key]) < 1e-6 for key in expected):
                log(f"sensors match the simulator's reading at {reading['time']:.0f}: {states}")
                return True
        raise E2EError(f"{states} is none of the simulator's last {len(history)} readings")

    # A poll reads energy (BT23) and power (BT28) one after the other; a tick of the simulator
    # can fall between them. The next poll reads a consistent pair.
    wait_for("the sensors to show one of the simulator's readings", values_match, 3 * DEFAULT_POLL)


def configure_energy(ha: HomeAssistant, entities: dict[str, str]) -> None:
    """Grid import and export energy, and the signed net power as grid power."""
    ha.ws(
        {
            "type": "energy/save_prefs",
            "energy_sources": [
                {
                    "type": "grid",
                    "stat_energy_from": entities["energy_import"],
                    "stat_energy_to": entities["energy_export"],
                    "power_config": {"stat_rate": entities["power"]},
                    "cost_adjustment_day": 0,
                }
            ],
        }
    )
    prefs = ha.ws({"type": "energy/get_prefs"})
    grid = prefs["energy_sources"][0]
    if (grid.get("stat_energy_from"), grid.get("stat_energy_to"), grid.get("stat_rate")) != (
        entities["energy_import"],
        entities["energy_export"],
        entities["power"],
    ):
        raise E2EError(f"energy preferences not saved as sent: {prefs}")


def check_energy_validation(ha: HomeAssistant, *, strict: bool) -> list[str]:
    """Fails on any issue for our sensors. "statistics_not_defined" (HA compiles the first
    statistics at the next 5-minute mark) is tolerated unless `strict`; returns what was
    tolerated."""
    result = ha.ws({"type": "energy/validate"})
    issues = [issue for source in result["energy_sources"] for issue in source]
    tolerated = [] if strict else ["statistics_not_defined"]
    bad = [issue for issue in issues if issue["type"] not in tolerated]
    if bad:
        raise E2EError(f"energy/validate reports issues: {bad}")
    return [issue["type"] for issue in issues]


def check_unplug_and_recover(ha: HomeAssistant, sim: Simulator, entities: dict[str, str]) -> float:
    """Returns the wall-clock time the line came back."""
    poll = DEFAULT_POLL

    def states() -> dict[str, str]:
        return {key: ha.state(entity_id)["state"] for key, entity_id in entities.items()}

    sim.unplug()
    unplugged = time.monotonic()
    log("simulator unplugged")
    wait_for(
        "the entities to become unavailable",
        lambda: all(value == "unavailable" for value in states().values()),
        2 * poll + 10,
    )
    log(f"entities unavailable after {time.monotonic() - unplugged:.1f} s")
    time.sleep(2)

    sim.plug_in()
    plugged, plugged_wall = time.monotonic(), time.time()
    log("simulator plugged in again")

    def recovered() -> bool:
        values = states()
        return all(value not in ("unavailable", "unknown") for value in values.values())

    wait_for("the entities to recover", recovered, 2 * poll + 5)
    took = time.monotonic() - plugged
    if took > 2 * poll:
        raise E2EError(f"the entities took {took:.1f} s to recover (more than two polls)")
    log(f"entities recovered {took:.1f} s after the line came back: {states()}")
    return plugged_wall


def wait_for_statistics(ha: HomeAssistant, *, created: float, budget: float, always: bool) -> bool:
    """Demand a clean energy/validate once HA has compiled the first statistics.

    HA compiles statistics every 5 minutes (at :00:10, :05:10 …, each run the 5 minutes before
    it); until the first run after the sensors were `created` (wall-clock time, at latest),
    energy/validate says "statistics_not_defined" for them. The wait is made if `always`, or if
    it ends within `budget` seconds of the test's start (so that the run stays short); otherwise
    that one notice is tolerated. Returns whether energy/validate reports nothing at all.
    """
    if not check_energy_validation(ha, strict=False):
        return True
    ready_at = created - created % 300 + 300 + 20  # that run, and 10 s for it to finish
    ready_in = max(ready_at - time.time(), 0)
    if not always and time.monotonic() - STARTED + ready_in > budget:
        log(
            f"HA's first statistics run is {ready_in:.0f} s away, beyond the time budget: "
            "'statistics_not_defined' tolerated (scripts/e2e --wait-statistics waits for it)"
        )
        return False
    log(f"waiting up to {ready_in:.0f} s for HA's first statistics run (every 5 minutes)")
    wait_for(
        "energy/validate without 'statistics_not_defined'",
        lambda: not check_energy_validation(ha, strict=False),
        ready_in + 20,
        interval=3,
    )
    check_energy_validation(ha, strict=True)
    log("energy/validate: no issue at all")
    return True


# -- Main ----------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8123")
    parser.add_argument("--sim-port", type=int, default=47100)
    parser.add_argument("--sim-pidfile", type=Path, required=True)
    parser.add_argument("--sim-state", type=Path, required=True)
    parser.add_argument("--develop-log", type=Path, required=True)
    parser.add_argument(
        "--develop-pid", type=int, help="scripts/develop's process id, to notice its end"
    )
    parser.add_argument("--images", type=Path, default=REPO / "docs/images")
    parser.add_argument("--artifacts", type=Path, default=REPO / ".dev/e2e")
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    parser.add_argument(
        "--wait-statistics",
        action="store_true",
        help="always wait for HA's first statistics run (up to 5 min) and then demand that "
        "energy/validate reports nothing; by default only if that fits in --budget",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=250,
        help="seconds this script may take when it waits for the statistics (default 250)",
    )
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    # Screenshots are taken into the artifacts and copied to the README's images only when the
    # whole test passed.
    shots = args.artifacts / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    ha = HomeAssistant(args.url)
    sim = Simulator(args.sim_port, args.sim_pidfile, args.sim_state, args.develop_log)

    def onboarding_open() -> bool:
        if args.develop_pid:
            try:
                os.kill(args.develop_pid, 0)
            except ProcessLookupError:
                tail = args.develop_log.read_text(errors="replace").splitlines()[-15:]
                raise SystemExit("scripts/develop ended:\n" + "\n".join(tail)) from None
        return ha.request("GET", "/api/onboarding", auth=False) is not None

    wait_for("Home Assistant to answer", onboarding_open, 120)
    log(f"Home Assistant answers on {ha.url}")
    ha.onboard()
    wait_for(
        "Home Assistant to finish starting",
        lambda: ha.request("GET", "/api/config")["state"] == "RUNNING",
        120,
    )
    log("onboarded; Home Assistant is running")
    wait_for("the simulator's key", sim.key, 30)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_FLAGS)
        page = None
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 860})
            tokens = json.dumps(json.dumps(ha.browser_tokens()))
            context.add_init_script(f"window.localStorage.setItem('hassTokens', {tokens});")
            page = context.new_page()
            page.set_default_timeout(30_000)

            add_integration(page, ha, sim, shots)
            created = time.time()
            device_id, entities = our_entities(ha)
            log(f"entities: {entities}")
            check_sensors(ha, sim, entities)

            configure_energy(ha, entities)
            tolerated = check_energy_validation(ha, strict=False)
            log(f"energy/validate: no issue{' but ' + str(tolerated) if tolerated else ''}")

            screenshot_device(page, ha, device_id, shots)

            plugged = check_unplug_and_recover(ha, sim, entities)
            check_sensors(ha, sim, entities, since=plugged)

            clean = wait_for_statistics(
                ha, created=created, budget=args.budget, always=args.wait_statistics
            )
            screenshot_energy(page, ha, shots)
        except Exception:
            if page is not None:
                failure = args.artifacts / "failure.png"
                try:
                    page.screenshot(path=str(failure))
                    print(f"screenshot of the page at the failure: {failure}", file=sys.stderr)
                except Exception as err:  # the original error matters more
                    print(f"(no failure screenshot: {err})", file=sys.stderr)
            raise
        finally:
            browser.close()
            ha.close()

    # With HA's "statistics not defined" notice on it, the Energy settings page is not what the
    # README should show: those two then stay in the artifacts only.
    args.images.mkdir(parents=True, exist_ok=True)
    for shot in sorted(shots.glob("*.png")):
        if clean or not shot.name.startswith("energy-"):
            shutil.copyfile(shot, args.images / shot.name)
    kept = "" if clean else f" (the energy-*.png ones, with HA's notice, only in {shots})"
    log(f"screenshots copied to {args.images}{kept}")
    log("PASSED")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except E2EError as failure:
        log(f"FAILED: {failure}")
        sys.exit(1)
