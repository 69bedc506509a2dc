"""The input check: is this an image the model may answer? Cheap checks, the input gate and the feature detector (with
the temperature fitted beside it)."""
