"""Golden-file comparison shared by the render tests.

Regenerate with ``UPDATE_GOLDEN=1 python -m pytest tests/...`` and review the diff in git.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).parent / "golden"


def assert_golden(relative: str, data: Any) -> None:
    path = GOLDEN / relative
    text = data if isinstance(data, str) else json.dumps(data, indent=2, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} missing: run with UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(), f"{relative} differs from its golden file"
