"""One phone shared by a test's hypothesis examples (starting one per example is slow)."""

from __future__ import annotations

import pytest


@pytest.fixture
def virtual_phone_once(virtual_phone):
    return virtual_phone(profile="pixel8")
