"""Shared test fixtures: where ../shared lives and the seeded published-layout weights."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CONFORMANCE = SHARED / "conformance"


@pytest.fixture(scope="session")
def seeded_weights():
    """make_state_dict(variant, seed) from the conformance folder (numpy arrays, published layout)."""
    if not (CONFORMANCE / "seeded_weights.py").is_file():
        pytest.skip(f"conformance fixtures not found at {CONFORMANCE}")
    sys.path.insert(0, str(CONFORMANCE))
    try:
        from seeded_weights import make_state_dict
    finally:
        sys.path.remove(str(CONFORMANCE))
    return make_state_dict
