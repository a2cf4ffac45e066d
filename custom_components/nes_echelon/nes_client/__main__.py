"""`python -m custom_components.nes_echelon.nes_client read …`: read a meter (README)."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
