"""The fault matrix: everything the link can do, against the integration on a real socket.

Each scenario runs the integration against the simulator's fault injection and records what
the entities show, what is logged, and how polling recovers once the fault clears:

* a fault the link absorbs (one answer lost, noise, a reboot …) leaves the values in place
  and logs nothing;
* a fault that lasts fails the polls: the entities are unavailable, Home Assistant logs the
  failure once ("Error fetching …", not once per poll) and once more when it recovers, which
  it does at the first poll after the fault clears.

The observed matrix is written to .dev/fault_matrix.md (git-ignored) and printed in the test
summary with -v or -s.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
import fcntl
import logging
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest

from custom_components.nes_echelon import coordinator as coordinator_module
from custom_components.nes_echelon.const import CONF_KEY, DOMAIN
from custom_components.nes_echelon.nes_client import client as client_module, mep
from nes_echelon_dev.simulator import SimulatedMeter, mep_port, optical_port

from .conftest import RunningMeter, StartMeter, make_entry, poll, setup_entry

ENERGY_IMPORT = "sensor.nes_83331_3i_energy_import"
POWER_IMPORT = "sensor.nes_83331_3i_power_import"
NEW_KEY = "NEW KEY FROM GRIDCO!"
FAILING_POLLS = 3
REPORT = Path(__file__).resolve().parents[2] / ".dev" / "fault_matrix.md"

ROWS: list[dict[str, str]] = []


@pytest.fixture(scope="module", autouse=True)
def fault_matrix_report(request: pytest.FixtureRequest) -> Any:
    """Write the rows the tests of this module observed, once they have all run."""
    yield
    if not ROWS:
        return
    table = _markdown(ROWS)
    count = len(ROWS)
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(
        "# Fault matrix\n\nObserved by tests/integration/test_fault_matrix.py "
        f"({count} rows; {FAILING_POLLS} polls while a lasting fault is on).\n\n" + table + "\n"
    )
    config = request.config
    verbose = config.getoption("verbose") > 0 or config.getoption("capture") == "no"

    class Summary:
        @staticmethod
        def pytest_terminal_summary(terminalreporter: Any) -> None:
            terminalreporter.section("fault matrix")
            if verbose:
                for line in table.splitlines():
                    terminalreporter.write_line(line)
            terminalreporter.write_line(f"{count} rows written to {REPORT}")

    if not config.pluginmanager.has_plugin("nes_fault_matrix"):
        config.pluginmanager.register(Summary(), "nes_fault_matrix")
    ROWS.clear()


def _markdown(rows: list[dict[str, str]]) -> str:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row[c].replace("|", "/") for c in columns) + " |" for row in rows]
    return "\n".join(lines)


@pytest.fixture(autouse=True)
def quick_link(monkeypatch: pytest.MonkeyPatch) -> None:
    """No 100 ms MEP request spacing, short busy pauses, and the same noise every time."""
    monkeypatch.setattr(mep, "MIN_REQUEST_SPACING", 0.0)
    monkeypatch.setattr(client_module, "BUSY_PAUSE", 0.01)
    noise = SimpleNamespace(urandom=lambda size: b"\x9a\x31\xc4\x7f\x02\x5d\xe1"[:size])
    monkeypatch.setattr(optical_port, "os", noise)
    monkeypatch.setattr(mep_port, "os", noise)


LOGGERS = ("custom_components.nes_echelon", "homeassistant.config_entries")


@dataclass
class Log:
    """What the integration (client and coordinator) and Home Assistant's config entries
    log from a mark on, at INFO and up."""

    caplog: pytest.LogCaptureFixture
    mark: int = 0

    def __post_init__(self) -> None:
        for name in LOGGERS:
            self.caplog.set_level(logging.INFO, logger=name)

    def since_mark(self) -> list[logging.LogRecord]:
        records = self.caplog.records[self.mark :]
        self.mark = len(self.caplog.records)
        return [
            record
            for record in records
            if record.levelno >= logging.INFO and record.name.startswith(LOGGERS)
        ]


def describe(records: list[logging.LogRecord]) -> str:
    if not records:
        return "nothing"
    return "; ".join(
        f"{record.levelname}: {_short(record.getMessage())}" for record in records
    ).replace("nes_echelon 83331-3I 0710123456", "…")


def _short(text: str, size: int = 110) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def expected_import(meter: SimulatedMeter) -> str:
    return str(meter.registers(0)[0] / 1000)


def shown(hass: HomeAssistant) -> str:
    energy = hass.states.get(ENERGY_IMPORT)
    power = hass.states.get(POWER_IMPORT)
    assert energy is not None
    assert power is not None
    return f"{energy.state} / {power.state}"


def record(scenario: str, link: str, **columns: str) -> None:
    ROWS.append({"scenario": scenario, "link": link} | columns)


@dataclass(frozen=True)
class Fault:
    """A fault scenario: how to switch it on for one meter."""

    label: str
    links: tuple[str, ...]
    arm: Callable[[RunningMeter, int], None]
    """arm(running, count): the fault for `count` answers (count 99: it lasts)."""

    def cases(self) -> list[Any]:
        return [pytest.param(self, link, id=f"{self.label}-{link}") for link in self.links]


def counter(name: str) -> Callable[[RunningMeter, int], None]:
    def arm(running: RunningMeter, count: int) -> None:
        setattr(running.sim.faults, name, count)

    return arm


BOTH = ("optical", "mep")
SILENCE = Fault("silence / timeout", BOTH, counter("silence"))
GARBAGE = Fault("garbage bytes before the answer", BOTH, counter("garbage"))
TRUNCATE = Fault("truncated answer", BOTH, counter("truncate"))
BAD_CRC = Fault("wrong CRC", ("optical",), counter("bad_crc"))
BAD_DIGEST = Fault("wrong digest", ("mep",), counter("bad_digest"))
SEQUENCE = Fault("invalid sequence number (0x0C)", ("mep",), counter("forget_sequence"))
BUSY = Fault("meter busy (0x06)", BOTH, counter("busy"))
NOT_POSSIBLE = Fault("operation not possible (0x04)", BOTH, counter("not_possible"))
ALERT = Fault("alert 00 00 in the middle of a poll", ("mep",), counter("alert_before_response"))
LEAK = Fault("MEP packet on the optical line", ("optical",), counter("mep_leak"))
NAK = Fault("request NAKed by the meter", ("optical",), counter("nak"))
DUPLICATE = Fault("late duplicate answer", ("optical",), counter("duplicate_toggle"))
CUT = Fault("disconnect mid-packet", BOTH, counter("cut"))
HANG_UP = Fault("disconnect before the answer", BOTH, counter("disconnect"))
REBOOT = Fault(
    "meter reboot (session and sequence reset)", BOTH, lambda running, _: running.sim.reboot()
)


async def loaded(
    hass: HomeAssistant, start_meter: StartMeter, link: str, **options: Any
) -> tuple[RunningMeter, Any]:
    running = await start_meter(link=link)
    entry = make_entry(hass, running, options={"timeout": 0.1} | options)
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    return running, entry


# -- faults the link absorbs -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "link"),
    [
        case
        for fault in (
            SILENCE,
            GARBAGE,
            TRUNCATE,
            BAD_CRC,
            BAD_DIGEST,
            SEQUENCE,
            BUSY,
            ALERT,
            LEAK,
            NAK,
            DUPLICATE,
            REBOOT,
        )
        for case in fault.cases()
    ],
)
async def test_a_passing_fault_is_absorbed(
    hass: HomeAssistant,
    start_meter: StartMeter,
    caplog: pytest.LogCaptureFixture,
    fault: Fault,
    link: str,
) -> None:
    """Once: retried, resynchronised or skipped inside the poll; values stay, nothing logged."""
    running, entry = await loaded(hass, start_meter, link)
    log = Log(caplog)
    log.since_mark()

    fault.arm(running, 2 if fault is ALERT else 1)  # a poll: BT23 and BT28, one read each
    running.meter.advance(60)
    await poll(hass)

    assert entry.runtime_data.coordinator.last_update_success
    assert hass.states.get(ENERGY_IMPORT).state == expected_import(running.meter)
    faults = running.sim.faults
    assert all(getattr(faults, name) == 0 for name in faults.names())  # it did fire
    logged = log.since_mark()
    assert logged == []
    record(
        f"{fault.label}, once",
        link,
        shown=shown(hass),
        poll="ok (handled by the link)",
        logged=describe(logged),
        recovery="-",
    )


async def test_alerts_between_polls_are_skipped(
    hass: HomeAssistant, start_meter: StartMeter, caplog: pytest.LogCaptureFixture
) -> None:
    """A registered MEP device's meter repeats `00 00` every second: consumed, never a reply."""
    running, entry = await loaded(hass, start_meter, "mep")
    log = Log(caplog)
    log.since_mark()

    running.sim.faults.alerts = True
    await asyncio.sleep(1.2)  # the meter sends its alert after a quiet second
    await poll(hass)
    await poll(hass)

    assert entry.runtime_data.coordinator.last_update_success
    assert entry.runtime_data.coordinator._client.link.alerts_seen >= 1
    assert hass.states.get(ENERGY_IMPORT).state == expected_import(running.meter)
    logged = log.since_mark()
    assert logged == []
    record(
        "alerts 00 00 every second",
        "mep",
        shown=shown(hass),
        poll="ok (alerts consumed)",
        logged=describe(logged),
        recovery="-",
    )


