"""Development tools for the NES/Echelon integration: the meter simulator and its command.

Not part of what Home Assistant installs (custom_components/nes_echelon/): the tests, the
scripts, `scripts/develop` and `nes-echelon simulate` use it. It speaks with the protocol
client's own codecs, imported by their name in a checkout,
`custom_components.nes_echelon.nes_client`. The pip distribution (`pip install .`) installs the
same files as the package `nes_echelon_client`, without Home Assistant; there this module gives
them the checkout's name too (below), so the simulator has one way to import the client.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from types import ModuleType

CHECKOUT_NAME = "custom_components.nes_echelon.nes_client"
INSTALLED_NAME = "nes_echelon_client"


def _name_the_installed_client() -> None:
    if importlib.util.find_spec("custom_components") is not None:
        return  # a checkout: the real package
    if importlib.util.find_spec(INSTALLED_NAME) is not None:
        _alias_installed_client()


def _alias_installed_client() -> None:  # pragma: no cover - tests/nes_client/test_install.py
    """Registers the installed client under the checkout's name (only in the pip distribution,
    which the install test runs in a process of its own)."""
    client = importlib.import_module(INSTALLED_NAME)
    # The two parents hold Home Assistant's integration in a checkout; here they are empty.
    parent: ModuleType | None = None
    for name in ("custom_components", "custom_components.nes_echelon"):
        module = ModuleType(name)
        module.__path__ = []
        sys.modules[name] = module
        if parent is not None:
            parent.nes_echelon = module  # type: ignore[attr-defined]
        parent = module
    parent.nes_client = client  # type: ignore[union-attr]
    sys.modules[CHECKOUT_NAME] = client
    for info in pkgutil.walk_packages(client.__path__, INSTALLED_NAME + "."):
        if info.name.endswith(".__main__"):
            continue  # running it is the command line itself
        module = importlib.import_module(info.name)
        sys.modules[CHECKOUT_NAME + info.name.removeprefix(INSTALLED_NAME)] = module


_name_the_installed_client()
