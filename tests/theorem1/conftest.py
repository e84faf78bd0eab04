"""Hypothesis settings for the Theorem 1 tests.

The mutation run (``scripts/mutation.sh`` sets ``FE_MUTATION=1``) runs every test
once per mutant: there the property tests draw a few derandomized examples."""

from __future__ import annotations

import os

from hypothesis import settings

MUTATION = bool(os.environ.get("FE_MUTATION"))
settings.register_profile("mutation", derandomize=True, database=None, deadline=None)
if MUTATION:
    settings.load_profile("mutation")
