"""Drawings: real pen data and how a drawing is rendered the way the app's pad delivers it."""
