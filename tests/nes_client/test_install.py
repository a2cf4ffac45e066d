"""`pip install <repository>` as an owner does it on a laptop, then the `nes-echelon` command.

A fresh venv made by the running interpreter (`-m venv`, so no Home Assistant in it), the
repository pip-installed into it with build isolation (the build backend and serialx come from
PyPI, or pip's cache), then the installed `nes-echelon simulate` and `nes-echelon read --json`
as two processes: the values read are the simulator's. scripts/cli-check does the same with any
interpreter (the lowest supported one in CI).
"""

from __future__ import annotations

from collections.abc import Iterator
import json
import os
from pathlib import Path
import signal
import subprocess
import sys

import pytest

from nes_echelon_dev.simulator import SimulatedMeter
from tests.nes_client.test_cli import AUTH_FAILED, WRONG_KEY, assert_report

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "custom_components" / "nes_echelon" / "nes_client"
PACKAGE = "nes_echelon_client"  # the distribution's top-level package (pyproject.toml)
KEY = "MY-OWN-METER-KEY-123"
INSTALL_TIMEOUT = 240.0  # seconds; a first run downloads the build backend and serialx

pytestmark = [pytest.mark.install, pytest.mark.timeout(INSTALL_TIMEOUT + 60)]


def owner_env() -> dict[str, str]:
    """This environment without what would let the venv see the repository or our venv."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PYTHON", "COV_CORE_", "COVERAGE_")) and name != "VIRTUAL_ENV"
    }
    return env | {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with `pip install <repository>` done, as an owner's."""
    path = tmp_path_factory.mktemp("owner") / "venv"
    subprocess.run([sys.executable, "-m", "venv", path], check=True, env=owner_env(), timeout=120)
    installed = subprocess.run(
        [path / "bin" / "python", "-m", "pip", "install", "--quiet", REPO],
        capture_output=True,
        text=True,
        env=owner_env(),
        cwd=path,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return path


def run(venv: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """A command of the venv's bin/, from a folder outside the repository."""
    return subprocess.run(
        [venv / "bin" / argv[0], *argv[1:]],
        capture_output=True,
        text=True,
        env=owner_env(),
        cwd=venv,
        timeout=60,
        check=False,
    )


@pytest.fixture
def simulator(venv: Path) -> Iterator[str]:
    """`nes-echelon simulate` of the venv on a free TCP port; yields its socket:// port."""
    argv = ["simulate", "--link", "optical", "--tcp", "127.0.0.1:0", "--static", "--key", KEY]
    proc = subprocess.Popen(
        [venv / "bin" / "nes-echelon", *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=owner_env(),
        cwd=venv,
    )
    try:
        assert proc.stdout is not None
        printed: list[str] = []
        while not printed or not printed[-1].startswith("key: "):  # its last line
            line = proc.stdout.readline()
            assert line, f"the simulator exited: {printed}{proc.communicate()[1]}"
            printed.append(line.rstrip("\n"))
        assert printed[0] == "Simulated NES/Echelon meter, optical port, serial 0710123456"
        assert printed[-1] == f"key: {KEY}"
        (port,) = (line[6:] for line in printed if line.startswith("port: socket://127.0.0.1:"))
        yield port
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
    assert code == 0, proc.communicate()[1]


def test_installed_package_is_the_whole_client(venv: Path) -> None:
    """Every module of the one copy in custom_components/ (subpackages, py.typed) is installed,
    under the distribution's own name, and Home Assistant is not there."""
    found = run(venv, "python", "-c", f"import {PACKAGE}; print({PACKAGE}.__file__)")
    assert found.returncode == 0, found.stderr
    installed = Path(found.stdout.strip()).parent
    assert installed.parent.name == "site-packages"

    def files(root: Path) -> set[str]:
        return {
            str(path.relative_to(root))
            for path in root.rglob("*")
            if path.suffix in {".py", ".typed"} and "__pycache__" not in path.parts
        }

    assert files(installed) == files(SOURCE)
    assert "py.typed" in files(installed)
    # The simulator comes with the development package (nes-echelon simulate), not the client.
    dev = installed.parent / "nes_echelon_dev"
    assert files(dev) == files(REPO / "nes_echelon_dev")
    assert "simulator/meter.py" in files(dev)

    ha = run(venv, "python", "-c", "import homeassistant")
    assert ha.returncode == 1
    assert "ModuleNotFoundError: No module named 'homeassistant'" in ha.stderr
    nothing_else = run(venv, "python", "-c", "import custom_components")
    assert nothing_else.returncode == 1


def test_nes_echelon_read_json_from_the_simulator(venv: Path, simulator: str) -> None:
    """What an owner runs first: `read --json` prints exactly the (simulated) meter's values;
    `--debug` logs the frames (key masked); a wrong key is told apart."""
    owner = ["nes-echelon", "read", "--port", simulator, "--key", KEY, "--link", "optical"]
    read = run(venv, *owner, "--json")
    assert read.returncode == 0, read.stderr
    assert read.stderr == ""
    assert_report(json.loads(read.stdout), SimulatedMeter())

    debug = run(venv, "nes-echelon", "--debug", *owner[1:])
    assert debug.returncode == 0, debug.stderr
    assert debug.stdout.startswith("Meter 0710123456: ")
    assert " tx ee 00 " in debug.stderr
    assert KEY not in debug.stderr

    wrong = run(venv, "nes-echelon", "read", "--port", simulator, "--key", WRONG_KEY)
    assert (wrong.returncode, wrong.stdout, wrong.stderr) == (1, "", AUTH_FAILED)


def test_nes_echelon_help(venv: Path) -> None:
    helped = run(venv, "nes-echelon", "--help")
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("usage: nes-echelon [-h] [--debug] {read,simulate}")
