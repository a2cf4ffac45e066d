"""Command line: read a meter, or run the simulator (see README, "Command line")."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
