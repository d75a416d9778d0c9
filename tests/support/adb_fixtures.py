"""Fixtures: to be filled by the area owner."""
