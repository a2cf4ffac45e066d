"""`python -m nes_echelon_dev`: the nes-echelon command (read a meter, or simulate one)."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
