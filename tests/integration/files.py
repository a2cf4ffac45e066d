"""Reading the integration's own JSON files (manifest, hacs.json, translations, icons)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def load_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in `path` (each of these files is one object)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name} is not a JSON object"
    return data
