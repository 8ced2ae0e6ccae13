"""The seeds' experiments: LeNet-5 anatomy, pixel shuffle, sin -> cos, the LSTM reader."""
