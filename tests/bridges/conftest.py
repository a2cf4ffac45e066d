"""Fixtures for the tests through real network serial bridges; here: ser2net in front of a pty.

Owners run ser2net on a small computer next to the meter and give Home Assistant
`socket://host:port` (raw TCP) or `rfc2217://host:port` (RFC 2217 telnet). Here the meter is
the bundled simulator serving a pty, and ser2net (4.x, YAML configuration) opens that pty
through a symlink in the test's tmp_path: the pty's own path changes whenever a simulator is
started again, the symlink is the stable name (like /dev/serial/by-id/… for a USB adapter).
ser2net listens on two free 127.0.0.1 ports, one accepter per scheme, both on that device.

Without ser2net the tests are skipped, except where CI is "true" (CI installs it): there they
fail.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import contextlib
import os
from pathlib import Path
import random
import re
import shutil
import socket
import subprocess
import sys
from typing import Literal

import pytest

# The simulated meters of tests/integration, shared rather than copied: pytest finds a fixture
# by its name in a conftest's namespace. Nothing here is autouse: other tests in this folder
# need not run inside Home Assistant.
from tests.integration.conftest import start_meter  # noqa: F401

type Scheme = Literal["socket", "rfc2217"]

SCHEMES: tuple[Scheme, ...] = ("socket", "rfc2217")
# How each scheme's accepter is written in ser2net.yaml (gensio stacks: telnet over tcp).
ACCEPTERS: dict[Scheme, str] = {"socket": "tcp", "rfc2217": "telnet(rfc2217),tcp"}
SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin")  # Debian's ser2net is not on a user's PATH
READY_TIMEOUT = 15.0  # seconds for ser2net to listen; generous for a loaded 2-core machine
STOP_TIMEOUT = 10.0
LOOPBACK = "127.0.0.1"
PORT_FLOOR = 20000  # ports are picked from here up to the ephemeral range
_RANDOM = random.SystemRandom()  # not reseeded per test (pytest-randomly): runs pick apart
# 127.0.0.1 as /proc/net/tcp shows it: the address as a native-endian 32-bit hex number.
PROC_LOOPBACK = f"{int.from_bytes(socket.inet_aton(LOOPBACK), sys.byteorder):08X}"
TCP_LISTEN = "0A"


def _find_ser2net() -> tuple[list[str], str | None]:
    """The command that starts ser2net 4.x, or why there is none."""
    binary = shutil.which("ser2net") or shutil.which("ser2net", path=os.pathsep.join(SBIN))
    if binary is None:
        return [], "ser2net is not installed (Debian/Ubuntu: apt-get install ser2net)"
    try:
        result = subprocess.run(
            [binary, "-v"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return [], f"{binary} -v failed: {err}"
    output = result.stdout + result.stderr
    version = re.search(r"version (\d+)\.", output)
    if version is None or int(version[1]) < 4:
        return [], f"{binary} is not ser2net 4.x (YAML configuration): {output.strip()!r}"
    setpriv = shutil.which("setpriv")
    if setpriv and "--pdeathsig" in _help(setpriv):
        # Belt and braces: ser2net is killed with the test process even if that dies before
        # the fixture's teardown (which kills it otherwise).
        return [setpriv, "--pdeathsig", "KILL", "--", binary], None
    return [binary], None


def _help(program: str) -> str:
    try:
        result = subprocess.run(
            [program, "--help"], capture_output=True, text=True, timeout=10, check=False
        )
    except OSError, subprocess.TimeoutExpired:
        return ""
    return result.stdout


@pytest.fixture(scope="session")
def ser2net_found() -> tuple[list[str], str | None]:
    """How to start ser2net, or why it cannot be (looked up once)."""
    return _find_ser2net()


def free_ports(count: int) -> list[int]:
    """Loopback ports nobody uses now, below the kernel's ephemeral range when it leaves room:
    those no other program gets by chance (an outgoing connection, a bind to port 0) while
    ser2net is down between a stop and a start. Held together while picked, so they differ."""
    with contextlib.ExitStack() as stack:
        picked: list[socket.socket] = []
        low = _ephemeral_low()
        candidates = _RANDOM.sample(range(PORT_FLOOR, low), min(200, max(0, low - PORT_FLOOR)))
        for port in candidates:
            if len(picked) == count:
                break
            sock = stack.enter_context(socket.socket())
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                continue
            picked.append(sock)
        while len(picked) < count:  # no room below the range: the kernel's pick
            sock = stack.enter_context(socket.socket())
            sock.bind((LOOPBACK, 0))
            picked.append(sock)
        return [int(sock.getsockname()[1]) for sock in picked]


def _ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (Linux's default: 32768)."""
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text(encoding="ascii")
        return int(text.split()[0])
    except OSError, ValueError, IndexError:
        return PORT_FLOOR


def _listeners(port: int) -> set[str]:
    """Inodes of the sockets listening on 127.0.0.1:port (Linux's /proc/net/tcp).

    Read rather than probed: a test connection would be ser2net's one client for a moment,
    and the real client connecting right after it can be turned away.
    """
    local = f"{PROC_LOOPBACK}:{port:04X}"
    rows = Path("/proc/net/tcp").read_text(encoding="ascii").splitlines()[1:]
    return {
        fields[9]
        for fields in (row.split() for row in rows)
        if fields[1] == local and fields[3] == TCP_LISTEN
    }


