"""Fail when any module of the integration (or the client it bundles) is below the floor.

    python scripts/coverage_per_module.py [FLOOR] [FOLDER]   (after pytest --cov; scripts/test)

The total coverage (pyproject's fail_under) can hide one module left half-tested; this checks
each file of FOLDER (default custom_components/nes_echelon) on its own, lines and branches
together as coverage.py counts them.
"""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys
import tempfile


def main(floor: float = 95.0, folder: str = "custom_components/nes_echelon") -> int:
    with tempfile.TemporaryDirectory() as work:
        report = Path(work) / "coverage.json"
        subprocess.run(
            [sys.executable, "-m", "coverage", "json", "--quiet", "-o", str(report)], check=True
        )
        files = json.loads(report.read_text())["files"]
    below = {
        name: data["summary"]["percent_covered"]
        for name, data in files.items()
        if name.startswith(folder) and data["summary"]["percent_covered"] < floor
    }
    checked = sum(1 for name in files if name.startswith(folder))
    for name, percent in sorted(below.items()):
        print(f"{name}: {percent:.1f} % < {floor:g} %", file=sys.stderr)
    passed = checked - len(below)
    print(f"coverage per module: {passed} of {checked} modules of {folder} >= {floor:g} %")
    return 1 if below or not checked else 0


if __name__ == "__main__":
    sys.exit(main(*(float(a) if i == 0 else a for i, a in enumerate(sys.argv[1:]))))
