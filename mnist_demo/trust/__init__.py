"""Trust (issue 21): calibrated probabilities, "that's not a digit", and drawings that fool a model."""
