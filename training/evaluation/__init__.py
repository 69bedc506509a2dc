"""Measuring an artifact: accuracy and calibration, explanation quality, counterfactual removal, the shortcut, and
their reports."""
