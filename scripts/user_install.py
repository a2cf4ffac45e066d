"""Install the integration the way a user does, on one Home Assistant release, and use it.

    python3.14 scripts/user_install.py 2026.11.0 [--port 8124] [--keep]

Run by scripts/matrix inside the project's environment, with a bare Python (standard library
only). Steps, each one failing loudly:

1. A fresh venv with only `homeassistant==VERSION`, installed under that release's own pins
   (scripts/ha_constraints.py): our requirements (serialx) are not in it.
2. A fresh configuration folder with a copy of custom_components/nes_echelon (the folder HACS
   installs), and Home Assistant started *without* --skip-pip: it installs our manifest's
   requirements itself, under its constraints, as it does for a user.
3. Onboarding, then the config flow over the REST API against the bundled simulator (optical
   port on socket://127.0.0.1), then the sensors' states compared with the simulator's, a
   reload, and removal of the entry.
4. The serialx version Home Assistant installed must be the one it pins, and the log must hold no
   error or traceback from the integration.

The configuration is slim (no `default_config:`): its voice packages need a C compiler on
Python 3.14 (see the README's manual installation), which says nothing about this integration.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any
import urllib.error
import urllib.parse
import urllib.request

REPO = Path(__file__).resolve().parent.parent
INTEGRATION = REPO / "custom_components" / "nes_echelon"
DOMAIN = "nes_echelon"
KEY = "0123456789ABCDEFGHIJ"  # the simulator's default optical key
START_TIMEOUT = 600.0  # the first start installs packages
FLOW_TIMEOUT = 300.0  # the first flow installs our requirements


class Failed(Exception):
    pass


def log(message: str) -> None:
    print(f"[user-install] {message}", file=sys.stderr, flush=True)


def run(*args: str | Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], check=True, text=True, **kwargs)


def make_venv(venv: Path, version: str) -> None:
    shutil.rmtree(venv, ignore_errors=True)
    run(sys.executable, "-m", "venv", venv)
    pip = venv / "bin" / "pip"
    run(pip, "install", "--quiet", "--upgrade", "pip")
    constraints = venv / "constraints.txt"
    run(venv / "bin" / "python", REPO / "scripts" / "ha_constraints.py", version, constraints)
    run(pip, "install", "--quiet", "-c", constraints, f"homeassistant=={version}")
    if installed_version(venv, "serialx") is not None:
        raise Failed("serialx is already in the fresh venv: Home Assistant would not install it")
    if usb_needs_aioesphomeapi(venv):
        # Home Assistant 2026.5 and 2026.6: its usb integration (which ours depends on, as does
        # default_config) imports serialx's ESPHome transport, whose aioesphomeapi it does not
        # list as a requirement. The container image and Home Assistant OS ship aioesphomeapi;
        # a Core venv needs it installed by hand (README, "Known limitations").
        log("this release's usb integration needs aioesphomeapi: installing it as the image has it")
        run(pip, "install", "--quiet", "-c", constraints, "aioesphomeapi")


def usb_needs_aioesphomeapi(venv: Path) -> bool:
    (stub,) = venv.glob(
        "lib/python3*/site-packages/homeassistant/components/usb/serial_proxy_stub.py"
    )
    return "serial_esphome" in stub.read_text()


def installed_version(venv: Path, name: str) -> str | None:
    code = (
        "import importlib.metadata as m, sys\n"
        f"try: print(m.version({name!r}))\n"
        "except m.PackageNotFoundError: sys.exit(3)\n"
    )
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() if done.returncode == 0 else None


def pinned_version(venv: Path, name: str) -> str | None:
    for line in (venv / "constraints.txt").read_text().splitlines():
        if line.lower().startswith(f"{name}=="):
            return line.split("==", 1)[1].strip()
    return None


def write_config(config: Path, port: int) -> None:
    (config / "custom_components").mkdir(parents=True)
    # A copy, not a link: exactly the files HACS puts there, without caches.
    shutil.copytree(
        INTEGRATION,
        config / "custom_components" / DOMAIN,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    (config / "configuration.yaml").write_text(
        f"""homeassistant:
  name: User install check
  unit_system: metric
  time_zone: Europe/Copenhagen
  country: DK
  currency: DKK
  latitude: 55.6761
  longitude: 12.5683
  elevation: 10
