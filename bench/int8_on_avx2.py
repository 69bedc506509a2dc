"""The int8 check of each quantization scheme on the shipped model, on an AVX2-only CPU — emulated where there is none.

    qemu-x86_64 -cpu Haswell-v4 .venv/bin/python bench/int8_on_avx2.py u8s8 u8s8-reduce-range

Under qemu-user the program sees Haswell's CPUID (AVX2, no AVX-512, no VNNI), so ONNX Runtime picks its AVX2 int8
kernels; /proc/cpuinfo (what the log line names) still describes the host. Minutes, not seconds: emulated.
"""

import logging
import sys
import time

from mlcore import artifact
from mlcore.onnx_forward import int8_forward_for

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    model = artifact.load("models/brainxai-cnn.pt")
    for scheme in sys.argv[1:]:
        started = time.time()
        forward = int8_forward_for(model, scheme=scheme)
        checked = None if forward is None else forward.check
        logging.getLogger("bench").info("%s -> %s (%.0f s)", scheme, checked, time.time() - started)