# -- faults that last --------------------------------------------------------------------------

LASTING: list[tuple[Fault, str, str | None]] = [
    (SILENCE, "optical", "timeout"),
    (SILENCE, "mep", "timeout"),
    (GARBAGE, "optical", None),  # skipped: no 0xEE, ACK or NAK in it
    (GARBAGE, "mep", "integrity"),  # no start byte: the length field is lost
    (TRUNCATE, "optical", "timeout"),
    (TRUNCATE, "mep", "timeout"),
    (BAD_CRC, "optical", "integrity"),
    (BAD_DIGEST, "mep", "integrity"),
    (SEQUENCE, "mep", "integrity"),
    (BUSY, "optical", "meter_error"),
    (BUSY, "mep", "meter_error"),
    (NOT_POSSIBLE, "optical", "meter_error"),
    (NOT_POSSIBLE, "mep", "meter_error"),
    (CUT, "optical", "cannot_connect"),
    (CUT, "mep", "cannot_connect"),
    (HANG_UP, "optical", "cannot_connect"),
    (HANG_UP, "mep", "cannot_connect"),
]


@pytest.mark.parametrize(
    ("fault", "link", "error"),
    [pytest.param(*case, id=f"{case[0].label}-{case[1]}") for case in LASTING],
)
async def test_a_lasting_fault_is_logged_once_and_recovers(
    hass: HomeAssistant,
    start_meter: StartMeter,
    caplog: pytest.LogCaptureFixture,
    fault: Fault,
    link: str,
    error: str | None,
) -> None:
    """Every answer spoilt: unavailable, one log line for all the failed polls, one when back,
    and values again at the first poll after the fault clears."""
    running, entry = await loaded(hass, start_meter, link)
    coordinator = entry.runtime_data.coordinator
    log = Log(caplog)
    log.since_mark()

    fault.arm(running, 99)
    states = []
    for _ in range(FAILING_POLLS):
        await poll(hass)
        states.append(shown(hass))
    during = log.since_mark()

    if error is None:
        assert coordinator.last_update_success
        assert states == [shown(hass)] * FAILING_POLLS
        assert during == []
        recovery = "-"
    else:
        assert not coordinator.last_update_success
        assert coordinator.last_exception.translation_key == error
        assert set(states) == {f"{STATE_UNAVAILABLE} / {STATE_UNAVAILABLE}"}
        assert [record.levelno for record in during] == [logging.ERROR]
        assert during[0].getMessage().startswith("Error fetching")
        assert str(coordinator.last_exception) in during[0].getMessage()

        running.sim.faults.clear()
        running.meter.advance(60)
        await poll(hass)  # the first poll after the fault clears

        assert coordinator.last_update_success
        assert hass.states.get(ENERGY_IMPORT).state == expected_import(running.meter)
        back = log.since_mark()
        assert [record.getMessage() for record in back] == [
            f"Fetching {coordinator.name} data recovered"
        ]
        recovery = f"next poll; {describe(back)}"
    record(
        f"{fault.label}, lasting",
        link,
        shown=states[-1],
        poll="ok (skipped)" if error is None else f"fails: {error}",
        logged=describe(during),
        recovery=recovery,
    )