http:
  server_host: 127.0.0.1
  server_port: {port}
api:
config:
onboarding:
logger:
  default: warning
  logs:
    custom_components.{DOMAIN}: debug
"""
    )


class Api:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.client_id = self.url + "/"
        self.token = ""

    def call(self, method: str, path: str, data: Any = None, *, form: bool = False) -> Any:
        headers = {}
        body = None
        if data is not None:
            if form:
                body = urllib.parse.urlencode(data).encode()
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            else:
                body = json.dumps(data).encode()
                headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url + path, body, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=FLOW_TIMEOUT) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as err:
            raise Failed(f"{method} {path}: HTTP {err.code} {err.read().decode()[:500]}") from err
        return json.loads(text) if text else None

    def wait_until_up(self, hass: subprocess.Popen[bytes], deadline: float) -> None:
        while time.monotonic() < deadline:
            if hass.poll() is not None:
                raise Failed(f"Home Assistant exited with {hass.returncode} while starting")
            with contextlib.suppress(OSError, Failed):
                self.call("GET", "/api/onboarding")
                return
            time.sleep(1)
        raise Failed("Home Assistant did not start in time")

    def onboard(self) -> None:
        code = self.call(
            "POST",
            "/api/onboarding/users",
            {
                "name": "Owner",
                "username": "owner",
                "password": "not-a-secret-just-a-test",
                "client_id": self.client_id,
                "language": "en",
            },
        )["auth_code"]
        tokens = self.call(
            "POST",
            "/auth/token",
            {"grant_type": "authorization_code", "code": code, "client_id": self.client_id},
            form=True,
        )
        self.token = tokens["access_token"]

    def entry(self, entry_id: str) -> dict[str, Any] | None:
        entries = self.call("GET", "/api/config/config_entries/entry")
        return next((e for e in entries if e["entry_id"] == entry_id), None)

    def states(self) -> dict[str, dict[str, Any]]:
        return {state["entity_id"]: state for state in self.call("GET", "/api/states")}


def add_meter(api: Api, sim_port: int) -> str:
    flow = api.call("POST", "/api/config/config_entries/flow", {"handler": DOMAIN})
    if flow.get("type") != "form" or flow.get("step_id") != "user":
        raise Failed(f"the flow did not start with the user form: {flow}")
    result = api.call(
        "POST",
        f"/api/config/config_entries/flow/{flow['flow_id']}",
        {"port": f"socket://127.0.0.1:{sim_port}", "link": "optical", "key": KEY},
    )
    if result.get("type") != "create_entry":
        raise Failed(f"the flow did not create an entry: {result}")
    log(f"entry created: {result['title']}")
    return str(result["result"]["entry_id"])


def energy_state(states: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The total energy import sensor (no tier, unit kWh)."""
    for entity_id, state in states.items():
        attributes = state["attributes"]
        if (
            entity_id.startswith("sensor.")
            and attributes.get("device_class") == "energy"
            and attributes.get("state_class") == "total_increasing"
            and "import" in entity_id
            and "tier" not in entity_id
        ):
            return state
    return None


def check_values(api: Api, state_file: Path, deadline: float) -> None:
    """The energy import sensor shows the simulator's register (within one poll's growth)."""
    while time.monotonic() < deadline:
        state = energy_state(api.states())
        if state is not None and state["state"] not in ("unknown", "unavailable"):
            shown = float(state["state"])
            meter = json.loads(state_file.read_text())
            truth_kwh = meter_import_kwh(meter)
            if abs(shown - truth_kwh) <= 0.05:
                log(f"{state['entity_id']} = {shown} kWh, the simulator has {truth_kwh:.3f} kWh")
                return
            log(f"{state['entity_id']} = {shown} kWh, simulator {truth_kwh:.3f} kWh: waiting")
        time.sleep(2)
    raise Failed("the energy import sensor never showed the simulator's value")


def meter_import_kwh(meter: dict[str, Any]) -> float:
    """The simulator's import register (its --state-file, rewritten every second)."""
    return float(meter["now"]["energy_import_wh"]) / 1000


