"""Atomic file writes: bytes, text, JSON, CSV and figures.

Every file is written to a temporary name in the same folder and renamed into
place, so an interrupted run never leaves a half-written result behind.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_write_csv",
    "atomic_write_figure",
]


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode())


def atomic_write_json(path, obj) -> Path:
    return atomic_write_text(
        path, json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n"
    )


def atomic_write_figure(fig, out, stem: str, formats=("png", "pdf"), **savefig) -> list[Path]:
    """Save a matplotlib figure as ``out/stem.png`` and ``.pdf`` (150 dpi), each written
    atomically; ``savefig`` options go to ``fig.savefig``."""
    paths = []
    for fmt in formats:
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, **{"dpi": 150, **savefig})
        paths.append(atomic_write_bytes(Path(out) / f"{stem}.{fmt}", buf.getvalue()))
    return paths


def atomic_write_csv(path, rows: list[dict]) -> Path:
    """Write a list of flat dicts as CSV (columns: union of keys, in first-seen order)."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: _jsonable(v) if isinstance(v, (list, dict)) else v for k, v in row.items()}
        )
    return atomic_write_text(path, buf.getvalue())


def _jsonable(obj):
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (list, dict)):
        return json.dumps(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")
