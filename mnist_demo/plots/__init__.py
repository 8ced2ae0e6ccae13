"""Matplotlib figures (no model code: tests/test_layout.py checks)."""