# -- the key -----------------------------------------------------------------------------------


@pytest.mark.parametrize("link", BOTH)
async def test_key_rejected_starts_reauth_without_a_retry_storm(
    hass: HomeAssistant,
    start_meter: StartMeter,
    caplog: pytest.LogCaptureFixture,
    link: str,
) -> None:
    """The grid company changed the key: one rejected attempt, reauth, no polling until the
    user gives the new key, and then values at once."""
    running, entry = await loaded(hass, start_meter, link)
    log = Log(caplog)
    log.since_mark()

    running.meter.key = NEW_KEY.encode()
    running.sim.reboot()  # the meter drops the optical session: the next one needs the key
    for _ in range(FAILING_POLLS):
        await poll(hass, 60)

    assert running.failed_logons == 1  # tried once, never again on its own
    assert hass.states.get(ENERGY_IMPORT).state == STATE_UNAVAILABLE
    flows = hass.config_entries.flow.async_progress()
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
    during = log.since_mark()
    assert [record.levelno for record in during] == [logging.ERROR]
    assert during[0].getMessage().startswith("Authentication failed while fetching")

    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {CONF_KEY: NEW_KEY}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert result["reason"] == "reauth_successful"
    assert entry.state is ConfigEntryState.LOADED
    assert hass.states.get(ENERGY_IMPORT).state == expected_import(running.meter)
    assert running.failed_logons == 1
    record(
        "authentication failure (key changed)",
        link,
        shown=f"{STATE_UNAVAILABLE} / {STATE_UNAVAILABLE}",
        poll="fails: invalid_key; reauth flow; polling stops (1 attempt in all)",
        logged=describe(during),
        recovery="on the new key: reloaded, values at once",
    )


