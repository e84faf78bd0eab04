"""Every paper artifact ``fe run`` knows, collected from the three parts.

Each part describes its figures and tables as
:class:`~finite_expressivity.core.artifact.Artifact` s; this is the one place that lists
them all. To add an artifact, append it to its part's ``ARTIFACTS`` tuple.
"""

from __future__ import annotations

__all__ = ["all_artifacts", "get_artifact"]


def all_artifacts() -> dict:
    """``{name: Artifact}`` for every part, in the paper's order."""
    from .randomization.catalog import ARTIFACTS as randomization
    from .section5.studies import ARTIFACTS as section5
    from .theorem1.certified_table import ARTIFACTS as theorem1

    return {a.name: a for a in (*theorem1, *randomization, *section5)}


def get_artifact(name: str):
    """The artifact called ``name`` (ValueError naming the known ones otherwise)."""
    arts = all_artifacts()
    try:
        return arts[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown artifact {name!r}; choose one of {', '.join(arts)}") from None
