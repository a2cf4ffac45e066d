"""The `nes-echelon` command, run as `python -m`: read a meter, or run the simulator (README)."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
