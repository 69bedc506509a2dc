"""The DICOM node (``python -m service.dimse``): C-ECHO and C-STORE of MR series by DIMSE, each complete series
analysed by the one pipeline, its results C-STOREd to a destination. See docs/DICOM.md."""
