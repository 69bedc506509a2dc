"""From a run to the one-file artifact: export, the operating point, int8 calibration images, provenance, the model
card."""
