"""Small wheels written by hand and a PEP 503 simple index serving them on 127.0.0.1.

Used by the `--resolve` tests: the real resolver runs against this index and nothing else.
"""
from __future__ import annotations

import base64
import hashlib
import html
import http.server
import os
import threading
import zipfile
from dataclasses import dataclass

from packaging.utils import canonicalize_name


@dataclass
class Dist:
    name: str
    version: str
    modules: tuple[str, ...] = ()  # top-level packages the wheel ships
    requires: tuple[str, ...] = ()  # Requires-Dist lines
    requires_python: str | None = None
    top_level_txt: bool = True  # False: the modules are found from RECORD only

    @property
    def filename(self) -> str:
        return f"{self.name.replace('-', '_')}-{self.version}-py3-none-any.whl"


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(dist: Dist, folder: str) -> str:
    """Write the wheel zip: METADATA, WHEEL, top_level.txt, RECORD and one module per package."""
    stem = dist.name.replace("-", "_")
    info = f"{stem}-{dist.version}.dist-info"
    metadata = ["Metadata-Version: 2.1", f"Name: {dist.name}", f"Version: {dist.version}"]
    if dist.requires_python:
        metadata.append(f"Requires-Python: {dist.requires_python}")
    metadata += [f"Requires-Dist: {r}" for r in dist.requires]
    files: dict[str, bytes] = {}
    for module in dist.modules:
        files[f"{module}/__init__.py"] = f"NAME = {module!r}\n".encode()
    files[f"{info}/METADATA"] = ("\n".join(metadata) + "\n").encode()
    files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    if dist.top_level_txt:
        files[f"{info}/top_level.txt"] = "".join(f"{m}\n" for m in dist.modules).encode()
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in files.items())
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    path = os.path.join(folder, dist.filename)
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return path


class SimpleIndex:
    """`http://127.0.0.1:PORT/simple/` for the given distributions; `requests` records every path asked."""

    def __init__(self, folder: str, dists: list[Dist]):
        self.folder = folder
        self.dists = dists
        self.requests: list[str] = []
        self.wheels = {d.filename: build_wheel(d, folder) for d in dists}
        index = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_HEAD(self):  # noqa: N802 - the http.server API
                self.do_GET(head=True)

            def do_GET(self, head: bool = False):  # noqa: N802
                index.requests.append(self.path)
                body, kind = index.answer(self.path.split("?", 1)[0])
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/simple/"

    def answer(self, path: str) -> tuple[bytes | None, str]:
        if path.startswith("/files/"):
            wheel = self.wheels.get(path[len("/files/"):])
            if wheel is None:
                return None, ""
            with open(wheel, "rb") as f:
                return f.read(), "application/octet-stream"
        if path in ("/simple/", "/simple"):
            names = sorted({canonicalize_name(d.name) for d in self.dists})
            links = "".join(f'<a href="{n}/">{n}</a>\n' for n in names)
            return f"<!DOCTYPE html><html><body>{links}</body></html>".encode(), "text/html"
        if path.startswith("/simple/"):
            project = canonicalize_name(path[len("/simple/"):].strip("/"))
            found = [d for d in self.dists if canonicalize_name(d.name) == project]
            if not found:
                return None, ""
            links = []
            for d in found:
                with open(self.wheels[d.filename], "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
                python = f' data-requires-python="{html.escape(d.requires_python)}"' if d.requires_python else ""
                links.append(f'<a href="../../files/{d.filename}#sha256={digest}"{python}>{d.filename}</a>\n')
            return f"<!DOCTYPE html><html><body>{''.join(links)}</body></html>".encode(), "text/html"
        return None, ""

    def __enter__(self) -> "SimpleIndex":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def isolated_env(cache: str) -> dict[str, str]:
    """An environment in which neither uv nor pip reads this machine's configuration or indexes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update({"UV_NO_CONFIG": "1", "PIP_CONFIG_FILE": os.devnull, "UV_CACHE_DIR": os.path.join(cache, "uv"),
                "PIP_NO_INPUT": "1", "UV_PYTHON_DOWNLOADS": "never"})
    return env


STANDARD = [
    Dist("scikit-learn", "1.3.2", modules=("sklearn",), requires=("joblib>=1.1",)),
    Dist("joblib", "1.3.2", modules=("joblib",)),
    Dist("PyYAML", "6.0.1", modules=("yaml", "_yaml"), top_level_txt=False),
    Dist("newpy", "2.0.0", modules=("newpy",), requires_python=">=3.12"),
    Dist("numpy", "1.26.3", modules=("numpy",)),
    Dist("numpy", "1.26.4", modules=("numpy",)),
    Dist("azureml-inference-server-http", "1.3.0", modules=("azureml_inference_server_http",)),
]
