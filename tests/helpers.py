"""Small builders shared by the tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def post(i: int, text: str = "pothole on Main St", **extra: Any) -> dict[str, Any]:
    base = {
        "platform": "x",
        "external_id": str(1_000_000 + i),
        "author": f"resident{i}",
        "text": text,
        "created_at": f"2026-11-20T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
    }
    base.update(extra)
    return base


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(row if isinstance(row, str) else json.dumps(row, ensure_ascii=False))
            fh.write("\n")
    return path
