"""Fixtures for the tests that run inside Home Assistant (tests/integration only).

The pure protocol-client tests in tests/nes_client never start Home Assistant; everything
here is scoped to this folder.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant's loader find custom_components/nes_echelon in every test here."""
