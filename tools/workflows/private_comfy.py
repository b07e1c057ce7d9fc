"""A private, throw-away ComfyUI server with this pack, for the tools in this folder.

Runs the shared ComfyUI checkout (COMFY_DIR, its venv COMFY_VENV) with `--base-directory` in a temporary
folder that holds links to this pack, the given models and input files, so the shared checkout is
never changed and a comfy_check.py run on it is not disturbed. Stopped (by its own process group) and
removed on exit.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

PACK = Path(__file__).resolve().parents[2]
PACK_NAME = "acestep-v1"
COMFY_DIR = Path(os.environ.get("COMFY_DIR", "/tmp/comfyui"))
COMFY_VENV = Path(os.environ.get("COMFY_VENV", "/tmp/comfy-venv"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SETTINGS = {"Comfy.TutorialCompleted": True, "Comfy.Notification.ShowVersionUpdates": False,
            "Comfy.Minimap.Visible": False}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _link(dst: Path, src: str) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(os.path.abspath(src), dst)


@dataclasses.dataclass(frozen=True)
class Server:
    url: str
    base: Path
    pid: int


@contextlib.contextmanager
def private_comfy(models: list[str] = (), inputs: list[str] = (), timeout: float = 300, packs: list[str] = (),
                  port: int | None = None):
    """Yields a Server (url, base folder, pid). models: "FOLDER/NAME:PATH" as comfy_check.py's --model;
    packs: folders of other custom node packs (e.g. an unpacked ComfyUI-Distributed), linked under their names;
    port: a fixed port (default: a free one)."""
    base = Path(tempfile.mkdtemp(prefix="acestep-comfy-"))
    _link(base / "custom_nodes" / PACK_NAME, str(PACK))
    for path in packs:
        _link(base / "custom_nodes" / Path(path).resolve().name, path)
    for spec in models:
        folder, _, path = spec.partition(":")
        _link(base / "models" / folder, path)
    for path in inputs:
        _link(base / "input" / Path(path).name, path)
    settings = base / "user" / "default" / "comfy.settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps(SETTINGS))
    port = port or _free_port()
    log = open(base / "comfyui.log", "w")
    proc = subprocess.Popen([str(COMFY_VENV / "bin/python"), "main.py", "--cpu", "--listen", "127.0.0.1", "--port",
                             str(port), "--base-directory", str(base), "--disable-auto-launch"],
                            cwd=COMFY_DIR, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        t0 = time.time()
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"ComfyUI exited while starting; log: {base / 'comfyui.log'}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/system_stats", timeout=5)
                break
            except OSError:
                if time.time() - t0 > timeout:
                    raise RuntimeError("ComfyUI did not start") from None
                time.sleep(0.5)
        yield Server(f"http://127.0.0.1:{port}", base, proc.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        shutil.rmtree(base, ignore_errors=True)  # links only: their targets stay


def open_frontend(playwright, url: str, viewport=(1600, 1000)):
    """(browser, page, console) with the frontend loaded; console collects errors and warnings."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    console = []
    page.on("console", lambda m: console.append({"type": m.type, "text": m.text, "url": (m.location or {}).get("url", "")}))
    page.on("pageerror", lambda e: console.append({"type": "pageerror", "text": str(e), "url": ""}))
    page.goto(url + "/", wait_until="domcontentloaded", timeout=120000)
    page.wait_for_function("() => window.app && window.app.graph && window.app.canvas", timeout=180000)
    page.wait_for_timeout(2000)
    return browser, page, console
