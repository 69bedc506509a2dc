"""DICOM in and out: reading and mending instances, the result objects (SR, Parametric Map, Secondary Capture), series
analysis, and the DICOMweb bridge to a PACS."""
