"""The naive baseline the benchmark compares the service with: the same model, eager PyTorch, a minimal handler.

A ``http.server`` that decodes the posted image with Pillow, preprocesses it with the same function,
and runs the *eager* model rebuilt from the artifact's weights: what a first prototype would do.
Run as ``python bench/naive_server.py PORT MODEL``.
"""

from __future__ import annotations

import io
import json
import logging
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import torch
from PIL import Image

from mlcore import artifact
from mlcore.preprocessing import PreprocessSpec, grayscale_from_pil, preprocess
from training.fit.models import build_model

log = logging.getLogger("naive_server")


def main() -> int:
    port, model_path = int(sys.argv[1]), Path(sys.argv[2])
    loaded = artifact.load(model_path)
    manifest = loaded.manifest
    model = build_model(
        manifest["architecture"]["name"],
        len(manifest["classes"]),
        manifest["architecture"]["width"],
        manifest["architecture"]["dropout"],
    )
    model.load_state_dict(loaded.module.state_dict())
    model.eval()
    spec = PreprocessSpec.from_manifest(manifest)
    classes = manifest["classes"]

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # readiness: the model is loaded before the server listens
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            gray = grayscale_from_pil(Image.open(io.BytesIO(body)))
            with torch.no_grad():
                probs = torch.softmax(model(preprocess(gray, spec)), 1)[0].tolist()
            answer = json.dumps(dict(zip(classes, probs, strict=True))).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
