"""PACS peers for the bridge's tests: a real Orthanc started on loopback, and a scripted fake for failures."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

ORTHANC = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


def orthanc_missing() -> str | None:
    """Why Orthanc cannot run here, or None when it can."""
    if not Path(ORTHANC).is_file():
        return "Orthanc is not installed (Debian packages orthanc and orthanc-dicomweb; `make system-deps` as root)"
    if not DICOMWEB_PLUGIN.is_file():
        return "Orthanc's DICOMweb plugin is not installed (Debian package orthanc-dicomweb)"
    return None


class OrthancServer:
    """A throw-away Orthanc with DICOMweb on loopback ports, its storage in ``folder``."""

    def __init__(
        self,
        folder: Path,
        http_port: int,
        dicom_port: int,
        users: dict[str, str] | None = None,
        modalities: dict[str, list[str | int]] | None = None,
    ) -> None:
        """``users``: HTTP basic users and passwords; with them, Orthanc refuses anonymous requests.
        ``modalities``: DICOM peers it may send to (name → [AE title, host, port]); its own AE title is ORTHANC."""
        self.dicom_port = dicom_port
        self.http_port = http_port
        self.auth = next(iter(users.items())) if users else None
        config = {
            "Name": "brainxai-test",
            "HttpPort": http_port,
            "DicomPort": dicom_port,
            "StorageDirectory": str(folder / "storage"),
            "IndexDirectory": str(folder / "storage"),
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": bool(users),
            "RegisteredUsers": users or {},
            "Plugins": [str(DICOMWEB_PLUGIN)],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            "DicomAet": "ORTHANC",
            "DicomModalities": modalities or {},
        }
        self.config_path = folder / "orthanc.json"
        self.config_path.write_text(json.dumps(config))
        self.log = open(folder / "orthanc.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.url}/dicom-web"

    def start(self) -> OrthancServer:
        self.process = subprocess.Popen([ORTHANC, str(self.config_path)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited with {self.process.returncode}; see {self.log.name}")
            try:
                if httpx.get(f"{self.url}/system", timeout=1, auth=self.auth).is_success:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"Orthanc did not answer in 30 s; see {self.log.name}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


class FakePacs:
    """A DICOMweb server that serves one instance and then misbehaves as told.

    ``delay_s`` delays every answer; ``refuse_store_after`` accepts that many STOW-RS requests
    and answers the next ones with 403.
    """

    def __init__(self, instance: bytes, delay_s: float = 0.0, refuse_store_after: int | None = None) -> None:
        self.instance = instance
        self.delay_s = delay_s
        self.refuse_store_after = refuse_store_after
        self.stored: list[bytes] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                time.sleep(fake.delay_s)
                boundary = "brainxai-boundary"
                body = (
                    f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
                    + fake.instance
                    + f"\r\n--{boundary}--\r\n".encode()
                )
                self.send_response(200)
                self.send_header("Content-Type", f'multipart/related; type="application/dicom"; boundary={boundary}')
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                time.sleep(fake.delay_s)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if fake.refuse_store_after is not None and len(fake.stored) >= fake.refuse_store_after:
                    self.send_response(403)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                fake.stored.append(body)
                answer = b"{}"
                self.send_response(200)
                self.send_header("Content-Type", "application/dicom+json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/dicom-web"

    def __enter__(self) -> FakePacs:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
