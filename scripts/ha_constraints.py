"""Write a Home Assistant release's own dependency pins (package_constraints.txt) to a file.

    python scripts/ha_constraints.py 2026.10.4 OUT.txt

Home Assistant installs every integration's requirements under these pins, so an environment
built with `pip install -c OUT.txt …` has the library versions a user of that release runs.
The file is read from the release's wheel (downloaded without its dependencies; pip caches it).
"""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys
import tempfile
import zipfile

CONSTRAINTS_IN_WHEEL = "homeassistant/package_constraints.txt"
# A user who reaches the meter through an ESPHome serial proxy has Home Assistant's esphome
# integration, which installs aioesphomeapi at its own pin: the tests use that one too.
ESPHOME_MANIFEST_IN_WHEEL = "homeassistant/components/esphome/manifest.json"

# Pins we replace, and why. Only the development instance needs these (the voice pipeline that
# the frontend's service descriptions import); Home Assistant pins versions without Python 3.14
# wheels, which would need a C compiler here. requirements_test.txt names the versions we use.
DEVELOPMENT_ONLY_OVERRIDES = frozenset({"pymicro-vad", "pyspeex-noise"})


def pinned_name(line: str) -> str:
    for separator in ("==", ">=", "<=", "!=", "~=", "<", ">"):
        if separator in line:
            return line.split(separator, 1)[0].strip().lower()
    return line.strip().lower()


def release_constraints(version: str) -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"),
                *("--dest", folder, f"homeassistant=={version}"),
            ],
            check=True,
        )
        (wheel,) = Path(folder).glob("homeassistant-*.whl")
        with zipfile.ZipFile(wheel) as archive:
            lines = archive.read(CONSTRAINTS_IN_WHEEL).decode().splitlines()
            esphome = json.loads(archive.read(ESPHOME_MANIFEST_IN_WHEEL))
    return lines + [pin for pin in esphome["requirements"] if pin.startswith("aioesphomeapi==")]


def main(version: str, out: str) -> None:
    kept = [
        line
        for line in release_constraints(version)
        if pinned_name(line) not in DEVELOPMENT_ONLY_OVERRIDES
    ]
    header = f"# homeassistant=={version} package_constraints.txt"
    Path(out).write_text("\n".join([header, *kept]) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
