"""The ``brainxai`` command: the service, the DICOM node, training and folder analysis behind one installed script."""