# -- the port ----------------------------------------------------------------------------------


@pytest.fixture
async def by_id(tmp_path: Path) -> AsyncGenerator[Path]:
    """A stable port path (like /dev/serial/by-id/…) that tests point at a pty, or at nothing."""
    path = tmp_path / "usb-IR-probe"
    yield path
    path.unlink(missing_ok=True)


def unplug(path: Path) -> None:
    path.unlink()


def plug(path: Path, running: RunningMeter) -> None:
    path.unlink(missing_ok=True)
    os.symlink(running.port, path)


def lock(path: Path) -> int:
    """Open and lock the port the way another program (serialx, an add-on) does."""
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


async def test_port_unplugged_and_back(
    hass: HomeAssistant,
    start_meter: StartMeter,
    caplog: pytest.LogCaptureFixture,
    issue_registry: ir.IssueRegistry,
    by_id: Path,
) -> None:
    """The USB probe is pulled: unavailable and a repair while the path is gone; plugged back
    in (as a new tty), values at the next poll and the repair is gone."""
    meter = SimulatedMeter()
    first = await start_meter(meter, via="pty")
    plug(by_id, first)
    entry = make_entry(hass, first, port=str(by_id), options={"timeout": 0.1})
    await setup_entry(hass, entry)
    coordinator = entry.runtime_data.coordinator
    issue_id = f"port_missing_{entry.entry_id}"
    log = Log(caplog)
    log.since_mark()

    unplug(by_id)
    await first.sim.close()  # the tty goes with the device
    for _ in range(FAILING_POLLS):
        await poll(hass)
    assert hass.states.get(ENERGY_IMPORT).state == STATE_UNAVAILABLE
    assert coordinator.last_exception.translation_key == "port_missing"
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "port_missing"
    during = log.since_mark()
    assert [record.levelno for record in during] == [logging.ERROR]

    second = await start_meter(meter, via="pty")
    plug(by_id, second)
    await poll(hass)

    assert coordinator.last_update_success
    assert hass.states.get(ENERGY_IMPORT).state == expected_import(meter)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    back = log.since_mark()
    assert [record.levelno for record in back] == [logging.INFO]
    record(
        "port disappears (USB unplug) and comes back",
        "optical",
        shown=f"{STATE_UNAVAILABLE} / {STATE_UNAVAILABLE}",
        poll="fails: port_missing; repair issue port_missing while the path is gone",
        logged=describe(during),
        recovery=f"next poll after replug, repair cleared; {describe(back)}",
    )