def _socket_inodes(pid: int) -> set[str]:
    """Inodes of the sockets the process holds open."""
    inodes = set()
    with contextlib.suppress(OSError):  # the process may be gone
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if found := re.fullmatch(r"socket:\[(\d+)\]", os.readlink(fd)):
                    inodes.add(found[1])
    return inodes


class Ser2Net:
    """A ser2net process with a raw TCP and an RFC 2217 accepter, both on `device`.

    `start()` again after `stop()` reuses the same ports, as a restarted bridge does.
    """

    def __init__(self, command: list[str], directory: Path, *, missing: str | None = None) -> None:
        self._command = command
        self._missing = missing  # why ser2net cannot run: start() fails the test
        self.device = directory / "ttyNES"
        self.config = directory / "ser2net.yaml"
        self.log = directory / "ser2net.log"
        self._pid_file = directory / "ser2net.pid"
        self.ports: dict[Scheme, int] = {}
        self._process: asyncio.subprocess.Process | None = None

    def url(self, scheme: Scheme) -> str:
        """The port a user types into Home Assistant to reach the meter this way."""
        return f"{scheme}://{LOOPBACK}:{self.ports[scheme]}"

    def plug(self, tty: str) -> None:
        """Point the device ser2net opens at a (new) pty: the serial line is connected."""
        self.device.unlink(missing_ok=True)
        self.device.symlink_to(tty)

    def unplug(self) -> None:
        """Remove the device, as udev removes an unplugged USB adapter's by-id link.

        Not left dangling: a pty number is reused, possibly by another test's pty.
        """
        self.device.unlink(missing_ok=True)

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.returncode is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else "(no output)"

    def listening(self) -> bool:
        """Both accepters are listening, on sockets of this process."""
        if not self.alive:
            return False
        assert self._process is not None
        listeners = [_listeners(port) for port in self.ports.values()]
        ours = _socket_inodes(self._process.pid)
        return all(found & ours for found in listeners)

    async def start(self) -> None:
        """Start ser2net and return once both of its ports accept connections."""
        assert not self.alive, "ser2net is running already"
        if self._missing is not None:
            pytest.fail(f"{self._missing}; CI installs ser2net, so these tests must run there")
        fresh = not self.ports
        state = "not started"
        for _ in range(3):
            if fresh:
                self.ports = dict(zip(SCHEMES, free_ports(len(SCHEMES)), strict=True))
            self._write_config()
            self._process = await self._spawn()
            state = await self._until_listening()
            if state == "ready":
                return
            await self.stop()
            if state != "taken" or not fresh:
                break
            # Another program took a port between our pick and ser2net's bind: pick again.
        pytest.fail(
            f"ser2net did not listen on {self.ports} ({state}); its output:\n{self.log_text()}"
        )

    async def stop(self) -> None:
        """Kill ser2net, as a crash or a power cut ends it (no goodbye to the clients)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT)

    def _write_config(self) -> None:
        lines = ["%YAML 1.1", "---"]
        for scheme, port in self.ports.items():
            lines += [
                f"connection: &{scheme}",
                f"  accepter: {ACCEPTERS[scheme]},{LOOPBACK},{port}",
                # local: no modem control lines (a pty has none; most adapters wire none).
                f"  connector: serialdev,{self.device},9600n81,local",
            ]
        self.config.write_text("\n".join(lines) + "\n", encoding="utf-8")

    async def _spawn(self) -> asyncio.subprocess.Process:
        # -d: in the foreground, messages to stdout; -u: no UUCP lock files (in /var/lock).
        arguments = ["-d", "-u", "-c", str(self.config), "-P", str(self._pid_file)]
        with self.log.open("ab") as log:
            return await asyncio.create_subprocess_exec(
                *self._command,
                *arguments,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def _until_listening(self) -> str:
        """'ready', or why not: 'exited', 'taken' (another program listens), 'timeout'."""
        assert self._process is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT
        foreign = 0
        while True:
            if self._process.returncode is not None:
                return "exited"
            # Listeners first: a socket listening then is among the process's files after.
            listeners = [_listeners(port) for port in self.ports.values()]
            ours = _socket_inodes(self._process.pid)
            if all(found & ours for found in listeners):
                return "ready"
            foreign = foreign + 1 if any(found - ours for found in listeners) else 0
            if foreign >= 3:
                return "taken"  # a port has one listener only; it will not be ser2net
            if loop.time() > deadline:
                return "timeout"
            await asyncio.sleep(0.02)


@pytest.fixture
async def bridge(
    ser2net_found: tuple[list[str], str | None], tmp_path: Path, socket_enabled: None
) -> AsyncGenerator[Ser2Net]:
    """A ser2net bridge, not started yet: `plug()` a pty, then `start()`. Killed afterwards.

    Without ser2net the test is skipped; where CI is "true" it fails instead (at `start()`).
    """
    command, missing = ser2net_found
    if missing is not None and os.environ.get("CI") != "true":
        pytest.skip(missing)
    bridge = Ser2Net(command, tmp_path, missing=missing)
    yield bridge
    await bridge.stop()
    print(f"ser2net output:\n{bridge.log_text()}")  # shown with a failing test's report
