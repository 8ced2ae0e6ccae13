"""Helpers shared by the test modules only (fixtures live in tests/conftest.py)."""
