"""Shared test set-up. Area fixtures live in tests/support/*_fixtures.py (one owner each)."""

pytest_plugins = [
    "tests.support.binary_fixtures",
    "tests.support.adb_fixtures",
    "tests.support.variant_fixtures",
    "tests.support.postgres_fixtures",
]
