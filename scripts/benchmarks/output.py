"""How the bench prints its notes under the tables."""

from __future__ import annotations

import textwrap


def note(text: str) -> None:
    print(textwrap.fill(text, width=100, initial_indent="  ", subsequent_indent="  "))
