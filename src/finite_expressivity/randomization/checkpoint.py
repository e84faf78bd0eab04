"""Per-epoch training checkpoints: written atomically, refused when they belong to
another configuration."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

from ..core.files import atomic_write_bytes

__all__ = ["fingerprint", "load_checkpoint", "save_checkpoint"]


def fingerprint(*parts) -> str:
    """A short hash of everything that decides a run's numbers."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def load_checkpoint(path, expected: str) -> dict | None:
    """The state saved at ``path`` (None if there is none).

    Raises ValueError (one line) for an unreadable file or one whose fingerprint is not
    ``expected`` (written by another configuration).
    """
    import torch

    if path is None or not Path(path).exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(
            f"checkpoint {path} is unreadable ({type(exc).__name__}); delete it "
            f"to start the run afresh"
        ) from None
    if state.get("fingerprint") != expected:
        raise ValueError(
            f"checkpoint {path} was written by another configuration; delete it "
            f"or use another output folder"
        )
    return state


def save_checkpoint(path, state: dict) -> None:
    """Write ``state`` (tensors, lists, numbers) to ``path`` atomically."""
    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(Path(path), buf.getvalue())
