"""Driving the running app from outside, as a visitor's browser or a script would: the test suite and
the benchmarks share it (neither imports the other)."""