async def test_port_held_by_another_process(
    hass: HomeAssistant,
    start_meter: StartMeter,
    caplog: pytest.LogCaptureFixture,
    issue_registry: ir.IssueRegistry,
    by_id: Path,
) -> None:
    """Another program holds the port: a clear cannot_connect naming the lock, no repair, and
    values at the first poll after it lets go. While we hold the port, nobody else gets it."""
    meter = SimulatedMeter()
    first = await start_meter(meter, via="pty")
    plug(by_id, first)
    other = lock(by_id)
    entry = make_entry(hass, first, port=str(by_id), options={"timeout": 0.1})
    log = Log(caplog)
    log.since_mark()

    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.error_reason_translation_key == "cannot_connect"
    assert "locked by another process" in (entry.reason or "")
    at_setup = log.since_mark()
    assert [record.levelno for record in at_setup] == [logging.INFO]  # "not ready yet"

    os.close(other)
    await poll(hass, 60)  # the set-up retry
    assert entry.state is ConfigEntryState.LOADED
    assert hass.states.get(ENERGY_IMPORT).state == expected_import(meter)
    coordinator = entry.runtime_data.coordinator
    with pytest.raises(BlockingIOError):  # ours now: a second reader would corrupt both
        lock(by_id)
    log.since_mark()

    # Unplugged and plugged back in, and another program grabs it first.
    unplug(by_id)
    await first.sim.close()
    second = await start_meter(meter, via="pty")
    plug(by_id, second)
    other = lock(by_id)
    for _ in range(FAILING_POLLS):
        await poll(hass)
    assert hass.states.get(ENERGY_IMPORT).state == STATE_UNAVAILABLE
    assert coordinator.last_exception.translation_key == "cannot_connect"
    assert "locked by another process" in str(coordinator.last_exception)
    assert issue_registry.async_get_issue(DOMAIN, f"port_missing_{entry.entry_id}") is None
    during = log.since_mark()
    assert [record.levelno for record in during] == [logging.ERROR]

    os.close(other)
    await poll(hass)
    assert coordinator.last_update_success
    assert hass.states.get(ENERGY_IMPORT).state == expected_import(meter)
    back = log.since_mark()
    assert [record.levelno for record in back] == [logging.INFO]
    record(
        "port held by another process",
        "optical",
        shown=f"{STATE_UNAVAILABLE} / {STATE_UNAVAILABLE}",
        poll="fails: cannot_connect (…already locked by another process); set-up retried",
        logged=f"at set-up: {describe(at_setup)}; while running: {describe(during)}",
        recovery=f"first poll after the lock goes; {describe(back)}",
    )


# -- the registers -----------------------------------------------------------------------------


@pytest.mark.parametrize("link", BOTH)
async def test_counters_lower_than_before(
    hass: HomeAssistant,
    start_meter: StartMeter,
    caplog: pytest.LogCaptureFixture,
    link: str,
) -> None:
    """A register that reads lower once is not published; one that stays lower and counts
    on from there (a reset, a replaced meter, while power flows) is, at the third reading,
    and logged once."""
    running, _ = await loaded(hass, start_meter, link)
    log = Log(caplog)
    log.since_mark()
    meter = running.meter

    saved = [block[:] for block in meter.energy]
    meter.energy[0][0] -= 5_000  # 5 kWh lower, once
    await poll(hass)
    glitch = shown(hass)
    assert hass.states.get(ENERGY_IMPORT).state == STATE_UNKNOWN
    meter.energy = saved
    await poll(hass)
    assert hass.states.get(ENERGY_IMPORT).state == expected_import(meter)
    assert log.since_mark() == []
    record(
        "counters read lower than before, once",
        link,
        shown=glitch,
        poll="ok; that register unknown for the poll",
        logged="nothing",
        recovery="next poll",
    )

    meter.reset_counters()  # and the house keeps using power: the new registers count up
    states = []
    for _ in range(3):
        meter.advance(10)
        await poll(hass)
        states.append(hass.states.get(ENERGY_IMPORT).state)
    assert states == [STATE_UNKNOWN, STATE_UNKNOWN, expected_import(meter)]
    meter.advance(3600)
    await poll(hass)
    assert hass.states.get(ENERGY_IMPORT).state == expected_import(meter)
    logged = log.since_mark()
    assert [record.levelno for record in logged] == [logging.WARNING]
    assert "meter reset" in logged[0].getMessage()
    record(
        "counters reset for good (meter reset / exchange)",
        link,
        shown=" → ".join(states),
        poll="ok; unknown for 2 polls, the 3rd low reading counting up is published (new cycle)",
        logged=describe(logged),
        recovery="counts up from the new value",
    )


def test_the_reset_warning_names_the_registers() -> None:
    """The coordinator logs the registers the guard published as a reset."""
    guard = coordinator_module.EnergyGuard(confirmations=1)
    guard.accept("energy_import", 10.0)
    guard.accept("energy_import", 1.0)
    assert guard.take_resets() == ["energy_import"]
    assert guard.take_resets() == []
