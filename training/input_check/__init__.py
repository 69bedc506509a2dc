"""Fitting and measuring the input check: the input gate, its features and data, the feature detector and temperature,
the assembled images of other kinds."""