def wait_for_entry_state(api: Api, entry_id: str, wanted: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        entry = api.entry(entry_id)
        if entry is not None and entry["state"] == wanted:
            return
        time.sleep(1)
    raise Failed(f"the entry did not reach {wanted!r}: {api.entry(entry_id)}")


def check_log(config: Path) -> None:
    """No error record, nor traceback, from the integration or the serial library (others, such
    as ffmpeg missing for the base platforms, are not ours to judge)."""
    records: list[list[str]] = []
    for line in (config / "home-assistant.log").read_text(errors="replace").splitlines():
        if line[:4].isdigit() or not records:  # a new record starts with its date
            records.append([line])
        else:
            records[-1].append(line)
    bad = [
        "\n".join(record)
        for record in records
        if (" ERROR " in record[0] or any(line.startswith("Traceback") for line in record))
        and any(DOMAIN in line or "serialx" in line for line in record)
    ]
    if bad:
        raise Failed("errors in home-assistant.log:\n" + "\n\n".join(bad[:5]))


def use_the_integration(
    api: Api,
    hass: subprocess.Popen[bytes],
    venv: Path,
    state_file: Path,
    sim_port: int,
    started: float,
) -> None:
    """Onboard, add the meter, check serialx and the sensors, reload, remove."""
    api.wait_until_up(hass, time.monotonic() + START_TIMEOUT)
    api.onboard()
    log(f"Home Assistant is up after {time.monotonic() - started:.0f} s; adding the meter")
    entry_id = add_meter(api, sim_port)
    wait_for_entry_state(api, entry_id, "loaded", time.monotonic() + 60)

    serialx = installed_version(venv, "serialx")
    pinned = pinned_version(venv, "serialx")
    log(f"Home Assistant installed serialx {serialx} (its pin: {pinned or 'none'})")
    if serialx is None or (pinned is not None and serialx != pinned):
        raise Failed(f"serialx {serialx} is not Home Assistant's pinned {pinned}")

    check_values(api, state_file, time.monotonic() + 60)
    api.call("POST", f"/api/config/config_entries/entry/{entry_id}/reload")
    wait_for_entry_state(api, entry_id, "loaded", time.monotonic() + 60)
    check_values(api, state_file, time.monotonic() + 60)
    api.call("DELETE", f"/api/config/config_entries/entry/{entry_id}")
    if api.entry(entry_id) is not None:
        raise Failed("the entry is still there after removal")
    states = api.states()
    if energy_state({e: s for e, s in states.items() if s["state"] != "unavailable"}):
        raise Failed("the energy sensor still has a state after the entry was removed")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("version", help="the Home Assistant release, e.g. 2026.11.0")
    parser.add_argument("--port", type=int, default=8124, help="Home Assistant's HTTP port")
    parser.add_argument("--sim-port", type=int, default=47124, help="the simulator's TCP port")
    parser.add_argument("--sim-python", default="python3", help="a Python with serialx")
    parser.add_argument("--venv", type=Path, default=None, help="where to build the venv")
    parser.add_argument("--keep", action="store_true", help="keep the configuration folder")
    args = parser.parse_args()

    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f"nes-echelon-user-{args.version}-"))
    venv = args.venv or work / "venv"
    config = work / "config"
    state_file = work / "meter.json"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        log(f"Home Assistant {args.version}: a fresh venv with only homeassistant")
        make_venv(venv, args.version)
        write_config(config, args.port)
        processes.append(
            subprocess.Popen(
                [
                    *(args.sim_python, "-m", "nes_echelon_dev"),
                    *("simulate", "--link", "optical", "--tcp", f"127.0.0.1:{args.sim_port}"),
                    *("--state-file", str(state_file)),
                ],
                cwd=REPO,
                stdout=subprocess.DEVNULL,
            )
        )
        log("starting Home Assistant without --skip-pip")
        hass = subprocess.Popen(
            [str(venv / "bin" / "hass"), "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        processes.append(hass)
        use_the_integration(Api(args.port), hass, venv, state_file, args.sim_port, started)
        check_log(config)
        log(f"passed on Home Assistant {args.version} in {time.monotonic() - started:.0f} s")
        return 0
    except (Failed, subprocess.CalledProcessError) as err:
        log(f"FAILED on Home Assistant {args.version}: {err}")
        tail = config / "home-assistant.log"
        if tail.exists():
            log("last lines of home-assistant.log:")
            print("\n".join(tail.read_text(errors="replace").splitlines()[-40:]), file=sys.stderr)
        return 1
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
